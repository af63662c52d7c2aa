"""Regression gate: compare a report's metrics with a committed baseline."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

#: The tolerances ``rag-eval --baseline`` uses unless ``--tolerances`` names another file.
TOLERANCES_FILE = Path(__file__).with_name("tolerances.toml")


class TolerancesError(ValueError):
    """A tolerances file that cannot be used; the message names the file."""


def load_tolerances(path: Path = TOLERANCES_FILE) -> dict[str, float]:
    """Read ``[tolerances]`` (metric name = allowed absolute drop) from a TOML file.

    Raises:
        TolerancesError: the file is unreadable, not TOML, or a tolerance is not a number >= 0.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TolerancesError(f"tolerances {path}: {exc}") from exc
    table = data.get("tolerances")
    if not isinstance(table, dict) or not table:
        raise TolerancesError(f"tolerances {path}: no [tolerances] table")
    tolerances: dict[str, float] = {}
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise TolerancesError(f"tolerances {path}: {name} must be a number >= 0")
        tolerances[name] = float(value)
    return tolerances


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
