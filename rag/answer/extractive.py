"""The extractive answerer: the best-supported sentences of the given passages, each cited.

It needs no model and no network. A unit (sentence, list item, table row or short code block)
is scored by the share of the question's informative terms it contains (or its passage's title
and section heading contain), weighted by how rare each term is among the passages, with a small
prior for higher-ranked passages. When even the best unit covers too little of the question, or
the question names something (a product, a standard, a model number) that no passage mentions,
the answer says the book does not cover it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from rag.answer.prompts import NOT_COVERED, SELECTION_TITLE, Passage
from rag.text import is_code_block, is_table, split_blocks, split_sentences, terms

MAX_CODE_LINES = 24
SELECTION_BONUS = 0.1
SEMANTIC_CANDIDATES = 8
Similarity = Callable[[str, list[str]], list[float]]
# Words that shape a conversational question ("even though", "how much", "what should I check
# first") without naming its topic. They are often absent from the passages, and a question term
# absent from every passage weighs as much as the rarest one, so they are not counted.
_QUESTION_FILLER = frozenset(
    terms(
        "even though although clearly really actually first several much many still yet already "
        "always never ever every anything something nothing thing things way ways kind sort lot "
        "lots bit quite rather pretty simply basically exactly certainly probably maybe perhaps "
        "somehow anyway else"
    )
)


@dataclass(frozen=True)
class Unit:
    """A quotable piece of a passage."""

    passage: Passage
    position: int
    text: str
    terms: frozenset[str]
    is_code: bool
    context: frozenset[str] = frozenset()


_COMMENT_RE = re.compile(
    r"^\s*(?:#|//|--|\*|/\*+|\"\"\"|\'\'\')\s*(.*?)\s*(?:\*/|\"\"\"|\'\'\')?\s*$"
)
_CODE_HINT_RE = re.compile(r"[=(){};]|^\s{2,}\S|^\s*(def|class|import|from|return|if|for)\b")


def looks_like_code(text: str) -> bool:
    """A selection copied from a code block arrives without its fence: recognise it."""
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) >= 2 and sum(bool(_CODE_HINT_RE.search(x)) for x in lines) >= len(lines) / 2


def _code_selection_units(text: str) -> list[tuple[str, bool]]:
    """Units of selected code: its comments and docstrings, and the code itself when short.

    The comments say what the code does, in words a question can match.
    """
    pieces: list[tuple[str, bool]] = []
    for line in text.splitlines():
        match = _COMMENT_RE.match(line)
        if match and match.group(1):
            pieces.append((match.group(1), False))
        elif "#" in line and not line.lstrip().startswith(("'", '"')):
            comment = line.split("#", 1)[1].strip()
            if len(comment.split()) >= 2:
                pieces.append((comment, False))
    if len(text.splitlines()) <= MAX_CODE_LINES:
        pieces.append((f"```\n{text.strip(chr(10))}\n```", True))
    return pieces


def units_of(passage: Passage) -> list[Unit]:
    """Split a passage into quotable units."""
    pieces: list[tuple[str, bool]] = []
    blocks = split_blocks(passage.text)
    if passage.title == SELECTION_TITLE and looks_like_code(passage.text):
        blocks = []
        pieces = _code_selection_units(passage.text)
    for block in blocks:
        if is_code_block(block):
            if len(block.splitlines()) <= MAX_CODE_LINES + 2:
                pieces.append((block, True))
        elif is_table(block):
            rows = [r for r in block.splitlines() if not set(r.strip()) <= set("|-: ")]
            header = rows[0] if rows else ""
            pieces.extend((f"{header}\n{row}" if i else row, False) for i, row in enumerate(rows))
        elif all(
            line.lstrip()[:2] in ("- ", "* ", "+ ") or line.lstrip()[:1].isdigit()
            for line in block.splitlines()
        ):
            pieces.extend((line.strip(), False) for line in block.splitlines() if line.strip())
        else:
            pieces.extend((s, False) for s in split_sentences(" ".join(block.split())))
    # the page title and section heading say what a sentence is about ("Pitfall 1: QoS
    # Mismatch" above "the subscriber receives nothing"), so their terms count as covered too
    context = frozenset(terms(f"{passage.title} {passage.section}"))
    return [
        Unit(
            passage=passage,
            position=i,
            text=text,
            terms=frozenset(terms(text)),
            is_code=code,
            context=context,
        )
        for i, (text, code) in enumerate(pieces)
        if terms(text)
    ]


def _weights(units: list[Unit]) -> dict[str, float]:
    """Inverse document frequency of each term over the units of this answer."""
    df: Counter[str] = Counter()
    for unit in units:
        df.update(unit.terms)
    n = len(units)
    return {term: math.log(1 + n / (1 + count)) + 0.1 for term, count in df.items()}


def _score(unit: Unit, query: dict[str, float], idf: dict[str, float], rank: int) -> float:
    # A question term found in no passage is as specific as the rarest term that is found: a
    # question about something the passages never name is not covered by them.
    rarest = max(idf.values(), default=1.0)
    possible = sum(w * idf.get(t, rarest) for t, w in query.items())
    if not possible:
        return 0.0
    matched = sum(
        w * idf.get(t, rarest) for t, w in query.items() if t in unit.terms or t in unit.context
    )
    coverage = matched / possible
    words = len(unit.text.split())
    length = 0.85 if words < 5 else (0.9 if words > 80 else 1.0)
    return coverage * length + 0.05 / rank


_WORD_RE = re.compile(r"[A-Za-z][\w.+]*[\w+]|[A-Za-z]")


def named_terms(question: str) -> list[str]:
    """Names in a question: model numbers, acronyms, CamelCase and capitalised words.

    The first word of each sentence and "I" are skipped, since they are capitalised anyway.
    """
    names = []
    for sentence in re.split(r"(?<=[.!?])\s+", question.strip()):
        for position, match in enumerate(_WORD_RE.finditer(sentence)):
            word = match.group(0).rstrip(".")
            has_digit = any(c.isdigit() for c in word)
            inner_upper = any(c.isupper() for c in word[1:])
            capitalised = word[0].isupper() and position > 0 and word != "I"
            if len(word) > 1 and (has_digit or inner_upper or capitalised):
                names.append(word)
    return names


def unmatched_names(question: str, passages: list[Passage]) -> list[str]:
    """Names in the question that no passage mentions (case-insensitive)."""
    text = " ".join(f"{p.title} {p.section} {p.text}" for p in passages).lower()
    return [name for name in named_terms(question) if name.lower().rstrip("'s") not in text]


def extractive_answer(
    question: str,
    passages: list[Passage],
    *,
    max_units: int = 3,
    min_coverage: float = 0.25,
    similarity: Similarity | None = None,
    min_similarity: float = 0.42,
) -> str:
    """Answer from the passages alone, citing each quoted unit with its passage number.

    With ``similarity`` (question, texts -> cosine of each text to the question), one of the best
    lexical candidates that covers enough of the question must also mean something close to it:
    a passage that shares the question's words ("the Unitree G1") but not its sense ("hours on
    one charge") is not an answer, and neither is a sentence close in sense that shares too few
    of the question's words to answer it.
    """
    units = [unit for passage in passages for unit in units_of(passage)]
    if not units:
        return NOT_COVERED
    idf = _weights(units)
    query = dict.fromkeys((t for t in terms(question) if t not in _QUESTION_FILLER), 1.0)
    selection = next((p for p in passages if p.title == SELECTION_TITLE), None)
    if selection is not None:  # "what does this do?": the selection's own terms are the topic
        for term in terms(selection.text):
            query.setdefault(term, 0.3)
    rank = {p.index: r for r, p in enumerate(passages, start=1)}
    # the reader's selection comes first: its units get a bonus over the book's
    bonus = {p.index: (SELECTION_BONUS if p is selection else 0.0) for p in passages}
    scored = sorted(
        ((_score(u, query, idf, rank[u.passage.index]) + bonus[u.passage.index], u) for u in units),
        key=lambda item: item[0],
        reverse=True,
    )
    best = scored[0][0] if scored else 0.0
    if selection is None and (best < min_coverage or unmatched_names(question, passages)):
        return NOT_COVERED
    if selection is None and similarity is not None:
        candidates = [u.text for v, u in scored[:SEMANTIC_CANDIDATES] if v >= min_coverage]
        if max(similarity(question, candidates), default=0.0) < min_similarity:
            return NOT_COVERED
    chosen: list[Unit] = []
    per_passage: Counter[int] = Counter()
    for score, unit in scored:
        if len(chosen) == max_units or score < 0.5 * best:
            break
        if per_passage[unit.passage.index] == 2 or any(
            len(unit.terms & c.terms) > 0.7 * max(len(unit.terms), 1) for c in chosen
        ):
            continue
        chosen.append(unit)
        per_passage[unit.passage.index] += 1
    if selection is not None and not per_passage[selection.index]:
        own = next((u for _, u in scored if u.passage is selection), None)
        if own is not None:  # an answer about a selection always rests on it
            chosen = [own, *chosen[: max_units - 1]]
    return _render(sorted(chosen, key=lambda u: (rank[u.passage.index], u.position)))


def _render(units: list[Unit]) -> str:
    """Quote units grouped by passage, each group followed by its citation."""
    paragraphs: list[str] = []
    group: list[Unit] = []

    def flush() -> None:
        if not group:
            return
        index = group[0].passage.index
        prose = " ".join(u.text for u in group if not u.is_code)
        code = "\n\n".join(u.text for u in group if u.is_code)
        if prose:
            paragraphs.append(f"{prose} [{index}]")
        if code:
            paragraphs.append(f"{code}\n\n(code from [{index}])" if not prose else code)
        group.clear()

    for unit in units:
        if group and unit.passage.index != group[0].passage.index:
            flush()
        group.append(unit)
    flush()
    return "\n\n".join(paragraphs)
