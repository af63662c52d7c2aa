"""Docusaurus reader: a docs folder's files as pages with routes, titles and anchored sections.

What it reproduces from Docusaurus 3 (checked against a real 3.10 build, see
``tests/ingest/data/docusaurus_truth.json``): which files are docs, each doc's id and route
(``ingest.routes``), its title, and the ``id`` of every heading (``ingest.headings``).

Each page is cut into sections at its headings. The part before the first heading is a level-1
section with no anchor, kept only when it has text; every heading starts a section, kept even
when it has no body of its own (its text is then ``""``), so that each anchor of the page is
present. The h1 that opens a page (Docusaurus' content title) is not a section; when it differs
from the front matter title it stays as the first line of the intro. Other h1 headings start
level-1 sections with no anchor (Docusaurus renders h1 without an ``id``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from ingest.headings import Heading, scan_headings
from ingest.mdx import clean_markdown
from ingest.routes import RouteError, doc_route

MarkdownFormat = Literal["detect", "md", "mdx"]

_SKIPPED_DIRS = frozenset({"node_modules", "__tests__"})
_LEADING_IMPORTS = re.compile(r"^(?:import\s(?:.|\n(?!\n))*\n{2,})*")
_ATX_TITLE = re.compile(r"^#[ \t]+(?P<title>[^ \t].*)(?:\n|$)")
_SETEXT_TITLE = re.compile(r"^(?P<title>.*)\n=+(?:\n|$)")
_TITLE_TAIL = re.compile(r"\s*(?:\{#*[\w-]+\}|#+)$")
_INLINE_CODE = re.compile(r"`(?P<text>[^`]*)`")


class PageError(Exception):
    """A docs file that cannot be read as a page (the caller skips it).

    Attributes:
        path: The file.
        message: What is wrong, for a human.
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class UnpublishedPageError(PageError):
    """A page Docusaurus does not publish (``draft: true``): left out, not an error."""


@dataclass(frozen=True)
class Section:
    """A part of a page under one heading.

    Attributes:
        title_path: The page title, then the headings above and including this one.
        anchor: The heading's ``id`` on the built page; ``""`` for the intro and for h1s.
        level: The heading level; 1 for the part before the first heading.
        text: The cleaned markdown body of the section, heading line excluded.
    """

    title_path: tuple[str, ...]
    anchor: str
    level: int
    text: str


@dataclass(frozen=True)
class Page:
    """One doc page of the site.

    Attributes:
        source_path: ``"<docs folder name>/<relative path>"``, e.g. ``"docs/hardware-lab.md"``.
        relative_path: The path relative to the docs folder, posix style.
        doc_id: The Docusaurus doc id.
        title: Front matter ``title``, else the opening h1, else the doc's base id.
        url: The page route, e.g. ``"/docs/hardware-lab"``.
        sidebar_position: Front matter ``sidebar_position``, else the file's number prefix.
        content_hash: sha256 (hex) of the raw file bytes.
        sections: The page's sections in document order.
    """

    source_path: str
    relative_path: str
    doc_id: str
    title: str
    url: str
    sidebar_position: float | None
    content_hash: str
    sections: tuple[Section, ...]

    def section_url(self, section: Section) -> str:
        """The link to a section: the page route plus ``#anchor`` when it has one."""
        return f"{self.url}#{section.anchor}" if section.anchor else self.url


def find_doc_files(docs_dir: Path) -> list[Path]:
    """The ``.md``/``.mdx`` files Docusaurus publishes from a docs folder, sorted.

    Docusaurus' default ``include``/``exclude`` globs: ``**/*.{md,mdx}`` (case-sensitive),
    skipping files and folders that start with ``_`` (partials) or ``.``, ``__tests__``, and
    (not a Docusaurus rule, but never docs) ``node_modules``.
    """
    found: list[Path] = []
    for path in docs_dir.rglob("*"):
        relative = path.relative_to(docs_dir)
        if path.suffix not in (".md", ".mdx") or not path.is_file():  # case-sensitive glob
            continue
        if any(part.startswith(("_", ".")) or part in _SKIPPED_DIRS for part in relative.parts):
            continue
        found.append(path)
    return sorted(found, key=lambda path: path.relative_to(docs_dir).as_posix())


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split ``---`` YAML front matter from the body, as gray-matter does.

    Raises:
        ValueError: The front matter is not closed, is not valid YAML, or is not a mapping.
    """
    if not text.startswith("---") or text[3:4] == "-":
        return {}, text
    lines = text.split("\n")
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            break
    else:
        raise ValueError("front matter opened with '---' is never closed")
    try:
        data = yaml.safe_load("\n".join(lines[1:index]))
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML front matter: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"front matter must be a mapping, got {type(data).__name__}")
    return data, "\n".join(lines[index + 1 :])


def content_title(body: str) -> str | None:
    """The h1 that opens the body (after imports), as Docusaurus' ``parseMarkdownContentTitle``."""
    content = _LEADING_IMPORTS.sub("", body.strip(), count=1).strip()
    match = _ATX_TITLE.match(content)
    if match:
        title = _TITLE_TAIL.sub("", match["title"].strip())
    elif match := _SETEXT_TITLE.match(content):
        title = re.sub(r"\s*=+$", "", match["title"].strip())
    else:
        return None
    return _INLINE_CODE.sub(r"\g<text>", title).strip()


