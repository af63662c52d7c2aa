"""MDX/Markdown clean-up for indexing: what a reader sees on the page, as plain markdown.

Kept: prose, lists, tables, blockquotes, fenced code (whole, with its language; a
``title="..."`` metastring becomes a ``File: ...`` line before the fence), admonitions (as a
``Tip: Title`` line followed by their body), the text inside JSX/HTML wrapper tags (and a
wrapper's ``title`` attribute, e.g. ``<DetailedExplanation title="Why">``).

Dropped: MDX ``import``/``export`` blocks, HTML ``<!-- -->`` and MDX ``{/* */}`` comments, tags
themselves, self-closing components (``<ChapterActions />``), ``<iframe>``/``<script>``/
``<style>`` elements with their content, and Docusaurus magic comments in code
(``// highlight-start`` ...). Nothing inside code fences or inline code spans is touched, except
those magic-comment lines.

The line classifier here (fences, comments) is shared with the heading scanner, so that what is
code or a comment for one is the same for the other.
"""

from __future__ import annotations

import re
from enum import Enum

# Blockquote markers and list-item markers before a block (``> ``, ``- ``, ``1. ``).
CONTAINER = r"(?:[ \t]*(?:>[ \t]?|(?:[-*+]|\d{1,9}[.)])[ \t]+))*[ \t]*"
_FENCE_OPEN = re.compile(
    rf"^(?P<prefix>{CONTAINER})(?P<fence>`{{3,}}(?=[^`]*$)|~{{3,}})(?P<info>.*)$"
)
_FENCE_CLOSE = re.compile(rf"^{CONTAINER}(?P<fence>`{{3,}}|~{{3,}})[ \t]*$")
_COMMENT_OPEN = re.compile(r"<!--|\{/\*")
_ESM = re.compile(
    r"^(?:import|export)"
    r"(?:\s+(?:type\s+)?(?:[\w*{},\s]+\s+from\s+)?['\"]"  # import 'x', import a from 'x'
    r"|\s*\{"  # import { a } ..., export { a }
    r"|\s+(?:type|default|const|let|var|function|async|class)\b"
    r"|\s+(?:\*|[\w$]+\s*(?:,|\s+from\b)))"  # import * as a, import a, { b }, import a from
)
_MAGIC_COMMENT = re.compile(
    r"^\s*(?://|#|/\*|<!--|\{/\*|%|--)\s*highlight-(?:next-line|start|end)\b.*$"
)
_TITLE_META = re.compile(r"""\btitle=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>\S+))""")
_ADMONITION_OPEN = re.compile(
    r"^(?P<prefix>[ \t]*(?:>[ \t]?)*[ \t]*):{3,}(?P<kind>[A-Za-z]\w*)"
    r"(?:\[(?P<label>[^\]]*)\]|[ \t]+(?P<title>.*?))?(?:\{[^}]*\})?[ \t]*$"
)
_ADMONITION_CLOSE = re.compile(r"^[ \t]*(?:>[ \t]?)*[ \t]*:{3,}[ \t]*$")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_COMMENT = re.compile(r"<!--.*?-->|\{/\*.*?\*/\}", re.DOTALL)
_BRACES = r"\{(?:[^{}]|\{[^{}]*\})*\}"  # a JSX expression, two levels deep
_ATTR_VALUE = rf"""(?:"[^"]*"|'[^']*'|{_BRACES}|[^\s"'=<>`{{}}]+)"""
# Attributes are separated by white space, or by nothing after a quoted value (`a="x"b="y"`).
_ATTRS = rf"""(?:(?:\s+|(?<=["'}}]))(?:[^\s"'{{}}<>/=]+(?:\s*=\s*{_ATTR_VALUE})?|{_BRACES}))*"""
_TAG_NAME = r"[A-Za-z][\w.-]*(?::[\w.-]+)?"
_DROPPED_ELEMENT = re.compile(
    rf"<(?P<name>iframe|script|style)\b{_ATTRS}\s*(?:/>|>.*?</(?P=name)\s*>)",
    re.DOTALL | re.IGNORECASE,
)
_SELF_CLOSING = re.compile(rf"<{_TAG_NAME}{_ATTRS}\s*/>")
_VOID = re.compile(rf"<(?:br|hr|img|input|wbr|source|embed)\b{_ATTRS}\s*/?>", re.IGNORECASE)
_OPEN_TAG = re.compile(rf"<(?P<name>{_TAG_NAME})(?P<attrs>{_ATTRS})\s*>")
_CLOSE_TAG = re.compile(rf"</{_TAG_NAME}\s*>|</?>")
_TITLE_ATTR = re.compile(
    r"""\btitle\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|\{\s*(?P<q>["'`])(?P<js>.*?)(?P=q)\s*\})"""
)
_PLACEHOLDER = "\x00{}\x00"
_PLACEHOLDER_RE = re.compile("\x00(\\d+)\x00")


class LineKind(Enum):
    """What a line is, for the heading scanner and the clean-up."""

    TEXT = "text"
    FENCE = "fence"  # an opening or closing code fence
    CODE = "code"  # inside a code fence
    COMMENT = "comment"  # inside (or opening/closing) a multi-line comment
    UNWRAP = "unwrap"  # the fence lines of an ```mdx-code-block (its content is MDX)


def fence_language(info: str) -> str:
    """The language word of a fence's info string (``"ts title=x"`` -> ``"ts"``)."""
    words = info.strip().split(maxsplit=1)
    return words[0].split("{", 1)[0] if words else ""


