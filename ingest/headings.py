"""Headings of a Docusaurus page and the anchors (``id``) Docusaurus gives them.

Docusaurus' ``headings`` remark plugin visits every heading of the page in document order (the
h1 too, though the theme renders h1 without an ``id``), takes the heading's plain text (inline
code keeps its text, emphasis and links keep theirs, image alt text is kept, HTML/JSX tags and
comments are dropped) and slugs it with one github-slugger per page. An explicit id,
``## Title {#my-id}`` or, in ``.mdx``, ``## Title {/* #my-id */}``, is used verbatim and is
*not* registered with the slugger: a later heading slugged to the same text gets the same id.

Recognised: ATX headings (also inside blockquotes and list items; in ``.mdx`` at any
indentation, since MDX has no indented code), setext headings (``===``/``---`` under a
paragraph); not headings: lines in code fences, comments, or (``.md``) raw HTML blocks.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from ingest.mdx import CONTAINER, LineKind, classify_lines
from ingest.slugger import GithubSlugger

_MD_PREFIX = r"(?:[ \t]{0,3}(?:>[ \t]?|(?:[-*+]|\d{1,9}[.)])[ \t]+))*[ ]{0,3}"
_ATX_TAIL = r"(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$"
_ATX_MD = re.compile(rf"^{_MD_PREFIX}{_ATX_TAIL}")
_ATX_MDX = re.compile(rf"^{CONTAINER}{_ATX_TAIL}")
_SETEXT = re.compile(r"^ {0,3}(?P<rule>=+|-+)[ \t]*$")
_LIST_OR_QUOTE = re.compile(r"^[ \t]*(?:>|(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$))")
_TABLE_DELIMITER = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|(?:-[ \t]*){3,})$")
_BLOCK_TAGS = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|"
    "dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|"
    "header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|"
    "param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul"
)
# CommonMark HTML blocks that may interrupt a paragraph (types 1-6), and any lone tag (type 7).
_HTML_BLOCK = re.compile(
    rf"^ {{0,3}}<(?:(?:script|pre|style|textarea)(?:\s|>|$)|!--|\?|![A-Za-z]|!\[CDATA\[|"
    rf"/?(?:{_BLOCK_TAGS})(?:\s|/?>|$))",
    re.IGNORECASE,
)
_LONE_TAG = re.compile(r"^ {0,3}</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>[ \t]*$")
_JSX_START = re.compile(r"^[ \t]*<[A-Za-z/>]")
_ADMONITION = re.compile(r"^[ \t]*:{3,}")

_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_IMAGE = re.compile(r"!\[([^\]]*)\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]*)\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^<>\s]*)>", re.IGNORECASE)
_TAG = re.compile(
    r"</?[A-Za-z][\w.:-]*(?:\s(?:[^<>\"'{}]|\"[^\"]*\"|'[^']*'|\{[^{}]*\})*)?/?>|</?>"
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_MDX_COMMENT = re.compile(r"\{/\*(.*?)\*/\}", re.DOTALL)
_MDX_COMMENT_ID = re.compile(r"\{/\*(?P<body>.*?)\*/\}[ \t]*$")
_STRONG_EMPHASIS = (
    re.compile(r"(?<![\w\\])(_{1,3})(?=\S)(.*?\S)\1(?!\w)"),
    re.compile(r"(\*{1,3})(?=\S)(.*?\S)\1"),
    re.compile(r"(~{1,2})(?=\S)(.*?\S)\1"),
)
_CLASSIC_ID = re.compile(r"\s*\{#(?P<id>(?:.(?!\{#|\}))*.)\}$")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


@dataclass(frozen=True)
class Heading:
    """One heading of a page.

    Attributes:
        level: 1 to 6.
        text: Its plain text as rendered (markup and an explicit id removed).
        anchor: The ``id`` Docusaurus gives it (an h1 is rendered without it).
        start: Index of its first line in the scanned lines.
        end: Index just after its last line (setext headings span several lines).
    """

    level: int
    text: str
    anchor: str
    start: int
    end: int


def heading_text(raw: str, *, mdx: bool) -> tuple[str, str | None]:
    """The plain text of a heading's inline content, and its explicit id if it has one.

    Args:
        raw: The heading content, e.g. ``"Using `useSelector` *well* {#use}"``.
        mdx: Whether the page is parsed as MDX (``.mdx``), which allows ``{/* #id */}``.

    Returns:
        ``(text, custom_id)``: e.g. ``("Using useSelector well", "use")``.
    """
    custom_id = None
    if mdx and (comment := _MDX_COMMENT_ID.search(raw)):
        first = comment["body"].strip().split(" ")[0]
        if first.startswith("#") and len(first) > 1:
            custom_id, raw = first[1:], raw[: comment.start()].rstrip()
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"\x00{len(kept) - 1}\x00"

    text = _HTML_COMMENT.sub("", raw)
    if mdx:
        text = _MDX_COMMENT.sub("", text)
    text = _CODE_SPAN.sub(lambda m: keep(_code_span_text(m.group(2))), text)
    text = _ESCAPE.sub(lambda m: keep(m.group(1)), text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(lambda m: keep(m.group(1)), text)
    text = _TAG.sub("", text)
    for pattern in _STRONG_EMPHASIS:
        previous = None
        while previous != text:
            previous, text = text, pattern.sub(r"\2", text)
    text = html.unescape(text)
    while _PLACEHOLDER.search(text):
        text = _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)
    if custom_id is None and (classic := _CLASSIC_ID.search(text)):
        custom_id, text = classic["id"].strip(), text[: classic.start()] + text[classic.end() :]
    return text, custom_id


def _code_span_text(content: str) -> str:
    content = content.replace("\n", " ")
    if content.startswith(" ") and content.endswith(" ") and content.strip():
        return content[1:-1]
    return content


def scan_headings(lines: list[str], *, mdx: bool) -> list[Heading]:
    """Find the headings of a page body and give each its Docusaurus anchor.

    Args:
        lines: The page body (front matter removed), one string per line.
        mdx: Whether the page is parsed as MDX (``.mdx``) rather than CommonMark (``.md``).

    Returns:
        The headings in document order.
    """
    slugger = GithubSlugger()
    headings: list[Heading] = []

    def add(level: int, raw: str, start: int, end: int) -> None:
        text, custom_id = heading_text(raw, mdx=mdx)
        anchor = custom_id if custom_id is not None else slugger.slug(text)
        headings.append(Heading(level, " ".join(text.split()), anchor, start, end))

    atx = _ATX_MDX if mdx else _ATX_MD
    paragraph: list[int] = []  # indices of the open paragraph's lines
    in_block = False  # inside a raw HTML block (.md) or a table: no headings, no paragraph
    for index, (line, kind) in enumerate(zip(lines, classify_lines(lines), strict=True)):
        if kind is not LineKind.TEXT or not line.strip():
            paragraph, in_block = [], False
            continue
        if in_block:
            continue
        if match := atx.match(line):
            add(len(match["hashes"]), (match["text"] or "").strip(), index, index + 1)
            paragraph = []
            continue
        underline = _SETEXT.match(line)
        if underline and paragraph and not _LIST_OR_QUOTE.match(lines[paragraph[0]]):
            raw = "\n".join(lines[i].strip() for i in paragraph)
            add(1 if underline["rule"][0] == "=" else 2, raw, paragraph[0], index + 1)
            paragraph = []
            continue
        if (
            paragraph
            and "|" in lines[paragraph[-1]]
            and _TABLE_DELIMITER.match(line)
            and "|" in line
        ):
            paragraph, in_block = [], True
            continue
        if _starts_block(line, mdx=mdx, in_paragraph=bool(paragraph)):
            paragraph, in_block = [], not mdx
            continue
        if _THEMATIC_BREAK.match(line) or _ADMONITION.match(line):
            paragraph = []
            continue
        if not paragraph and not mdx and line.startswith("    "):
            continue  # indented code
        if _LIST_OR_QUOTE.match(line):
            paragraph = []
        paragraph.append(index)
    return headings


def _starts_block(line: str, *, mdx: bool, in_paragraph: bool) -> bool:
    """Whether ``line`` opens raw HTML (``.md``) or a JSX block (``.mdx``), ending a paragraph."""
    if mdx:
        return bool(_JSX_START.match(line))
    return bool(_HTML_BLOCK.match(line) or (not in_paragraph and _LONE_TAG.match(line)))
