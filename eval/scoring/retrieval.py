"""Retrieval and refusal metrics over a golden set, run through the same pipeline as the API.

Ranks are counted over the sources an answer gives (a refusal gives none, so a refused
answerable question is a miss). By source path, a source is relevant when it comes from an
expected page; by evidence text, when its full passage holds the question's evidence quote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from eval.book import contains_evidence
from eval.dataset import GoldenQuestion
from rag.engine import AnswerResult, TextbookQA

#: nDCG is computed over the first NDCG_K sources.
NDCG_K = 5


def _gain(rank: int) -> float:
    return 1 / math.log2(rank + 1)


@dataclass(frozen=True)
class QuestionResult:
    """What the pipeline did with one golden question.

    Attributes:
        question: The golden question.
        ranked_paths: ``source_path`` of each source, best first (None for a pinned selection).
        answered: False for a refusal (no sources).
        answer: The answer text.
        contexts: The full text of each source's passage, in the same order (may be empty when
            the caller only has the sources).
    """

    question: GoldenQuestion
    ranked_paths: list[str | None]
    answered: bool
    answer: str
    contexts: tuple[str, ...] = ()

    @property
    def rank(self) -> int | None:
        """1-based rank of the first source from an expected page, None when absent."""
        for rank, path in enumerate(self.ranked_paths, start=1):
            if path in self.question.expected_paths:
                return rank
        return None

    @property
    def evidence_rank(self) -> int | None:
        """1-based rank of the first passage holding the evidence quote, None when absent."""
        evidence = self.question.evidence
        if not evidence:
            return None
        for rank, text in enumerate(self.contexts, start=1):
            if contains_evidence(text, evidence):
                return rank
        return None

    def ndcg(self, k: int = NDCG_K) -> float:
        """nDCG@k by source path: each expected page counts once, at its first rank.

        The ideal ranking puts every expected page (at most k) first, so a single-page question
        scores ``1 / log2(rank + 1)`` and a multi-hop one needs all its pages for 1.0.
        """
        expected = self.question.expected_paths
        seen: set[str] = set()
        dcg = 0.0
        for rank, path in enumerate(self.ranked_paths[:k], start=1):
            if path in expected and path not in seen:
                seen.add(path)
                dcg += _gain(rank)
        ideal = sum(_gain(rank) for rank in range(1, min(k, len(expected)) + 1))
        return dcg / ideal if ideal else 0.0


@dataclass
class RetrievalReport:
    """hit@k, MRR, nDCG over answerable questions; refusal accuracy over unanswerable ones."""

    results: list[QuestionResult] = field(default_factory=list)

    @property
    def answerable(self) -> list[QuestionResult]:
        """Results for questions the book covers."""
        return [r for r in self.results if r.question.answerable]

    @property
    def with_evidence(self) -> list[QuestionResult]:
        """Answerable results whose question quotes its evidence."""
        return [r for r in self.answerable if r.question.evidence]

    def hit_at(self, k: int) -> float:
        """Share of answerable questions with an expected page among the first k sources."""
        rows = self.answerable
        return sum(1 for r in rows if r.rank is not None and r.rank <= k) / max(1, len(rows))

    @property
    def mrr(self) -> float:
        """Mean reciprocal rank of the first expected page."""
        rows = self.answerable
        return sum(1 / r.rank for r in rows if r.rank) / max(1, len(rows))

    @property
    def ndcg(self) -> float:
        """Mean nDCG@5 by source path (see ``QuestionResult.ndcg``)."""
        rows = self.answerable
        return sum(r.ndcg() for r in rows) / max(1, len(rows))

    def evidence_hit_at(self, k: int) -> float:
        """Share of questions with evidence whose evidence is in one of the first k passages."""
        rows = self.with_evidence
        hits = sum(1 for r in rows if r.evidence_rank is not None and r.evidence_rank <= k)
        return hits / max(1, len(rows))

    @property
    def evidence_mrr(self) -> float:
        """Mean reciprocal rank of the first passage holding the evidence."""
        rows = self.with_evidence
        return sum(1 / r.evidence_rank for r in rows if r.evidence_rank) / max(1, len(rows))

    @property
    def evidence_ndcg(self) -> float:
        """nDCG@5 with the evidence passage as the one relevant item."""
        rows = self.with_evidence
        return sum(
            _gain(r.evidence_rank) for r in rows if r.evidence_rank and r.evidence_rank <= NDCG_K
        ) / max(1, len(rows))

    @property
    def refusal_accuracy(self) -> float:
        """Share of unanswerable questions answered as not covered, with no sources."""
        rows = [r for r in self.results if not r.question.answerable]
        return sum(1 for r in rows if not r.answered) / max(1, len(rows))

    @property
    def false_refusals(self) -> list[QuestionResult]:
        """Answerable questions the pipeline refused."""
        return [r for r in self.answerable if not r.answered]


def score_answer(
    item: GoldenQuestion, result: AnswerResult, contexts: Sequence[str] = ()
) -> QuestionResult:
    """Where an answer's sources came from, for one golden question.

    Args:
        item: The golden question.
        result: The pipeline's answer.
        contexts: The full passage text of each source, in order; without them the sources'
            snippets stand in (evidence past a snippet's end is then not found).
    """
    texts = tuple(contexts) if contexts else tuple(s.snippet for s in result.sources)
    return QuestionResult(
        question=item,
        ranked_paths=[s.source_path for s in result.sources],
        answered=bool(result.sources),
        answer=result.answer,
        contexts=texts,
    )


async def evaluate_retrieval(qa: TextbookQA, questions: list[GoldenQuestion]) -> RetrievalReport:
    """Ask every question through the pipeline and score where its sources came from.

    Strict: a refused answerable question has no sources, so it counts as a miss.
    """
    report = RetrievalReport()
    for item in questions:
        result = await qa.answer(item.question, selected_text=item.selected_text)
        report.results.append(score_answer(item, result))
    return report
