"""Retrieval and refusal metrics over a golden set, run through the same pipeline as the API."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from eval.dataset import GoldenQuestion
from rag.engine import AnswerResult, TextbookQA


@dataclass(frozen=True)
class QuestionResult:
    """What the pipeline did with one golden question."""

    question: GoldenQuestion
    ranked_paths: list[str | None]
    answered: bool
    answer: str

    @property
    def rank(self) -> int | None:
        """1-based rank of the first source from an expected page, None when absent."""
        for rank, path in enumerate(self.ranked_paths, start=1):
            if path in self.question.expected_paths:
                return rank
        return None


@dataclass
class RetrievalReport:
    """hit@k, MRR, nDCG over answerable questions; refusal accuracy over unanswerable ones."""

    results: list[QuestionResult] = field(default_factory=list)

    @property
    def answerable(self) -> list[QuestionResult]:
        """Results for questions the book covers."""
        return [r for r in self.results if r.question.answerable]

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
        """Normalised DCG with one relevant page: 1/log2(rank+1)."""
        rows = self.answerable
        return sum(1 / math.log2(r.rank + 1) for r in rows if r.rank) / max(1, len(rows))

    @property
    def refusal_accuracy(self) -> float:
        """Share of unanswerable questions answered as not covered, with no sources."""
        rows = [r for r in self.results if not r.question.answerable]
        return sum(1 for r in rows if not r.answered) / max(1, len(rows))

    @property
    def false_refusals(self) -> list[QuestionResult]:
        """Answerable questions the pipeline refused."""
        return [r for r in self.answerable if not r.answered]


def score_answer(item: GoldenQuestion, result: AnswerResult) -> QuestionResult:
    """Where an answer's sources came from, for one golden question."""
    return QuestionResult(
        question=item,
        ranked_paths=[s.source_path for s in result.sources],
        answered=bool(result.sources),
        answer=result.answer,
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
