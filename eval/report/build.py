"""The evaluation report: metrics from the answered questions, as JSON, Markdown and HTML.

report.json's top-level keys and metric names are stable (new ones are only added); a metric
that does not apply to a group (refusal accuracy of answerable kinds, the judge's metrics
without a judge, Ragas' without ragas) is null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from eval.scoring.answered import Answered
from eval.scoring.ragas_suite import ALL_METRICS as RAGAS_METRICS
from eval.scoring.refusals import Decision, classifier, curve
from eval.scoring.retrieval import RetrievalReport

WORST_LIMIT = 10
RETRIEVAL_METRICS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "mrr",
    "ndcg",
    "evidence_hit@5",
    "evidence_mrr",
    "evidence_ndcg",
)
ANSWER_METRICS = (
    "refusal_accuracy",
    "answerable_answered",
    "refusal_precision",
    "citation_validity",
    "selection_grounding",
    "fences_balanced",
    "whole_sentence_start",
    *RAGAS_METRICS,
)
RATE_METRICS = RETRIEVAL_METRICS + ANSWER_METRICS
STAGES = ("retrieval", "generation", "total")

Scores = Mapping[str, Mapping[str, float | None]]


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _rates(rows: Sequence[Answered], ragas: Scores) -> dict[str, Any]:
    """Rate metrics of a group; None where the group has no question the metric applies to."""
    scored = RetrievalReport(results=[row.result for row in rows])
    has_answerable = bool(scored.answerable)
    has_evidence = bool(scored.with_evidence)
    has_unanswerable = len(scored.answerable) < len(rows)
    answers = [row for row in rows if row.result.answered]
    selections = [row.grounded for row in rows if row.grounded is not None]
    refusals = classifier(_decisions(rows))
    fences = [row.fences_ok for row in answers if row.fences_ok is not None]
    starts = [row.whole_start for row in answers if row.whole_start is not None]

    def rate(value: float, applies: bool) -> float | None:
        return round(value, 4) if applies else None

    return {
        "questions": len(rows),
        "hit@1": rate(scored.hit_at(1), has_answerable),
        "hit@3": rate(scored.hit_at(3), has_answerable),
        "hit@5": rate(scored.hit_at(5), has_answerable),
        "mrr": rate(scored.mrr, has_answerable),
        "ndcg": rate(scored.ndcg, has_answerable),
        "evidence_hit@5": rate(scored.evidence_hit_at(5), has_evidence),
        "evidence_mrr": rate(scored.evidence_mrr, has_evidence),
        "evidence_ndcg": rate(scored.evidence_ndcg, has_evidence),
        "refusal_accuracy": rate(scored.refusal_accuracy, has_unanswerable),
        # 1 - the false-refusal rate, so that higher is better like every gated metric
        "answerable_answered": rate(1 - (refusals["false_refusal_rate"] or 0.0), has_answerable),
        "refusal_precision": refusals["precision"],
        "citation_validity": rate(
            sum(row.citations_ok for row in answers) / max(1, len(answers)), bool(answers)
        ),
        "selection_grounding": rate(sum(selections) / max(1, len(selections)), bool(selections)),
        "fences_balanced": rate(sum(fences) / max(1, len(fences)), bool(fences)),
        "whole_sentence_start": rate(sum(starts) / max(1, len(starts)), bool(starts)),
        **{
            name: _mean([ragas.get(row.question.id, {}).get(name) for row in rows])
            for name in RAGAS_METRICS
        },
    }


def _decisions(rows: Sequence[Answered]) -> list[Decision]:
    return [
        Decision(
            answerable=row.question.answerable,
            refused=not row.result.answered,
            score=row.gate_score,
        )
        for row in rows
    ]


def refusal_section(rows: Sequence[Answered], config: Mapping[str, Any]) -> dict[str, Any]:
    """report.json's ``refusals``: the decision as a classifier, and its threshold curve.

    ``curve`` replays the extractive gate at each ``min_similarity`` over the passages each
    question retrieved (empty when no gate scores were recorded); ``threshold`` is the one in
    force.
    """
    decisions = _decisions(rows)
    return {
        "classifier": classifier(decisions),
        "threshold": config.get("min_similarity"),
        "curve": curve(decisions) if any(d.score is not None for d in decisions) else [],
        "answerable_refused": [
            row.question.id for row in rows if row.question.answerable and not row.result.answered
        ],
        "unanswerable_answered": [
            row.question.id for row in rows if not row.question.answerable and row.result.answered
        ],
    }


def _latency(rows: Sequence[Answered]) -> dict[str, float]:
    stages = {
        "retrieval": [row.retrieval_ms for row in rows],
        "generation": [row.generation_ms for row in rows],
        "total": [row.total_ms for row in rows],
    }
    return {
        f"{stage}_{name}": round(percentile(values, share), 1)
        for stage, values in stages.items()
        for name, share in (("p50", 0.50), ("p95", 0.95))
    }


def question_scores(row: Answered, ragas: Mapping[str, float | None]) -> dict[str, float]:
    """The 0..1 scores of one question that its overall score averages.

    Answerable: nDCG by page and by evidence, valid citations (when answered), selection
    grounding (selected text) and semantic answer similarity (with ragas). Unanswerable: the
    refusal.
    """
    result = row.result
    if not row.question.answerable:
        return {"refusal": float(not result.answered)}
    scores = {"ndcg": round(result.ndcg(), 4)}
    if result.answered:
        scores["citations"] = float(row.citations_ok)
    if row.question.evidence:
        rank = result.evidence_rank
        scores["evidence_ndcg"] = round(1 / math.log2(rank + 1), 4) if rank and rank <= 5 else 0.0
    if row.grounded is not None:
        scores["grounding"] = float(row.grounded)
    if ragas.get("answer_similarity") is not None:
        # a cosine similarity; below 0 counts as 0 here
        scores["answer_similarity"] = max(0.0, float(ragas["answer_similarity"] or 0.0))
    return scores


def _per_question(rows: Sequence[Answered], ragas: Scores) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        extra = dict(ragas.get(row.question.id, {}))
        parts = question_scores(row, extra)
        out.append(
            {
                "id": row.question.id,
                "kind": row.question.kind,
                "score": round(sum(parts.values()) / len(parts), 4),
                "scores": parts,
                "rank": row.result.rank,
                "evidence_rank": row.result.evidence_rank,
                "answered": row.result.answered,
                "citations_ok": row.citations_ok,
                "grounded": row.grounded,
                "gate_score": row.gate_score,
                "fences_ok": row.fences_ok,
                "whole_start": row.whole_start,
                "retrieval_ms": round(row.retrieval_ms, 1),
                "generation_ms": round(row.generation_ms, 1),
                "total_ms": round(row.total_ms, 1),
                "ragas": extra,
            }
        )
    return out


def _worst(rows: Sequence[Answered], per_question: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lowest-scoring questions (below 1.0), worst first, with what was expected and got."""
    by_id = {row.question.id: row for row in rows}
    ranked = sorted(
        (q for q in per_question if q["score"] < 1.0), key=lambda q: (q["score"], q["id"])
    )
    worst = []
    for entry in ranked[:WORST_LIMIT]:
        row = by_id[entry["id"]]
        worst.append(
            {
                "id": entry["id"],
                "kind": entry["kind"],
                "score": entry["score"],
                "scores": entry["scores"],
                "question": row.question.question,
                "expected": sorted(row.question.expected_paths),
                "reference_answer": row.question.reference_answer,
                "rank": row.result.rank,
                "got": [p or "(selection)" for p in row.result.ranked_paths],
                "answer": row.result.answer,
                "citation_problems": list(row.citation_problems),
            }
        )
    return worst


