"""The baseline gate flags drops beyond tolerance only; tolerances come from a TOML file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eval.gate import TOLERANCES_FILE, TolerancesError, compare, load_tolerances
from eval.report.build import RATE_METRICS

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


def test_committed_tolerances_cover_every_rate_metric() -> None:
    tolerances = load_tolerances()
    assert set(tolerances) == set(RATE_METRICS)
    assert tolerances["hit@5"] == 0.02
    assert all(0 <= value <= 0.1 for value in tolerances.values())
    assert compare({"hit@5": 0.5}, {"hit@5": 0.9}, tolerances)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tolerances]\nmrr = -0.1\n", "mrr must be a number >= 0"),
        ('[tolerances]\nmrr = "a"\n', "mrr must be a number >= 0"),
        ("[other]\nmrr = 0.1\n", "no [tolerances] table"),
        ("[tolerances\n", "tolerances"),
    ],
)
def test_bad_tolerance_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tolerances.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TolerancesError, match=re.escape(message)) as caught:
        load_tolerances(path)
    assert str(path) in str(caught.value)


def test_default_file_is_next_to_the_gate() -> None:
    assert TOLERANCES_FILE.name == "tolerances.toml"
    assert TOLERANCES_FILE.is_file()
