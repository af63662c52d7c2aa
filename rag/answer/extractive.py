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
from rag.text import FENCE_RE, is_code_block, is_table, split_blocks, split_sentences, terms

MAX_CODE_LINES = 24
SELECTION_BONUS = 0.1
SEMANTIC_CANDIDATES = 8
#: Shape answers as a person would (the answer first, code with its introduction, a selection
#: explained from its surroundings); off: the best units in passage rank order.
SHAPE_ANSWERS = False
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
        lines = block.splitlines()
        if is_code_block(block) and (len(lines) < 2 or not FENCE_RE.match(lines[-1])):
            # a fence the chunk cut in two (its other half is in the next chunk): quoting it
            # would leave the answer's fences unbalanced, so its lines are read as text
            block = "\n".join(lines[1:])
            if not block.strip():
                continue
            pieces.extend((s, False) for s in split_sentences(" ".join(block.split())))
            continue
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


@dataclass(frozen=True)
class Support:
    """How well the passages support an answer: the signals of the "not covered" decision.

    Attributes:
        coverage: Score of the best unit (the rarity-weighted share of the question's terms it
            holds, with the rank prior).
        similarity: Best MiniLM cosine to the question among the lexical candidates that reach
            the coverage threshold (None without a similarity function, 0.0 with no candidate).
        unmatched: Names in the question that no passage mentions.
        selection: True when the reader selected text (such questions are always answered).
    """

    coverage: float
    similarity: float | None
    unmatched: tuple[str, ...]
    selection: bool = False

    def covered(self, min_coverage: float, min_similarity: float) -> bool:
        """The gate: answer only when the best unit covers enough and means something close."""
        if self.selection:
            return True
        if self.coverage < min_coverage or self.unmatched:
            return False
        return self.similarity is None or self.similarity >= min_similarity

    def score(self, min_coverage: float) -> float:
        """One number for threshold curves: the similarity, 0 when the lexical gate refuses."""
        if self.selection:
            return 1.0
        if self.coverage < min_coverage or self.unmatched:
            return 0.0
        return 1.0 if self.similarity is None else self.similarity


@dataclass
class _Ranked:
    scored: list[tuple[float, Unit]]
    rank: dict[int, int]
    selection: Passage | None


# "What is X?", "What are X?", "Define X", "What does X mean?": a definition is the answer
_DEFINITION_Q_RE = re.compile(
    r"^\s*(?:what\s+(?:is|are)\s+(?:a|an|the)?\b|define\b|what\s+does\s+.+\s+mean\b|"
    r"what\s+do\s+.+\s+mean\b)",
    re.IGNORECASE,
)
_DEFINITION_RE = re.compile(
    r"\b(?:is|are|refers\s+to|means|describes|denotes|is\s+called)\s+(?:a|an|the|one|how|"
    r"when|where|what|used|defined|known)?\b",
    re.IGNORECASE,
)
_SYMBOL_RE = re.compile("[=^\u221a\u2211\u222b\u2248\u2264\u2265\u00b1\u00d7\u00f7/*_{}\\\\|<>]")
_DEFINITION_BONUS = 0.12
_FORMULA_PENALTY = 0.15
_FRAGMENT_PENALTY = 0.1
# a vague question about a selection ("what does this mean?") has few terms of its own
_VAGUE_SELECTION_TERMS = 2


def is_fragment(text: str) -> bool:
    """True for a unit that starts mid-sentence (a chunk cut inside a sentence)."""
    first = text.lstrip()[:1]
    return bool(first) and (first.islower() or first in ",;:)]}.")


def looks_like_formula(text: str) -> bool:
    """True for a unit that is mostly symbols (an equation), not prose that explains it."""
    words = re.findall(r"[A-Za-z]{3,}", text)
    symbols = len(_SYMBOL_RE.findall(text))
    return symbols >= 2 and symbols * 2 >= len(words)


def _shape_bonus(unit: Unit, definition: bool) -> float:
    """Prefer what a person leads with: a definition for "what is", whole sentences, prose."""
    if unit.is_code:
        return 0.0
    bonus = 0.0
    if definition:
        if _DEFINITION_RE.search(unit.text[:160]) and not looks_like_formula(unit.text):
            bonus += _DEFINITION_BONUS
        if looks_like_formula(unit.text):
            bonus -= _FORMULA_PENALTY
    if is_fragment(unit.text):
        bonus -= _FRAGMENT_PENALTY
    return bonus


