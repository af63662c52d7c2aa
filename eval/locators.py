"""Evidence kept as a place in the book, not as its words.

A question set written for a book we may not redistribute keeps its evidence (and a selected-text
question its selection) as a locator: character offsets into the page's source file plus a short
digest of the span. The span is read from the docs folder when the set is loaded, so the set
holds only its authors' own words, and a digest that no longer matches says the book changed.

Offsets count characters of the file decoded as UTF-8 with universal newlines (CRLF read as LF).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

DIGEST_CHARS = 12


class LocatorError(ValueError):
    """A locator that does not resolve against the docs folder."""


class Locator(BaseModel):
    """A span of a source file: ``[start, end)`` characters and the digest of its text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(ge=0)
    end: int = Field(gt=0)
    digest: str = Field(pattern=r"^[0-9a-f]{12}$")

    @model_validator(mode="after")
    def _ordered(self) -> Locator:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def digest_of(text: str) -> str:
    """The digest a locator keeps of its span (first 12 hex digits of its SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def read_source(docs_dir: Path, source_path: str) -> str:
    """The text of a page by its ``source_path`` (``<docs folder name>/<relative path>``)."""
    _, _, relative = source_path.partition("/")
    path = (docs_dir / relative).resolve()
    if not relative or not path.is_relative_to(docs_dir.resolve()) or not path.is_file():
        raise LocatorError(f"{source_path} is not a file of {docs_dir}")
    return path.read_text(encoding="utf-8")


def locate(text: str, quote: str) -> Locator:
    """The locator of ``quote`` in ``text``; it must occur exactly once.

    Raises:
        LocatorError: the quote is absent or ambiguous.
    """
    start = text.find(quote)
    if start < 0:
        raise LocatorError("quote not found")
    if text.find(quote, start + 1) >= 0:
        raise LocatorError("quote occurs more than once: quote a longer span")
    end = start + len(quote)
    return Locator(start=start, end=end, digest=digest_of(quote))


def resolve(text: str, locator: Locator) -> str:
    """The span a locator names, checked against its digest.

    Raises:
        LocatorError: the span is past the end of the text or its digest differs.
    """
    if locator.end > len(text):
        raise LocatorError(f"span {locator.start}-{locator.end} is past the end ({len(text)})")
    span = text[locator.start : locator.end]
    if digest_of(span) != locator.digest:
        raise LocatorError(
            f"span {locator.start}-{locator.end} no longer matches its digest (the page changed)"
        )
    return span
