"""``rag-eval`` end to end on the sample book, its bad-input exits and the baseline gate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.cli import main
from tests.conftest import ROOT, SAMPLE_BOOK, SAMPLE_QA

BASELINE = ROOT / "eval" / "baselines" / "sample_book.json"
STABLE_KEYS = {"dataset", "docs", "questions", "metrics", "by_kind", "worst"}
METRICS = {"hit@1", "hit@3", "hit@5", "mrr", "ndcg", "refusal_accuracy", "citation_validity"}


def test_invalid_dataset_exits_1_with_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "qa.jsonl"
    first = SAMPLE_QA.read_text(encoding="utf-8").splitlines()[0]
    dataset.write_text(first + "\n{not json\n", encoding="utf-8")
    code = main(["--dataset", str(dataset), "--docs", str(SAMPLE_BOOK), "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert f"invalid dataset: {dataset}:2: not JSON" in err
    assert not (tmp_path / "report.json").exists()


def test_schema_error_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = tmp_path / "qa.jsonl"
    row = {"id": "x", "question": "q?", "reference_answer": "", "source_path": None}
    dataset.write_text(json.dumps({**row, "kind": "factual"}) + "\n", encoding="utf-8")
    assert main(["--dataset", str(dataset), "--docs", str(SAMPLE_BOOK)]) == 1
    assert "source_path is required" in capsys.readouterr().err


def test_missing_files_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["--dataset", str(missing), "--docs", str(SAMPLE_BOOK)]) == 1
    assert "is not a file" in capsys.readouterr().err
    assert main(["--dataset", str(SAMPLE_QA), "--docs", str(tmp_path / "nodocs")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    args = ["--dataset", str(SAMPLE_QA), "--docs", str(SAMPLE_BOOK)]
    assert main([*args, "--baseline", str(missing)]) == 1


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index for the module: the second run reuses it."""
    return tmp_path_factory.mktemp("eval-data")


@pytest.mark.slow
def test_sample_book_end_to_end_passes_the_baseline(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            *("--dataset", str(SAMPLE_QA), "--docs", str(SAMPLE_BOOK)),
            *("--out", str(out), "--data-dir", str(data_dir), "--quiet"),
            *("--baseline", str(BASELINE)),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "gate passed" in printed
    assert "hit@5" in printed
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert set(report) == STABLE_KEYS
    assert report["questions"] == 43
    assert set(report["metrics"]) == METRICS | {"latency_ms"}
    assert set(report["metrics"]["latency_ms"]) == {
        "retrieval_p50",
        "retrieval_p95",
        "generation_p50",
        "generation_p95",
    }
    assert "selected-text" in report["by_kind"]
    assert "unanswerable" in report["by_kind"]
    assert len(report["worst"]) <= 10
    assert all(w["rank"] != 1 for w in report["worst"])
    assert "| kind |" in (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2
    assert not re.search(r"https?://", html), "report.html must not reference external hosts"


@pytest.mark.slow
def test_gate_failure_exits_3(tmp_path: Path, data_dir: Path) -> None:
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    baseline["metrics"]["hit@5"] += 0.5
    bumped = tmp_path / "baseline.json"
    bumped.write_text(json.dumps(baseline), encoding="utf-8")
    # A few questions are enough to produce a report; the index is reused.
    subset = tmp_path / "qa.jsonl"
    subset.write_text(
        "\n".join(SAMPLE_QA.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    code = main(
        [
            *("--dataset", str(subset), "--docs", str(SAMPLE_BOOK)),
            *("--out", str(out), "--data-dir", str(data_dir), "--quiet"),
            *("--baseline", str(bumped)),
        ]
    )
    assert code == 3
    assert "FAILED: hit@5 dropped" in (out / "report.md").read_text(encoding="utf-8")