def _rank_units(question: str, passages: list[Passage]) -> _Ranked:
    units = [unit for passage in passages for unit in units_of(passage)]
    rank = {p.index: r for r, p in enumerate(passages, start=1)}
    selection = next((p for p in passages if p.title == SELECTION_TITLE), None)
    if not units:
        return _Ranked(scored=[], rank=rank, selection=selection)
    idf = _weights(units)
    query = dict.fromkeys((t for t in terms(question) if t not in _QUESTION_FILLER), 1.0)
    if selection is not None:  # "what does this do?": the selection's own terms are the topic
        for term in terms(selection.text):
            query.setdefault(term, 0.3)
    # the reader's selection comes first: its units get a bonus over the book's
    bonus = {p.index: (SELECTION_BONUS if p is selection else 0.0) for p in passages}
    scored = sorted(
        ((_score(u, query, idf, rank[u.passage.index]) + bonus[u.passage.index], u) for u in units),
        key=lambda item: item[0],
        reverse=True,
    )
    return _Ranked(scored=scored, rank=rank, selection=selection)


def assess(
    question: str,
    passages: list[Passage],
    *,
    min_coverage: float = 0.25,
    similarity: Similarity | None = None,
) -> Support:
    """The signals of the "not covered" decision for a question and its passages."""
    ranked = _rank_units(question, passages)
    return _support(question, passages, ranked, min_coverage, similarity)


def _support(
    question: str,
    passages: list[Passage],
    ranked: _Ranked,
    min_coverage: float,
    similarity: Similarity | None,
) -> Support:
    best = ranked.scored[0][0] if ranked.scored else 0.0
    unmatched = tuple(unmatched_names(question, passages))
    closest: float | None = None
    if similarity is not None and ranked.selection is None:
        candidates = [u.text for v, u in ranked.scored[:SEMANTIC_CANDIDATES] if v >= min_coverage]
        closest = max(similarity(question, candidates), default=0.0) if candidates else 0.0
    return Support(
        coverage=best,
        similarity=closest,
        unmatched=unmatched,
        selection=ranked.selection is not None,
    )


def extractive_answer(
    question: str,
    passages: list[Passage],
    *,
    max_units: int = 3,
    min_coverage: float = 0.25,
    similarity: Similarity | None = None,
    min_similarity: float = 0.42,
    shape: bool = SHAPE_ANSWERS,
) -> str:
    """Answer from the passages alone, citing each quoted unit with its passage number.

    With ``similarity`` (question, texts -> cosine of each text to the question), one of the best
    lexical candidates that covers enough of the question must also mean something close to it:
    a passage that shares the question's words ("the Unitree G1") but not its sense ("hours on
    one charge") is not an answer, and neither is a sentence close in sense that shares too few
    of the question's words to answer it.

    With ``shape``, the answer leads with the passage of its best unit, starting at that unit (a
    definition for "what is ..."; a whole sentence, not a fragment); other passages follow.
    Units of one passage stay in reading order, and a quoted code block comes with the sentence
    that introduces it. A vague question about a selected passage is explained from the book
    around the selection, not by quoting the selection back, when the book has more to say.
    Without it, the best units are quoted in passage rank order.
    """
    ranked = _rank_units(question, passages)
    if not ranked.scored:
        return NOT_COVERED
    if not _support(question, passages, ranked, min_coverage, similarity).covered(
        min_coverage, min_similarity
    ):
        return NOT_COVERED
    if not shape:
        units = _in_rank_order(ranked, max_units)
        if _DEFINITION_Q_RE.match(question):
            units = _definition_first(units)
        return _render(units, code_last=True)
    definition = bool(_DEFINITION_Q_RE.match(question))
    scored = sorted(
        ((v + _shape_bonus(u, definition), u) for v, u in ranked.scored),
        key=lambda item: item[0],
        reverse=True,
    )
    selection = ranked.selection
    if selection is not None:
        explained = _explain_selection(question, selection, scored)
        if explained:
            scored = explained
    chosen = _choose(scored, max_units)
    if selection is not None and not chosen:
        own = next((u for _, u in scored if u.passage is selection), None)
        chosen = [own] if own is not None else []
    return _render(_arrange(chosen, scored))


def _in_rank_order(ranked: _Ranked, max_units: int) -> list[Unit]:
    """The best units in passage rank order, then reading order; a selection always quoted."""
    chosen = _choose(ranked.scored, max_units, whole_first=False)
    selection = ranked.selection
    if selection is not None and all(u.passage is not selection for u in chosen):
        own = next((u for _, u in ranked.scored if u.passage is selection), None)
        if own is not None:  # an answer about a selection always rests on it
            chosen = [own, *chosen[: max_units - 1]]
    return sorted(chosen, key=lambda u: (ranked.rank[u.passage.index], u.position))


def _definition_first(units: list[Unit]) -> list[Unit]:
    """For "what is ...", a definition before a formula: the same units, in another order.

    When the answer would open with a formula, the passage that holds a definition sentence
    goes first; the other passages follow in rank order.
    """
    if not units or not looks_like_formula(units[0].text):
        return units
    lead = next(
        (
            u
            for u in units
            if not u.is_code
            and not looks_like_formula(u.text)
            and not is_fragment(u.text)
            and _DEFINITION_RE.search(u.text[:160])
        ),
        None,
    )
    if lead is None:
        return units
    first = [u for u in units if u.passage.index == lead.passage.index]
    return first + [u for u in units if u.passage.index != lead.passage.index]