def build_report(
    dataset: str,
    docs: str,
    rows: Sequence[Answered],
    *,
    ragas: Scores | None = None,
    ragas_status: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report.json document; its top-level keys are stable."""
    scores: Scores = ragas or {}
    overall = _rates(rows, scores)
    kinds = sorted({row.question.kind for row in rows})
    per_question = _per_question(rows, scores)
    return {
        "dataset": dataset,
        "docs": docs,
        "questions": overall.pop("questions"),
        "metrics": {**overall, "latency_ms": _latency(rows)},
        "by_kind": {
            kind: _rates([row for row in rows if row.question.kind == kind], scores)
            for kind in kinds
        },
        "worst": _worst(rows, per_question),
        "config": dict(config or {}),
        "refusals": refusal_section(rows, config or {}),
        "ragas": dict(ragas_status or {"available": False, "note": "Ragas was not run."}),
        "citation_problems": [
            {"id": row.question.id, "problems": list(row.citation_problems)}
            for row in rows
            if row.citation_problems
        ],
        "per_question": per_question,
    }


def fmt(value: object) -> str:
    """A metric for a table: 3 decimals, ``-`` for None."""
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def metric_table(
    report: Mapping[str, Any], metrics: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """A by-kind table (plus an ``all`` row) of the metrics that have a value somewhere."""
    overall = report["metrics"]
    groups = [*report["by_kind"].items(), ("all", {**overall, "questions": report["questions"]})]
    shown = [m for m in metrics if any(values.get(m) is not None for _, values in groups)]
    rows = [
        [kind, str(values["questions"]), *(fmt(values.get(m)) for m in shown)]
        for kind, values in groups
    ]
    return ["kind", "n", *shown], rows