def read_page(
    path: Path,
    docs_dir: Path,
    route_base_path: str = "/docs",
    *,
    trailing_slash: bool | None = None,
    markdown_format: MarkdownFormat = "detect",
    source_prefix: str | None = None,
) -> Page:
    """Read one docs file into a page.

    Args:
        path: The ``.md``/``.mdx`` file, inside ``docs_dir``.
        docs_dir: The docs folder (the docs plugin's ``path``).
        route_base_path: The docs plugin's ``routeBasePath``.
        trailing_slash: The site's ``trailingSlash``; ``None`` (Docusaurus' default) gives a
            folder's index page a trailing slash (``/docs/guide/``), ``False`` removes it.
        markdown_format: The site's ``markdown.format``: ``"detect"`` parses ``.md`` as
            CommonMark and ``.mdx`` as MDX; ``"mdx"`` (Docusaurus' default) parses both as MDX.
        source_prefix: What ``source_path`` starts with (default: the docs folder's name), e.g.
            ``"versioned_docs/version-1.0"`` for a page of a site's older version.

    Returns:
        The page with its route, title and sections.

    Raises:
        PageError: The file is unreadable, not UTF-8, has broken front matter or a bad slug.
    """
    try:
        raw = path.read_bytes()
        relative = PurePosixPath(path.resolve().relative_to(docs_dir.resolve()).as_posix())
    except (OSError, ValueError) as exc:
        raise PageError(path, f"cannot read: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PageError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    try:
        front_matter, body = split_front_matter(text)
        route = doc_route(relative, front_matter, route_base_path, trailing_slash)
    except (ValueError, RouteError) as exc:
        raise PageError(path, str(exc)) from exc
    if front_matter.get("draft") is True:
        raise UnpublishedPageError(path, "draft (front matter `draft: true`): not published")

    mdx = markdown_format == "mdx" or (markdown_format == "detect" and path.suffix == ".mdx")
    lines = body.split("\n")
    headings = scan_headings(lines, mdx=mdx)
    opening_h1 = content_title(body)
    title = _title(front_matter, opening_h1, route.doc_id)
    return Page(
        source_path=f"{source_prefix or docs_dir.resolve().name}/{relative}",
        relative_path=str(relative),
        doc_id=route.doc_id,
        title=title,
        url=route.url,
        sidebar_position=_sidebar_position(front_matter, route.number_prefix),
        content_hash=hashlib.sha256(raw).hexdigest(),
        sections=_sections(lines, headings, title, has_opening_h1=opening_h1 is not None),
    )


def _title(front_matter: dict[str, Any], opening_h1: str | None, doc_id: str) -> str:
    if front_matter.get("title") is not None:
        return str(front_matter["title"])
    return opening_h1 if opening_h1 is not None else doc_id.rsplit("/", 1)[-1]


def _sidebar_position(front_matter: dict[str, Any], number_prefix: int | None) -> float | None:
    value = front_matter.get("sidebar_position", number_prefix)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _sections(
    lines: list[str], headings: list[Heading], title: str, *, has_opening_h1: bool
) -> tuple[Section, ...]:
    body_start = 0
    if has_opening_h1 and headings and headings[0].level == 1:
        opening = headings.pop(0)
        if _same_text(opening.text, title):
            body_start = opening.end
    sections: list[Section] = []
    first = headings[0].start if headings else len(lines)
    intro = clean_markdown("\n".join(lines[body_start:first]))
    if intro:
        sections.append(Section(title_path=(title,), anchor="", level=1, text=intro))
    stack: list[Heading] = []
    for index, heading in enumerate(headings):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        end = headings[index + 1].start if index + 1 < len(headings) else len(lines)
        sections.append(
            Section(
                title_path=(title, *(h.text for h in stack)),
                anchor=heading.anchor if heading.level > 1 else "",
                level=heading.level,
                text=clean_markdown("\n".join(lines[heading.end : end])),
            )
        )
    return tuple(sections)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
