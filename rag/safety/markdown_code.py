"""Code in an answer: fenced code blocks and inline code spans, kept as written.

A Markdown renderer shows code as text, so it cannot act; only the query strings of URLs to other
hosts go (``CODE_QUERY_REMOVED``), where an exfiltration payload puts its data.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from rag.safety.links import safe_link_target
from rag.safety.placeholders import Held

FENCE_OPEN_RE = re.compile(r"^(?P<fence>`{3,}(?=[^`]*$)|~{3,})")
CODE_QUERY_REMOVED = "(removed)"
_CODE_URL_RE = re.compile(r"(?i)\b(?:https?|ftp)://[^\s\"'<>()\[\]`]+")


def fenced_segments(text: str, *, at_line_start: bool) -> list[tuple[bool, str]]:
    """Split into fenced code blocks and the prose between them.

    Only fences at the very start of a line count: an indented fence may belong to a list item
    or quote whose end would also end the code, and text after it would then be live Markdown.
    An unclosed fence runs to the end, as in CommonMark.
    """
    segments: list[tuple[bool, str]] = []
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(keepends=True)):
        if fence is None:
            match = FENCE_OPEN_RE.match(line) if (number or at_line_start) else None
            if match:
                if prose:
                    segments.append((False, "".join(prose)))
                    prose = []
                fence = match.group("fence")
                code.append(line)
            else:
                prose.append(line)
        else:
            code.append(line)
            stripped = line.strip()
            indent = len(line) - len(line.lstrip(" "))
            if (
                indent <= 3
                and stripped
                and set(stripped) == {fence[0]}
                and len(stripped) >= len(fence)
            ):
                segments.append((True, "".join(code)))
                code, fence = [], None
    if code:
        segments.append((True, "".join(code)))
    if prose:
        segments.append((False, "".join(prose)))
    return segments


def code_queries(code: str, hosts: Collection[str]) -> str:
    """Code with the query strings of URLs to other hosts removed.

    Code is shown as text, so a URL in it is never fetched; its query string (where an
    exfiltration payload puts the data) goes anyway, and the rest of the code stays verbatim.
    """

    def strip(match: re.Match[str]) -> str:
        url = match.group(0)
        if not url.partition("?")[2] or safe_link_target(url, hosts) is not None:
            return url
        return url.split("?", 1)[0] + "?" + CODE_QUERY_REMOVED

    return _CODE_URL_RE.sub(strip, code)


def hold_code_spans(text: str, held: Held, hosts: Collection[str]) -> str:
    """Replace code spans by placeholders; backticks left over become quotes.

    Spans are paired as CommonMark pairs them, but only within one line and never across a
    ``|``: a renderer may see a line break or a table cell boundary there and leave both
    backticks literal, which would make the text between them live Markdown. A span not paired
    here loses its backticks and is cleaned like the prose around it.
    """
    lines = text.splitlines(keepends=True)
    return "".join(_hold_line_code_spans(line, held, hosts) for line in lines)


def _hold_line_code_spans(line: str, held: Held, hosts: Collection[str]) -> str:
    out: list[str] = []
    position = 0
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", line)]
    i = 0
    while i < len(runs):
        start, end = runs[i]
        length = end - start
        closer = next(
            (j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == length), None
        )
        if closer is None or "|" in line[end : runs[closer][0]]:
            out.append(line[position:start] + "'" * length)
            position = end
            i += 1
            continue
        out.append(line[position:start])
        out.append(held.hold(code_queries(line[start : runs[closer][1]], hosts)))
        position = runs[closer][1]
        i = closer + 1
    out.append(line[position:])
    return "".join(out)