def classify_lines(lines: list[str]) -> list[LineKind]:
    """Label each line as text, code fence, code, or multi-line comment.

    Comments are only recognised outside code; a comment that opens and closes on the same
    line leaves the line as text.
    """
    kinds: list[LineKind] = []
    fence: str | None = None
    unwrap: list[str] = []
    comment_end: str | None = None
    for line in lines:
        if fence is not None:
            close = _FENCE_CLOSE.match(line)
            if close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence):
                fence = None
                kinds.append(LineKind.FENCE)
            else:
                kinds.append(LineKind.CODE)
            continue
        if comment_end is not None:
            kinds.append(LineKind.COMMENT)
            if comment_end in line:
                comment_end = None
            continue
        close = _FENCE_CLOSE.match(line)
        if unwrap and close and close["fence"] == unwrap[-1]:
            unwrap.pop()
            kinds.append(LineKind.UNWRAP)
            continue
        opened = _FENCE_OPEN.match(line)
        if opened:
            if fence_language(opened["info"]) == "mdx-code-block":
                unwrap.append(opened["fence"])
                kinds.append(LineKind.UNWRAP)
            else:
                fence = opened["fence"]
                kinds.append(LineKind.FENCE)
            continue
        kinds.append(LineKind.TEXT)
        comment_end = _open_comment_end(_CODE_SPAN.sub("", line))
        if comment_end is not None:
            kinds[-1] = LineKind.COMMENT
    return kinds


def _open_comment_end(line: str) -> str | None:
    """The closing token of a comment left open at the end of ``line``, if any."""
    rest = _COMMENT.sub("", line)
    opened = _COMMENT_OPEN.search(rest)
    if opened is None:
        return None
    return "-->" if opened.group() == "<!--" else "*/}"


def clean_markdown(text: str) -> str:
    """Turn one section of a Docusaurus page into clean markdown for indexing.

    Args:
        text: Raw markdown/MDX (front matter already removed).

    Returns:
        The cleaned text: prose cleaned with runs of blank lines collapsed, code kept verbatim,
        no leading or trailing blank lines.
    """
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []
    for line, kind in zip(lines, classify_lines(lines), strict=True):
        if kind in (LineKind.TEXT, LineKind.COMMENT):
            prose.append(line)
            continue
        if prose:
            out.extend(_tidy(clean_prose("\n".join(prose))))
            prose = []
        if kind is LineKind.CODE:
            if not _MAGIC_COMMENT.match(line):
                out.append(line)
        elif kind is LineKind.FENCE:
            out.extend(_clean_fence_line(line))
    if prose:
        out.extend(_tidy(clean_prose("\n".join(prose))))
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)


def _clean_fence_line(line: str) -> list[str]:
    opened = _FENCE_OPEN.match(line)
    if opened is None or not opened["info"].strip():
        return [line.rstrip()]
    prefix, fence, info = opened["prefix"], opened["fence"], opened["info"]
    fence_line = f"{prefix}{fence}{fence_language(info)}"
    title = _TITLE_META.search(info)
    if title is None:
        return [fence_line]
    name = title["dq"] if title["dq"] is not None else title["sq"] or title["bare"]
    return [f"{prefix}File: {name}", fence_line]


def clean_prose(text: str) -> str:
    """Clean markdown outside code fences (inline code spans are left untouched)."""
    spans: list[str] = []

    def protect(match: re.Match[str]) -> str:
        spans.append(match.group())
        return _PLACEHOLDER.format(len(spans) - 1)

    text = _CODE_SPAN.sub(protect, text)
    text = _COMMENT.sub("", text)
    text = _drop_esm(text)
    text = _DROPPED_ELEMENT.sub("", text)
    text = _VOID.sub(" ", text)
    text = _SELF_CLOSING.sub("", text)
    text = _OPEN_TAG.sub(_open_tag_text, text)
    text = _CLOSE_TAG.sub("", text)
    text = "\n".join(_admonition_line(line) for line in text.split("\n"))
    return _PLACEHOLDER_RE.sub(lambda match: spans[int(match.group(1))], text)


def _open_tag_text(match: re.Match[str]) -> str:
    title = _TITLE_ATTR.search(match["attrs"])
    if title is None:
        return ""
    value = next(group for group in (title["dq"], title["sq"], title["js"]) if group is not None)
    return value.strip()


def _drop_esm(text: str) -> str:
    """Drop MDX ``import``/``export`` blocks: from such a line up to the next blank line."""
    kept: list[str] = []
    in_esm = False
    for line in text.split("\n"):
        if in_esm and not line.strip():
            in_esm = False
        elif not in_esm and _ESM.match(line):
            in_esm = True
        if not in_esm:
            kept.append(line)
    return "\n".join(kept)


def _admonition_line(line: str) -> str:
    if _ADMONITION_CLOSE.match(line):
        return ""
    opened = _ADMONITION_OPEN.match(line)
    if opened is None:
        return line
    title = (opened["label"] if opened["label"] is not None else opened["title"] or "").strip()
    kind = opened["kind"].capitalize()
    return f"{opened['prefix']}{kind}: {title}".rstrip()


def _tidy(text: str) -> list[str]:
    """Strip trailing spaces and collapse runs of blank lines (one blank line is kept)."""
    out: list[str] = []
    for raw in text.split("\n"):
        line = raw.rstrip()
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return out
