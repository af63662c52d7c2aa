"""The simulated model's reply: a grounded, cited extract of the passages it was sent.

Two prompt shapes are understood. The service's own (see ``rag/answer/prompts.py``, not imported:
the simulator stands outside the service) wraps each passage as
``<passage index="N" title="..." section="...">`` ... ``</passage>`` and the question as
``<question>`` ... ``</question>``. A generic prompt marks passages as lines starting with
``[N] `` (a passage runs until the next marker or a blank line); its question is the text after
a ``Question:`` line, else every line that is not a passage. A prompt with no passages gets the
refusal.

The reply quotes the 1-3 passage sentences sharing the most content words with the question
(words weighted by rarity; each quote scores at least two thirds of the best), in passage
order, each cited ``[N]``.
It is a pure function of the messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Copied from rag/answer/prompts.py; the simulator must not import the service.
NOT_COVERED = "The book does not cover this question, so I cannot answer it from the book."
MAX_SENTENCES = 3

_TAGGED_RE = re.compile(r'<passage index="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)
_QUESTION_RE = re.compile(r"<question>\n(.*?)\n</question>", re.DOTALL)
_MARKER_RE = re.compile(r"^\s*\[(\d+)\]\s+(.*)$")
_QUESTION_LINE_RE = re.compile(r"^\s*(?:question|q)\s*:\s*(.*)$", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9`*_])")
_WORD_RE = re.compile(r"[a-z0-9][a-z0-9+#]*(?:['.-][a-z0-9+#]+)*")
_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our out over own same she should
    so some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your
    explain describe tell please give show mean means"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Passage:
    """One numbered passage found in the prompt."""

    index: int
    text: str


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` minus stopwords, with a plural ``s`` folded away."""
    words = set()
    for word in _WORD_RE.findall(text.lower()):
        if word in _STOPWORDS or len(word) < 2:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return words


def parse_prompt(texts: list[str], question_text: str) -> tuple[str, list[Passage]]:
    """Find the question and the passages.

    Args:
        texts: The text of every message; passages may be in any of them.
        question_text: The text of the last user message, which holds the question.

    Returns:
        The question and the passages, in the order they were given.
    """
    tagged = [
        Passage(int(index), body) for text in texts for index, body in _TAGGED_RE.findall(text)
    ]
    if tagged or "<question>" in question_text:
        match = _QUESTION_RE.search(question_text)
        return (match.group(1) if match else question_text), tagged
    passages: list[Passage] = []
    for text in texts:
        passages.extend(_marked_passages(text)[0])
    _, rest = _marked_passages(question_text)
    for line in rest:
        match = _QUESTION_LINE_RE.match(line)
        if match:
            return match.group(1), passages
    return "\n".join(rest), passages


def _marked_passages(text: str) -> tuple[list[Passage], list[str]]:
    """Passages marked ``[N] text`` in ``text``, and the lines outside them."""
    passages: list[Passage] = []
    rest: list[str] = []
    current: tuple[int, list[str]] | None = None
    for line in text.splitlines():
        match = _MARKER_RE.match(line)
        if match:
            if current:
                passages.append(Passage(current[0], "\n".join(current[1])))
            current = (int(match.group(1)), [match.group(2)])
        elif current and line.strip():
            current[1].append(line)
        else:
            if current:
                passages.append(Passage(current[0], "\n".join(current[1])))
                current = None
            rest.append(line)
    if current:
        passages.append(Passage(current[0], "\n".join(current[1])))
    return passages, rest


def sentences(text: str) -> list[str]:
    """Quotable sentences of a passage: prose split at sentence ends, list items kept whole.

    Headings, code fences and code, table rules and fragments under three words are dropped.
    """
    found: list[str] = []
    in_code = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            found.extend(_SENTENCE_END_RE.split(" ".join(paragraph)))
            paragraph.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            flush()
            in_code = not in_code
        elif in_code or line.startswith(("#", "|", "<")) or not line:
            flush()
        elif re.match(r"^([-*+]|\d+[.)])\s+", line):
            flush()
            paragraph.append(re.sub(r"^([-*+]|\d+[.)])\s+", "", line))
            flush()
        else:
            paragraph.append(line)
    flush()
    return [s.strip() for s in found if len(s.split()) >= 3]


def compose_answer(question: str, passages: list[Passage]) -> str:
    """Quote the passage sentences that best overlap the question, each cited ``[N]``.

    A sentence scores the summed weights of the question's content words it contains; a word
    weighs ``log(1 + n / df)`` over the ``n`` sentences, ``df`` of which contain it, so a word
    that every sentence shares counts for less than one that singles a sentence out.
    """
    wanted = content_words(question)
    candidates = [
        (order, position, sentence, content_words(sentence) & wanted)
        for order, passage in enumerate(passages)
        for position, sentence in enumerate(sentences(passage.text))
    ]
    df: dict[str, int] = {}
    for *_, matched in candidates:
        for word in matched:
            df[word] = df.get(word, 0) + 1
    weight = {word: math.log(1 + len(candidates) / count) for word, count in df.items()}
    scored = sorted(
        (-sum(weight[w] for w in matched), order, position, sentence)
        for order, position, sentence, matched in candidates
        if matched
    )
    if not scored:
        return NOT_COVERED
    best = -scored[0][0]
    chosen: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for negative, order, position, sentence in scored:
        if len(chosen) == MAX_SENTENCES or -negative < best * 2 / 3:
            break
        if sentence not in seen:
            seen.add(sentence)
            chosen.append((order, position, sentence))
    return " ".join(_cite(sentence, passages[order].index) for order, _, sentence in sorted(chosen))


def _cite(sentence: str, index: int) -> str:
    """Put ``[index]`` before the sentence's final punctuation (or after it, if none)."""
    if sentence[-1] in ".!?":
        return f"{sentence[:-1]} [{index}]{sentence[-1]}"
    return f"{sentence} [{index}]"


def answer(texts: list[str], question_text: str) -> str:
    """The reply to a conversation (see ``parse_prompt`` for the arguments)."""
    question, passages = parse_prompt(texts, question_text)
    return compose_answer(question, passages)


def estimate_tokens(text: str) -> int:
    """Tokens in ``text``, estimated as one per four characters (at least one if non-empty).

    This is OpenAI's rule of thumb for English; no tokenizer is loaded.
    """
    return math.ceil(len(text) / 4) if text else 0


def prompt_tokens(texts: Iterable[str]) -> int:
    """Prompt tokens of a conversation: each message's text plus 4 for its framing, plus 3."""
    return sum(estimate_tokens(text) + 4 for text in texts) + 3


def word_deltas(text: str) -> list[str]:
    """Word-sized pieces (each with its leading whitespace) that concatenate back to ``text``."""
    pieces = re.findall(r"\s*\S+", text)
    tail = text[len("".join(pieces)) :]
    if tail and pieces:
        pieces[-1] += tail
    return pieces or ([text] if text else [])
