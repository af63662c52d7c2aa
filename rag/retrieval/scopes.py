"""The reader's doc version and locale: checked against what the index holds, and its filter.

An index lists its versions and locales in its metadata (``rag.retrieval.vector_store.SCOPES_KEY``);
each chunk carries ``version`` and ``locale`` payload fields. An index built before versions
were recorded holds one unnamed scope (``current``, ``en``). An index of one version in one
locale (a lone docs folder) is searched unfiltered too: every chunk is in scope, and Qdrant's
local mode evaluates a filter point by point (about 1.8x the time of a hybrid query).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from qdrant_client import models

CURRENT_VERSION = "current"
_LEGACY = {
    "versions": [CURRENT_VERSION],
    "locales": ["en"],
    "default_version": CURRENT_VERSION,
    "default_locale": "en",
}


class UnknownScopeError(ValueError):
    """The reader asked for a version or locale the index does not hold.

    Attributes:
        field: ``"version"`` or ``"locale"``.
        value: What was asked for.
        known: What the index holds.
    """

    def __init__(self, field: Literal["version", "locale"], value: str, known: list[str]) -> None:
        super().__init__(
            f"Unknown {field} {value!r}: this book has {field}s {', '.join(known) or 'none'}."
        )
        self.field, self.value, self.known = field, value, known


@dataclass(frozen=True)
class BookScope:
    """Which doc version and locale a question is answered from.

    Attributes:
        version: ``"current"`` or a name from the site's ``versions.json``.
        locale: A locale code of the site, e.g. ``"fr"``.
        filtered: False when the whole index is the scope (searched without a filter).
    """

    version: str = CURRENT_VERSION
    locale: str = "en"
    filtered: bool = True

    def query_filter(self) -> models.Filter | None:
        """The Qdrant filter of the scope's chunks (None: the whole index)."""
        if not self.filtered:
            return None
        return models.Filter(
            must=[
                models.FieldCondition(key="version", match=models.MatchValue(value=self.version)),
                models.FieldCondition(key="locale", match=models.MatchValue(value=self.locale)),
            ]
        )


def resolve_scope(
    described: Mapping[str, Any] | None, version: str | None, locale: str | None
) -> BookScope:
    """The scope a request asks for, defaults filled in from the index's description.

    Args:
        described: The index's ``scopes`` metadata; None for an index that has none.
        version: The requested version, or None for the index's default.
        locale: The requested locale, or None for the index's default.

    Raises:
        UnknownScopeError: The version or locale is not in the index.
    """
    info = described if described else _LEGACY
    versions = [str(v) for v in info.get("versions", [])]
    locales = [str(code) for code in info.get("locales", [])]
    chosen_version = version if version is not None else str(info.get("default_version"))
    chosen_locale = locale if locale is not None else str(info.get("default_locale"))
    if chosen_version not in versions:
        raise UnknownScopeError("version", chosen_version, versions)
    if chosen_locale not in locales:
        raise UnknownScopeError("locale", chosen_locale, locales)
    several = len(versions) > 1 or len(locales) > 1
    return BookScope(
        version=chosen_version, locale=chosen_locale, filtered=bool(described) and several
    )
