"""Which links an answer may keep: the book's hosts, safe link targets, defanged outside hosts.

Also the parsing of an inline link's brackets and destination (``[text](target "title")``), so
the sanitizers see a target exactly where a Markdown renderer would.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from html import unescape
from urllib.parse import quote, urlsplit

LINK_REMOVED = "(link removed)"
SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_ESCAPABLE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_URL_SAFE = "/#?&=%:@!$'*+,;~-._"
_TITLE_END_RE = re.compile(
    r"""\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\((?:[^)\\]|\\.)*\))?\s*\)"""
)


def normalise_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    """Host names from settings entries, which may be given as URLs (``https://book.org/``).

    A leading ``*.`` allows every subdomain of the rest (``*.example.org``).
    """
    found: list[str] = []
    for entry in hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        if "//" in entry:
            entry = urlsplit(entry).hostname or ""
        entry = entry.split("/", 1)[0].split(":", 1)[0].rstrip(".")
        if entry:
            found.append(entry)
    return tuple(found)


def host_allowed(host: str | None, hosts: Collection[str]) -> bool:
    """True when ``host`` is one of ``hosts`` (entries normalised by ``normalise_hosts``)."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    for allowed in hosts:
        if allowed.startswith("*."):
            if host == allowed[2:] or host.endswith(allowed[1:]):
                return True
        elif host == allowed:
            return True
    return False


def safe_link_target(target: str, hosts: Collection[str]) -> str | None:
    """The link target rebuilt safely, or None when a link there is not allowed.

    Allowed: relative targets (a path, ``#anchor``, ``?query``) and ``http(s)`` URLs on one of
    ``hosts``. Character references and backslash escapes are decoded first, as a Markdown
    renderer would, and whitespace and control characters removed, as a browser would.
    """
    decoded = _ESCAPABLE_RE.sub(r"\1", unescape(target))
    # browsers drop tabs and line breaks anywhere in a URL, and controls and spaces at its ends
    decoded = re.sub(r"[\t\n\r]", "", decoded).strip("".join(map(chr, range(0x21))))
    if not decoded or "\\" in decoded or re.search(r"[\x00-\x1f\x7f-\x9f\ue000-\uf8ff]", decoded):
        return None
    if decoded.startswith("//"):
        return None
    scheme = SCHEME_RE.match(decoded)
    if scheme is None:
        return quote(decoded, safe=_URL_SAFE)
    if scheme.group(1).lower() not in ("http", "https"):
        return None
    try:
        parts = urlsplit(decoded)
        host = parts.hostname
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if not host_allowed(host, hosts):
        return None
    return quote(decoded, safe=_URL_SAFE)


def defang_host(url: str) -> str:
    """The host of ``url`` with its dots bracketed (``evil[.]example``), or ``(link removed)``."""
    candidate = url if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", url) else f"http://{url}"
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        host = None
    if not host:
        return LINK_REMOVED
    host = re.sub(r"[^a-z0-9.-]", "", host.lower())
    return host.replace(".", "[.]") if host else LINK_REMOVED


def matching_bracket(text: str, start: int) -> int | None:
    """Index of the ``]`` closing the ``[`` at ``start`` (nesting and escapes respected)."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def link_destination(text: str, start: int) -> tuple[str, int] | None:
    """The target of an inline link whose ``(`` is at ``start``, and the index after its ``)``."""
    i = start + 1
    while i < len(text) and text[i] in " \t\n":
        i += 1
    if i < len(text) and text[i] == "<":
        close = text.find(">", i + 1)
        if close < 0 or "\n" in text[i:close]:
            return None
        target, i = text[i + 1 : close], close + 1
    else:
        depth, begin = 0, i
        while i < len(text):
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char in " \t\n" or (char == ")" and depth == 0):
                break
            depth += char == "("
            depth -= char == ")"
            i += 1
        target = text[begin:i]
    end = _TITLE_END_RE.match(text, i)  # an optional title, then the closing parenthesis
    if end is None:
        return None
    return target, end.end()
