"""Plain-text helpers shared by chunking and answering: markdown blocks, sentences, terms."""

from __future__ import annotations

import re

FENCE_RE = re.compile(r"^\s*(```+|~~~+)")
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`])")
_TERM_RE = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
# the humps of an identifier: "httpBatchLink" -> http, Batch, Link; "XMLParser" -> XML, Parser
_HUMP_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    else few for from further get gets got had has have having he her here hers him his how
    i if in into is it its itself just like me might more most must my no nor not now of off
    on once only or other our out over own same say says shall she should so some such than
    that the their them then there these they this those through to too under until up us
    use used using very via want was we were what when where which while who whom why will
    with would you your yours book books chapter guide explain describe tell text mean means
    give example
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def is_code_block(block: str) -> bool:
    """True for a fenced code block."""
    return bool(FENCE_RE.match(block))


def is_table(block: str) -> bool:
    """True for a pipe table."""
    return block.lstrip().startswith("|")


def split_blocks(text: str) -> list[str]:
    """Split markdown into blocks: fenced code (whole), tables, and blank-line separated runs."""
    blocks: list[str] = []
    current: list[str] = []
    fence: str | None = None

    def flush() -> None:
        if current and any(line.strip() for line in current):
            blocks.append("\n".join(current).strip("\n"))
        current.clear()

    for line in text.splitlines():
        match = FENCE_RE.match(line)
        if fence is not None:
            current.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
                flush()
            continue
        if match:
            flush()
            fence = match.group(1)
            current.append(line)
        elif not line.strip():
            flush()
        else:
            if current and is_table(line) != is_table(current[-1]):
                flush()
            current.append(line)
    flush()
    return blocks


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences (a light rule that keeps abbreviations mostly intact)."""
    return [s.strip() for s in SENTENCE_RE.split(text) if s.strip()]


def stem(word: str) -> str:
    """A crude suffix stripper, enough to match 'joints' with 'joint' and 'planning' with 'plan'."""
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + repl
    return word


def identifier_parts(token: str) -> list[str]:
    """The words of an identifier as a reader types them, lower-cased.

    ``configureStore`` -> ``configure``, ``store``; ``snake_case`` and ``dotted.names`` split
    at their separators; a plain word gives nothing (it is its own term).
    """
    pieces = [p for p in re.split(r"[._-]", token) if p]
    parts = [hump.lower() for piece in pieces for hump in _HUMP_RE.findall(piece)]
    return parts if len(parts) > 1 else []


def terms(text: str, *, identifiers: bool = False) -> list[str]:
    """Content terms of a text: lower-cased, stop words dropped, stemmed.

    With ``identifiers`` (the keyword index and its queries), an identifier also counts by its
    parts (``httpBatchLink``: ``httpbatchlink``, ``http``, ``batch``, ``link``), so "batch link"
    finds it, and so does the exact name. Dotted, dashed and snake names always count by parts.
    """
    found: list[str] = []
    for raw in _TERM_RE.findall(text):
        word = raw.lower()
        if identifiers:
            parts = [word, *identifier_parts(raw)]
        else:
            parts = [word, *re.split(r"[._-]", word)] if re.search(r"[._-]", word) else [word]
        found.extend(stem(p) for p in parts if p not in STOPWORDS and len(p) > 1)
    return found