def _choose(
    scored: list[tuple[float, Unit]], max_units: int, *, whole_first: bool = True
) -> list[Unit]:
    """The best units: within half the best score, at most two per passage, no near-repeats."""
    best = scored[0][0] if scored else 0.0
    chosen: list[Unit] = []
    per_passage: Counter[int] = Counter()
    for score, unit in scored:
        if len(chosen) == max_units or score < 0.5 * best:
            break
        if (
            whole_first
            and not chosen
            and is_fragment(unit.text)
            and any(not is_fragment(u.text) for _, u in scored)
        ):
            continue  # never lead with half a sentence
        if per_passage[unit.passage.index] == 2 or any(
            len(unit.terms & c.terms) > 0.7 * max(len(unit.terms), 1) for c in chosen
        ):
            continue
        chosen.append(unit)
        per_passage[unit.passage.index] += 1
    return chosen


def _explain_selection(
    question: str, selection: Passage, scored: list[tuple[float, Unit]]
) -> list[tuple[float, Unit]]:
    """Units that explain a selected passage: the book's text around it, not the selection.

    Only for a vague question ("what does this mean?"), whose own terms cannot pick an answer.
    Units of the selection, and units of the book that repeat it, are left out; the selection's
    own section comes first. Empty when the book offers nothing else, or the question is
    specific.
    """
    own_terms = [t for t in terms(question) if t not in _QUESTION_FILLER]
    if len(own_terms) > _VAGUE_SELECTION_TERMS or looks_like_code(selection.text):
        return []
    selected = " ".join(selection.text.split()).lower()
    kept = []
    for score, unit in scored:
        if unit.passage is selection or unit.is_code:
            continue
        text = " ".join(unit.text.split()).lower()
        if text in selected or (len(text) > 40 and text[:40] in selected):
            continue  # the selection itself, as the book has it
        same_section = bool(selection.section) and unit.passage.section == selection.section
        kept.append((score + (0.15 if same_section else 0.0), unit))
    kept.sort(key=lambda item: item[0], reverse=True)
    return kept if kept and kept[0][0] >= 0.2 else []


def _arrange(chosen: list[Unit], scored: list[tuple[float, Unit]]) -> list[Unit]:
    """Order the answer: the best unit's passage first, from that unit on; reading order within.

    Passages follow in the order of their best chosen unit. A code block brings the sentence
    just before it (what it is for), and a sentence that introduces a block ("run this:")
    brings the block.
    """
    if not chosen:
        return []
    lead = chosen[0]
    units_at = {(u.passage.index, u.position): u for _, u in scored}
    groups: dict[int, list[Unit]] = {}
    for unit in chosen:  # dicts keep insertion order: passages by their best chosen unit
        groups.setdefault(unit.passage.index, []).append(unit)
    for index, group in groups.items():
        extra = []
        for unit in group:
            before = units_at.get((index, unit.position - 1))
            after = units_at.get((index, unit.position + 1))
            if unit.is_code and before is not None and not before.is_code:
                extra.append(before)
            introduces = not unit.is_code and unit.text.rstrip().endswith(":")
            if introduces and after is not None and after.is_code:
                extra.append(after)
        group.extend(u for u in extra if u not in group)
        group.sort(key=lambda u: u.position)
    start = lead.position - 1 if lead.is_code else lead.position
    groups[lead.passage.index] = [u for u in groups[lead.passage.index] if u.position >= start]
    return [unit for group in groups.values() for unit in group]


def _render(units: list[Unit], *, code_last: bool = False) -> str:
    """Quote units grouped by passage, in order, each run of prose followed by its citation.

    A code block stands as its own paragraph where it sits in the passage; a passage quoted only
    for its code is cited by a "(code from [n])" line after it.
    """
    paragraphs: list[str] = []
    group: list[Unit] = []

    def flush() -> None:
        if not group:
            return
        index = group[0].passage.index
        if code_last:  # each passage's prose first, then its code blocks
            group.sort(key=lambda u: u.is_code)
        prose: list[str] = []
        for unit in group:
            if unit.is_code:
                if prose:
                    paragraphs.append(f"{' '.join(prose)} [{index}]")
                    prose = []
                paragraphs.append(unit.text)
            else:
                prose.append(unit.text)
        if prose:
            paragraphs.append(f"{' '.join(prose)} [{index}]")
        elif all(u.is_code for u in group):
            paragraphs.append(f"(code from [{index}])")
        group.clear()

    for unit in units:
        if group and unit.passage.index != group[0].passage.index:
            flush()
        group.append(unit)
    flush()
    return "\n\n".join(paragraphs)
