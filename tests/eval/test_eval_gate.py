"""The baseline gate flags drops beyond tolerance only."""

from __future__ import annotations

from eval.gate import DEFAULT_TOLERANCES, compare

BASE = {"metrics": {"hit@5": 0.90, "mrr": 0.80, "refusal_accuracy": 0.75}}
TOL = {"hit@5": 0.02, "mrr": 0.02, "refusal_accuracy": 0.05}


def test_drop_beyond_tolerance_is_flagged() -> None:
    current = {"metrics": {"hit@5": 0.85, "mrr": 0.80, "refusal_accuracy": 0.75}}
    failures = compare(current, BASE, TOL)
    assert len(failures) == 1
    assert failures[0].startswith("hit@5 dropped from 0.900 to 0.850")


def test_drop_within_tolerance_passes() -> None:
    current = {"metrics": {"hit@5": 0.885, "mrr": 0.79, "refusal_accuracy": 0.70}}
    assert compare(current, BASE, TOL) == []


def test_exact_tolerance_passes() -> None:
    current = {"metrics": {"hit@5": 0.88, "mrr": 0.78, "refusal_accuracy": 0.70}}
    assert compare(current, BASE, TOL) == []


def test_improvement_passes() -> None:
    current = {"metrics": {"hit@5": 1.0, "mrr": 0.95, "refusal_accuracy": 1.0}}
    assert compare(current, BASE, TOL) == []


def test_missing_or_null_metrics_are_skipped() -> None:
    current = {"metrics": {"hit@5": None, "mrr": 0.5}}
    failures = compare(current, BASE, TOL)
    assert [f.split()[0] for f in failures] == ["mrr"]


def test_flat_metric_dicts_and_defaults() -> None:
    assert compare({"hit@5": 0.5}, {"hit@5": 0.9}, DEFAULT_TOLERANCES)
    assert DEFAULT_TOLERANCES["hit@5"] == 0.02
    assert DEFAULT_TOLERANCES["refusal_accuracy"] == 0.05
