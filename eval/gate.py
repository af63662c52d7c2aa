"""Regression gate: compare a report's metrics with a committed baseline."""

from __future__ import annotations

from typing import Any

#: How far each metric may drop below the baseline before the gate fails (absolute, 0..1 scale).
DEFAULT_TOLERANCES: dict[str, float] = {
    "hit@1": 0.05,
    "hit@3": 0.03,
    "hit@5": 0.02,
    "mrr": 0.02,
    "ndcg": 0.02,
    "refusal_accuracy": 0.05,
    "citation_validity": 0.02,
}


def compare(
    current: dict[str, Any], baseline: dict[str, Any], tolerances: dict[str, float]
) -> list[str]:
    """One message per metric that dropped by more than its tolerance; empty when the gate passes.

    Either argument may be a whole report (its ``metrics`` are used) or a flat metrics dict.
    Metrics missing or null on either side are not compared.
    """
    now = current.get("metrics", current)
    before = baseline.get("metrics", baseline)
    failures = []
    for name, tolerance in tolerances.items():
        new, old = now.get(name), before.get(name)
        if not isinstance(new, int | float) or not isinstance(old, int | float):
            continue
        if old - new > tolerance + 1e-9:
            failures.append(
                f"{name} dropped from {old:.3f} to {new:.3f} "
                f"(-{old - new:.3f}, tolerance {tolerance:.3f})"
            )
    return failures
