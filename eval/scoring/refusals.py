"""The "not covered" decision as a classifier: its errors, and how they move with its threshold.

A refusal is the positive class. An unanswerable question refused is a true positive, an
answerable one refused a false refusal, an unanswerable one answered a miss. Precision is the
share of refusals that were right, recall the share of unanswerable questions refused.

The threshold curve replays the extractive answerer's gate (``rag.answer.extractive.Support``) over
the passages each question retrieved: for each threshold of the semantic gate, which questions would
be refused. It shows how far the default sits from the point where every unanswerable question is
refused, and what that costs in answerable questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

THRESHOLDS = tuple(round(0.20 + 0.02 * i, 2) for i in range(26))  # 0.20 .. 0.70


@dataclass(frozen=True)
class Decision:
    """One question's refusal: whether the book answers it, what the pipeline did, its score."""

    answerable: bool
    refused: bool
    score: float | None = None


def classifier(decisions: Sequence[Decision]) -> dict[str, float | int | None]:
    """Counts, precision and recall of refusals, and the false-refusal rate."""
    tp = sum(1 for d in decisions if d.refused and not d.answerable)
    fp = sum(1 for d in decisions if d.refused and d.answerable)
    fn = sum(1 for d in decisions if not d.refused and not d.answerable)
    answerable = sum(1 for d in decisions if d.answerable)
    unanswerable = len(decisions) - answerable
    return {
        "unanswerable": unanswerable,
        "unanswerable_refused": tp,
        "unanswerable_answered": fn,
        "answerable": answerable,
        "answerable_refused": fp,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / unanswerable, 4) if unanswerable else None,
        "false_refusal_rate": round(fp / answerable, 4) if answerable else None,
    }


def curve(
    decisions: Sequence[Decision], thresholds: Sequence[float] = THRESHOLDS
) -> list[dict[str, float | int | None]]:
    """The classifier at each threshold: a question is refused when its score is below it.

    Questions without a score (no gate signals recorded) are left out.
    """
    scored = [d for d in decisions if d.score is not None]
    return [
        {
            "threshold": t,
            **classifier([Decision(d.answerable, (d.score or 0.0) < t, d.score) for d in scored]),
        }
        for t in thresholds
    ]


def best_threshold(
    decisions: Sequence[Decision],
    thresholds: Sequence[float] = THRESHOLDS,
    *,
    max_false_refusals: float = 0.05,
) -> float:
    """The threshold that refuses the most unanswerable questions within the false-refusal cap.

    Ties go to the lowest threshold (the fewest answerable questions refused). Used across
    books (leave one book out), never to tune one book.
    """
    chosen, best_key = thresholds[0], None
    for point in curve(decisions, thresholds):
        rate = float(point["false_refusal_rate"] or 0.0)
        recall = float(point["recall"] or 0.0)
        # within the cap: the most recall; over it: the least excess
        key = (-max(0.0, rate - max_false_refusals), recall, -rate)
        if best_key is None or key > best_key:
            chosen, best_key = float(point["threshold"] or 0.0), key
    return chosen
