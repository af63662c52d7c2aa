"""Heading anchors exactly as Docusaurus 3 makes them: a port of github-slugger 1.5.

Docusaurus slugs the plain text of each heading with one ``GithubSlugger`` per page
(``@docusaurus/utils`` ``createSlugger``): lower-case it, drop every character that is not a
letter, mark, decimal/letter number, connector punctuation, space or hyphen, turn each space
into ``-``, and suffix repeats with ``-1``, ``-2``...

github-slugger's character class was generated from Unicode 13 data; Python's ``unicodedata``
(Unicode 14 on Python 3.11) agrees with it on every character assigned by Unicode 13, and the
few symbols that github-slugger keeps because they are alphabetic (circled and squared Latin
letters, category So) are listed explicitly.
"""

from __future__ import annotations

import unicodedata

_KEPT_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "Pc"})
# Symbols (So) with the Unicode "Alphabetic" property, which github-slugger keeps.
_KEPT_RANGES = ((0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189))


def _is_kept(char: str) -> bool:
    if char in " -":
        return True
    if unicodedata.category(char) in _KEPT_CATEGORIES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _KEPT_RANGES)


def slugify(value: str, *, maintain_case: bool = False) -> str:
    """Slug one text the way github-slugger does, without de-duplication.

    Args:
        value: The heading's plain text.
        maintain_case: Keep the case (Docusaurus' ``anchorsMaintainCase``); lower-case otherwise.

    Returns:
        The slug, e.g. ``"C++ & C#"`` -> ``"c--c"``.
    """
    if not maintain_case:
        value = value.lower()
    return "".join(char for char in value if _is_kept(char)).replace(" ", "-")


class GithubSlugger:
    """A stateful slugger: one per page, so that repeated headings get unique anchors."""

    def __init__(self) -> None:
        self._occurrences: dict[str, int] = {}

    def slug(self, value: str, *, maintain_case: bool = False) -> str:
        """Return a slug for ``value`` that is unique among the slugs issued so far.

        The second ``Overview`` becomes ``overview-1``; a later literal ``Overview-1`` then
        becomes ``overview-1-1``, as in github-slugger.
        """
        original = slugify(value, maintain_case=maintain_case)
        slug = original
        while slug in self._occurrences:
            self._occurrences[original] += 1
            slug = f"{original}-{self._occurrences[original]}"
        self._occurrences[slug] = 0
        return slug
