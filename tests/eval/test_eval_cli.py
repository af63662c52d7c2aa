"""``rag-eval`` end to end on the sample book: bad input, the baseline gate, the judge's wiring."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from eval.cli import main
from eval.report.build import RATE_METRICS
from rag.retrieval.embeddings import LocalEmbedding
from rag.settings import Settings
from tests.conftest import ROOT, SAMPLE_BOOK, SAMPLE_QA
from tests.utils.simulator import Simulator

BASELINE = ROOT / "eval" / "baselines" / "sample_book.json"
STABLE_KEYS = {"dataset", "docs", "questions", "metrics", "by_kind", "worst"}
NEW_KEYS = {"config", "ragas", "citation_problems", "per_question", "refusals"}
LATENCY_KEYS = {
    f"{stage}_{p}" for stage in ("retrieval", "generation", "total") for p in ("p50", "p95")
}


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
    bad = tmp_path / "tolerances.toml"
    bad.write_text("[tolerances]\nmrr = -1\n", encoding="utf-8")
    assert main([*args, "--baseline", str(BASELINE), "--tolerances", str(bad)]) == 1
    assert "mrr must be a number >= 0" in capsys.readouterr().err


def test_a_partly_configured_judge_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_EVAL_JUDGE_MODEL", "judge")
    assert main(["--dataset", str(SAMPLE_QA), "--docs", str(SAMPLE_BOOK)]) == 1
    err = capsys.readouterr().err
    assert "RAG_EVAL_JUDGE_BASE_URL" in err
    assert "RAG_EVAL_JUDGE_API_KEY" in err


@pytest.fixture(scope="module")
def data_dir(sample_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's sample-book index (the CLI finds it up to date and reuses it)."""
    target = tmp_path_factory.mktemp("eval-data")
    shutil.copytree(
        sample_index.qdrant_path, target / "qdrant", ignore=shutil.ignore_patterns(".lock")
    )
    return target


def run(out: Path, data_dir: Path, embed_model: LocalEmbedding, *extra: str) -> int:
    return main(
        [
            *("--dataset", str(SAMPLE_QA), "--docs", str(SAMPLE_BOOK)),
            *("--out", str(out), "--data-dir", str(data_dir), "--quiet", *extra),
        ],
        embed_model=embed_model,
    )


def report_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_sample_book_passes_the_committed_baseline(
    tmp_path: Path,
    data_dir: Path,
    embed_model: LocalEmbedding,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    code = run(out, data_dir, embed_model, "--baseline", str(BASELINE))
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "gate passed" in printed
    assert "ctx_prec" in printed
    assert "ev_ndcg" in printed

    report = report_of(out)
    assert set(report) == STABLE_KEYS | NEW_KEYS
    assert report["questions"] == 43
    assert set(report["metrics"]) == set(RATE_METRICS) | {"latency_ms"}
    assert set(report["metrics"]["latency_ms"]) == LATENCY_KEYS
    assert report["ragas"]["available"] is True
    assert report["ragas"]["judge"] is None
    # Ragas' non-LLM context metrics and answer similarity are on; the judge's are null.
    for name in ("context_precision", "context_recall", "answer_similarity", "rouge_l"):
        assert isinstance(report["metrics"][name], float), name
    assert report["metrics"]["faithfulness"] is None
    assert report["metrics"]["citation_validity"] == 1.0
    assert report["citation_problems"] == []
    assert report["by_kind"]["selected-text"]["selection_grounding"] is not None
    assert report["by_kind"]["factual"]["selection_grounding"] is None
    assert report["config"]["top_k"] == 5

    assert len(report["per_question"]) == 43
    worst = report["worst"]
    assert 0 < len(worst) <= 10
    assert [w["score"] for w in worst] == sorted(w["score"] for w in worst)
    assert all(w["score"] < 1 for w in worst)
    assert {"question", "expected", "reference_answer", "got", "answer"} <= set(worst[0])

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| kind |" in markdown
    assert "Passed." in markdown
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 5  # metrics by kind, the refusal curve, latency per stage
    assert 'aria-label="metrics by kind"' in html
    # the refusal decision as a classifier, with its threshold curve over every question
    refusals = report["refusals"]
    assert refusals["classifier"]["unanswerable"] == 4
    assert len(refusals["curve"]) > 10
    assert all(isinstance(q["gate_score"], float) for q in report["per_question"])
    assert "refusal threshold curve" in html
    assert report["metrics"]["fences_balanced"] == 1.0
    assert not re.search(r"https?://", html), "report.html must not reference external hosts"


@pytest.mark.slow
def test_a_degraded_configuration_fails_the_gate(
    tmp_path: Path,
    data_dir: Path,
    embed_model: LocalEmbedding,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One dense passage per answer, picked from two candidates.
    monkeypatch.setenv("RAG_RETRIEVAL_MODE", "dense")
    monkeypatch.setenv("RAG_TOP_K", "1")
    monkeypatch.setenv("RAG_CANDIDATE_K", "2")
    out = tmp_path / "out"
    code = run(out, data_dir, embed_model, "--baseline", str(BASELINE))
    captured = capsys.readouterr()
    assert code == 3, captured.out
    assert "gate FAILED" in captured.out
    assert "rag-eval: gate: hit@3 dropped" in captured.err
    assert report_of(out)["config"]["top_k"] == 1
    assert "FAILED: hit@3 dropped" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_judge_metrics_are_wired_to_the_judge_model(
    tmp_path: Path,
    data_dir: Path,
    embed_model: LocalEmbedding,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim.reset()
    sim.configure("judge", ttft_ms=0, tps=0)
    monkeypatch.setenv("RAG_EVAL_JUDGE_BASE_URL", sim.v1_url)
    monkeypatch.setenv("RAG_EVAL_JUDGE_MODEL", "judge")
    monkeypatch.setenv("RAG_EVAL_JUDGE_API_KEY", "test-key")
    lines = SAMPLE_QA.read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "qa.jsonl"
    subset.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        [
            *("--dataset", str(subset), "--docs", str(SAMPLE_BOOK)),
            *("--out", str(out), "--data-dir", str(data_dir), "--quiet"),
        ],
        embed_model=embed_model,
    )
    assert code == 0
    report = report_of(out)
    assert report["ragas"]["judge"] == "judge"
    assert report["ragas"]["judge_failures"] == 0, report["ragas"]["note"]
    for row in report["per_question"]:
        assert {"faithfulness", "answer_relevancy"} <= set(row["ragas"])
        assert row["ragas"]["faithfulness"] is not None
    assert {"faithfulness", "answer_relevancy"} <= set(report["metrics"])
    stats = sim.settled("judge")
    # two answered questions: faithfulness asks twice, answer relevancy three times
    assert stats["requests"] == stats["completed"] == 10
    assert sim.requests("primary") == 0
