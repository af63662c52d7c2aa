"""Read the project's Markdown pages as GitHub renders them: headings, anchors, links, code blocks.

markdown-it-py parses CommonMark plus GitHub's tables; heading anchors are GitHub's (the same
github-slugger algorithm that ``ingest.slugger`` ports for Docusaurus).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingest.slugger import GithubSlugger

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
RUNNABLE_MARK = "<!-- runnable -->"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str
    line: int


@dataclass(frozen=True)
class Link:
    href: str
    line: int


@dataclass(frozen=True)
class CodeBlock:
    info: str
    content: str
    line: int
    runnable: bool


@dataclass
class Page:
    path: Path
    headings: list[Heading] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    blocks: list[CodeBlock] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)

    @property
    def anchors(self) -> set[str]:
        return {heading.anchor for heading in self.headings}

    @property
    def name(self) -> str:
        try:
            return self.path.relative_to(ROOT).as_posix()
        except ValueError:  # a page written by a test
            return self.path.name

    def section_text(self, heading: Heading) -> str:
        """The source lines under ``heading`` up to the next heading of the same or higher level."""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        end = len(lines)
        for other in self.headings:
            if other.line > heading.line and other.level <= heading.level:
                end = other.line
                break
        return "\n".join(lines[heading.line + 1 : end])


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _plain_text(inline: Token) -> str:
    return "".join(
        child.content for child in inline.children or [] if child.type in {"text", "code_inline"}
    )


def _links(inline: Token) -> list[str]:
    hrefs = []
    for child in inline.children or []:
        if child.type == "link_open":
            hrefs.append(str(child.attrs.get("href", "")))
        elif child.type == "image":
            hrefs.append(str(child.attrs.get("src", "")))
    return hrefs


@cache
def read_page(path: Path) -> Page:
    """Parse one Markdown file (cached: the pages do not change during a test run)."""
    text = path.read_text(encoding="utf-8")
    tokens = _parser().parse(text)
    page = Page(path=path, tokens=tokens)
    slugger = GithubSlugger()
    previous_html = ""
    for index, token in enumerate(tokens):
        line = token.map[0] if token.map else 0
        if token.type == "heading_open":
            inline = tokens[index + 1]
            title = _plain_text(inline)
            page.headings.append(Heading(int(token.tag[1]), title, slugger.slug(title), line))
        if token.type == "inline":
            page.links.extend(Link(href, line) for href in _links(token))
        if token.type == "fence":
            runnable = previous_html.strip() == RUNNABLE_MARK
            page.blocks.append(CodeBlock(token.info.strip(), token.content, line, runnable))
        if token.type == "html_block":
            previous_html = token.content
        elif token.type != "fence":
            previous_html = ""
    return page


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def is_relative(href: str) -> bool:
    """True for links into this repository (not http:, mailto:, //host, or empty)."""
    return bool(href) and not _SCHEME.match(href) and not href.startswith("//")
