"""Ragas' metrics without an LLM, on our local embeddings; and the report without ragas."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from eval.scoring.ragas_suite import (
    ALL_METRICS,
    JUDGE_METRICS,
    LOCAL_METRICS,
    RagasSample,
    prepare_environment,
    score_samples,
)
from rag.retrieval.embeddings import LocalEmbedding

PASSAGE = "The capture point is the spot where a robot must step to come to a stop."
OTHER = "ROS 2 topics carry messages between nodes with a chosen quality of service."
REFERENCE = "Step onto the capture point to stop."


def sample(id_: str, **fields: object) -> RagasSample:
    values: dict[str, object] = {
        "id": id_,
        "question": "Where must the robot step?",
        "answer": REFERENCE,
        "reference": REFERENCE,
        "retrieved_contexts": (PASSAGE,),
        "reference_contexts": (PASSAGE,),
        "answerable": True,
        **fields,
    }
    return RagasSample(**values)  # type: ignore[arg-type]  # fields of the sample


def test_environment_turns_telemetry_off_and_keeps_tiktoken_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAGAS_DO_NOT_TRACK", "false")
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    prepare_environment()
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"
    cache = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    assert cache.parts[-2:] == ("_static", "tiktoken_cache")
    assert any(cache.iterdir()), "llama-index-core ships the cl100k encoding"


@pytest.mark.slow
def test_local_metrics(embed_model: LocalEmbedding) -> None:
    samples = [
        sample("same"),
        sample("off", retrieved_contexts=(OTHER,), answer=OTHER),
        sample("ranked", retrieved_contexts=(OTHER, PASSAGE)),
        sample("refused", retrieved_contexts=(), answer="The book does not cover this."),
        sample("no-evidence", reference_contexts=()),
        sample("unanswerable", answerable=False, reference_contexts=()),
    ]
    outcome = asyncio.run(score_samples(samples, embed_model, None, quiet=True))
    scores = outcome.scores
    assert outcome.status["available"] is True
    assert outcome.status["version"].startswith("0.4")
    assert outcome.status["judge"] is None
    assert "faithfulness" in outcome.status["note"]
    assert set(scores) == {s.id for s in samples}
    assert all(set(row) == set(ALL_METRICS) for row in scores.values())
    assert all(scores[s.id][name] is None for s in samples for name in JUDGE_METRICS)

    assert scores["same"]["context_precision"] == pytest.approx(1.0)
    assert scores["same"]["context_recall"] == 1.0
    assert scores["same"]["string_similarity"] == 1.0
    assert scores["same"]["rouge_l"] == 1.0
    assert scores["same"]["answer_similarity"] == pytest.approx(1.0, abs=1e-3)

    assert scores["off"]["context_precision"] == 0.0
    assert scores["off"]["context_recall"] == 0.0
    assert scores["off"]["answer_similarity"] < 0.5
    assert scores["off"]["string_similarity"] < 0.5

    assert scores["ranked"]["context_precision"] == pytest.approx(0.5)
    assert scores["ranked"]["context_recall"] == 1.0

    assert scores["refused"]["context_precision"] == scores["refused"]["context_recall"] == 0.0
    assert scores["no-evidence"]["context_recall"] is None
    assert scores["no-evidence"]["answer_similarity"] is not None
    assert all(value is None for value in scores["unanswerable"].values())


def test_without_ragas_every_metric_is_none_and_the_note_says_why(
    monkeypatch: pytest.MonkeyPatch, embed_model: LocalEmbedding
) -> None:
    monkeypatch.setitem(sys.modules, "ragas", None)  # as if the eval extra were not installed
    outcome = asyncio.run(score_samples([sample("a")], embed_model, None, quiet=True))
    assert outcome.status["available"] is False
    assert "pip install -e '.[eval]'" in outcome.status["note"]
    assert outcome.scores == {"a": dict.fromkeys(LOCAL_METRICS + JUDGE_METRICS)}
