"""What a docs folder publishes, read with the ingest reader: routes, anchors and passages.

Citations are checked against the links the built site would serve (every page route and every
``route#anchor`` of a heading), and Ragas' context metrics compare the retrieved passages with
the passages of the book that hold a question's evidence. Both come from the same reader and
chunker the ingest uses, so nothing is built and nothing is fetched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunking import chunk_page
from ingest.docusaurus import PageError, find_doc_files, read_page

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_`~]")


def normalise(text: str) -> str:
    """Text compared for evidence: NFKC, link targets and emphasis marks dropped, lower case."""
    text = _LINK.sub(r"\1", unicodedata.normalize("NFKC", text))
    return " ".join(_MARKUP.sub("", text).split()).lower()


def contains_evidence(passage: str, evidence: str) -> bool:
    """True when ``passage`` holds the quoted ``evidence`` (compared normalised)."""
    wanted = normalise(evidence)
    return bool(wanted) and wanted in normalise(passage)


@dataclass(frozen=True)
class Book:
    """The published links and passages of a docs folder.

    Attributes:
        urls: Every page route and every ``route#anchor`` of a heading.
        page_urls: The route of each page by its ``source_path`` (``docs/<relative path>``).
        passages: The chunks of each page by ``source_path``, as the ingest cuts them.
    """

    urls: frozenset[str]
    page_urls: dict[str, str] = field(default_factory=dict)
    passages: dict[str, list[str]] = field(default_factory=dict)

    def evidence_passages(self, paths: set[str], evidence: str | None) -> list[str]:
        """The passages of the given pages that hold the evidence (empty without evidence)."""
        if not evidence:
            return []
        return [
            text
            for path in sorted(paths)
            for text in self.passages.get(path, [])
            if contains_evidence(text, evidence)
        ]


def read_book(
    docs_dir: Path,
    *,
    route_base_path: str,
    trailing_slash: bool | None,
    chunk_tokens: int,
    overlap_tokens: int,
    count_tokens: Callable[[str], int],
) -> Book:
    """Read every published page of ``docs_dir`` (unreadable pages and drafts are left out)."""
    urls: set[str] = set()
    page_urls: dict[str, str] = {}
    passages: dict[str, list[str]] = {}
    for path in find_doc_files(docs_dir):
        try:
            page = read_page(path, docs_dir, route_base_path, trailing_slash=trailing_slash)
        except PageError:
            continue
        urls.add(page.url)
        urls.update(page.section_url(section) for section in page.sections)
        page_urls[page.source_path] = page.url
        passages[page.source_path] = [
            chunk.text
            for chunk in chunk_page(
                page, max_tokens=chunk_tokens, overlap_tokens=overlap_tokens, count=count_tokens
            )
        ]
    return Book(urls=frozenset(urls), page_urls=page_urls, passages=passages)
