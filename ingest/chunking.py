"""Heading-aware chunking: each chunk stays inside one section and carries its path and anchor.

Sections come from the Docusaurus reader. Inside a section, blocks (paragraphs, lists, tables,
fenced code) are packed into chunks of at most ``max_tokens`` model tokens; a code block or table
is never cut when it fits, and a block too long on its own is split by lines or sentences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ingest.docusaurus import Page, Section
from rag.text import FENCE_RE, SENTENCE_RE, is_code_block, is_table, split_blocks

TokenCounter = Callable[[str], int]

CHUNKER_VERSION = "2"


@dataclass(frozen=True)
class Chunk:
    """A piece of one section of one page, ready to embed."""

    page: Page
    section: Section
    text: str
    ordinal: int

    @property
    def heading_path(self) -> str:
        """The page title and headings above the chunk, joined for display and embedding."""
        return " > ".join(self.section.title_path)

    @property
    def embed_text(self) -> str:
        """The text that is embedded: the heading path gives a short chunk its context."""
        return f"{self.heading_path}\n\n{self.text}"


def _split_long_block(block: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """Cut a block longer than ``max_tokens``: code and tables by lines, prose by sentences.

    Each piece of a cut code block is fenced again, so every chunk stays valid markdown.
    """
    if is_code_block(block):
        lines = block.splitlines()
        match = FENCE_RE.match(lines[0])
        assert match is not None, "is_code_block: the first line opens a fence"  # noqa: S101
        opener, fence = lines[0], match.group(1)
        last = lines[-1].strip()
        closed = len(lines) > 1 and last.startswith(fence) and set(last) == {fence[0]}
        body = lines[1:-1] if closed else lines[1:]
        budget = max(1, max_tokens - count(opener) - count(fence) - 2)
        return [f"{opener}\n{piece}\n{fence}" for piece in _pack(body, "\n", budget, count)]
    if is_table(block):
        return _pack(block.splitlines(), "\n", max_tokens, count)
    return _pack(SENTENCE_RE.split(block), " ", max_tokens, count)


def _pack(units: list[str], joiner: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """Greedily join units into pieces of at most ``max_tokens`` (over-long units are cut)."""
    pieces: list[str] = []
    current: list[str] = []
    for unit in units:
        parts = _cut(unit, max_tokens, count) if count(unit) > max_tokens else [unit]
        for part in parts:
            if current and count(joiner.join([*current, part])) > max_tokens:
                pieces.append(joiner.join(current))
                current = []
            current.append(part)
    if current:
        pieces.append(joiner.join(current))
    return [piece for piece in pieces if piece.strip()]


def _cut(unit: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """Cut an over-long sentence or line by words; a word longer than the budget by characters."""
    parts: list[str] = []
    current: list[str] = []
    for word in unit.split():
        if count(word) > max_tokens:
            if current:
                parts.append(" ".join(current))
                current = []
            parts.extend(_cut_word(word, max_tokens, count))
        elif current and count(" ".join([*current, word])) > max_tokens:
            parts.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        parts.append(" ".join(current))
    return parts


def _cut_word(word: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """Cut a single endless token (a URL, a hash) into pieces that each fit."""
    parts = []
    while word:
        size = len(word)
        while size > 1 and count(word[:size]) > max_tokens:
            size = max(1, size * max_tokens // max(count(word[:size]), 1))
        parts.append(word[:size])
        word = word[size:]
    return parts


def _tail(text: str, max_tokens: int, count: TokenCounter) -> str:
    """The last sentences of a prose chunk, up to ``max_tokens``, to repeat as overlap."""
    last_block = text.split("\n\n")[-1]
    if max_tokens <= 0 or is_code_block(last_block) or is_table(last_block):
        return ""
    tail: list[str] = []
    for sentence in reversed(SENTENCE_RE.split(last_block)):
        if count(" ".join([sentence, *tail])) > max_tokens:
            break
        tail.insert(0, sentence)
    return " ".join(tail)


def chunk_section(
    text: str, *, max_tokens: int, overlap_tokens: int, count: TokenCounter
) -> list[str]:
    """Pack the blocks of one section into chunks of at most ``max_tokens`` tokens."""
    pieces: list[str] = []
    for block in split_blocks(text):
        if count(block) <= max_tokens:
            pieces.append(block)
        else:
            pieces.extend(_split_long_block(block, max_tokens, count))
    chunks: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and count("\n\n".join([*current, piece])) > max_tokens:
            chunks.append("\n\n".join(current))
            overlap = _tail(chunks[-1], overlap_tokens, count)
            current = [overlap] if overlap and count(f"{overlap}\n\n{piece}") <= max_tokens else []
        current.append(piece)
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def chunk_page(
    page: Page, *, max_tokens: int, overlap_tokens: int, count: TokenCounter
) -> Iterator[Chunk]:
    """Chunks of every non-empty section of a page, in reading order."""
    ordinal = 0
    for section in page.sections:
        if not section.text.strip():
            continue
        for text in chunk_section(
            section.text, max_tokens=max_tokens, overlap_tokens=overlap_tokens, count=count
        ):
            yield Chunk(page=page, section=section, text=text, ordinal=ordinal)
            ordinal += 1
