"""One golden question as the pipeline answered it: its citation checks, grounding and timings."""

from __future__ import annotations

from dataclasses import dataclass

from eval.book import Book
from eval.dataset import GoldenQuestion
from eval.scoring.answer_checks import fences_balanced, starts_mid_sentence
from eval.scoring.retrieval import QuestionResult
from rag.answer.prompts import cited_indexes
from rag.answer.result import AnswerResult


def citation_problems(answer: AnswerResult, book: Book) -> list[str]:
    """What is wrong with an answer's citations; empty when every one is valid.

    Every ``[n]`` must name a source given with the answer, and every source must link to a page
    or ``page#anchor`` the site publishes. The pinned selection of a selected-text question is a
    source without a page (no ``source_path``): its link, when it has one, must be a page route.
    """
    given = {source.index for source in answer.sources}
    problems = [f"[{n}] names no source" for n in cited_indexes(answer.answer) if n not in given]
    for source in answer.sources:
        if source.source_path is None and not source.url:
            continue
        if source.url not in book.urls:
            problems.append(f"source [{source.index}] links to {source.url or '(nothing)'}")
    return problems


def selection_grounded(item: GoldenQuestion, answer: AnswerResult) -> bool | None:
    """For a selected-text question: does the answer rest on the selection or its page?

    True when the first source is the pinned selection or a passage of the selection's page,
    and the answer cites at least one such source. None for other questions.
    """
    if item.kind != "selected-text":
        return None
    if not answer.sources:
        return False

    def from_selection(path: str | None) -> bool:
        return path is None or path in item.expected_paths

    cited = set(cited_indexes(answer.answer))
    return from_selection(answer.sources[0].source_path) and any(
        from_selection(s.source_path) for s in answer.sources if s.index in cited
    )


@dataclass(frozen=True)
class Answered:
    """One golden question with what the pipeline answered, its checks and its timings.

    Attributes:
        result: Ranks and passages of the answer's sources.
        citation_problems: What ``citation_problems`` found (empty: valid).
        grounded: ``selection_grounded``; None unless the question is selected-text.
        retrieval_ms: Time to retrieve, as the pipeline measured it.
        generation_ms: Time to answer from the passages, as the pipeline measured it.
        total_ms: Wall time of the whole call.
        reference_contexts: The book's passages that hold the question's evidence.
        gate_score: The extractive gate's score of the passages retrieved (``Support.score``),
            for the refusal curve; None when not recorded.
    """

    result: QuestionResult
    citation_problems: tuple[str, ...]
    grounded: bool | None
    retrieval_ms: float
    generation_ms: float
    total_ms: float
    reference_contexts: tuple[str, ...] = ()
    gate_score: float | None = None

    @property
    def fences_ok(self) -> bool | None:
        """Every code fence of the answer is closed (None for a refusal)."""
        return fences_balanced(self.result.answer) if self.result.answered else None

    @property
    def whole_start(self) -> bool | None:
        """The answer does not open mid-sentence (None for a refusal)."""
        return not starts_mid_sentence(self.result.answer) if self.result.answered else None

    @property
    def citations_ok(self) -> bool:
        """True when every citation and source link is valid."""
        return not self.citation_problems

    @property
    def question(self) -> GoldenQuestion:
        """The golden question."""
        return self.result.question


def answered(
    result: QuestionResult,
    answer: AnswerResult,
    book: Book,
    *,
    total_ms: float | None = None,
    gate_score: float | None = None,
) -> Answered:
    """Bundle a scored question with its checks, the evidence passages and its timings."""
    item = result.question
    return Answered(
        result=result,
        citation_problems=tuple(citation_problems(answer, book)),
        grounded=selection_grounded(item, answer),
        retrieval_ms=answer.retrieval_ms,
        generation_ms=answer.generation_ms,
        total_ms=answer.retrieval_ms + answer.generation_ms if total_ms is None else total_ms,
        reference_contexts=tuple(book.evidence_passages(item.expected_paths, item.evidence)),
        gate_score=gate_score,
    )
