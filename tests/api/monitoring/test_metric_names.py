"""Every metric README documents is exported by ``/metrics`` after one chat, as documented.

README's table is the operators' copy of the contract that ``deploy/prometheus`` and
``deploy/grafana`` are written against; this test keeps the two in step both ways.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.monitoring.metrics import DURATION_BUCKETS
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.api.monitoring.support import llm_settings, parse
from tests.utils.simulator import Simulator

README = Path(__file__).resolve().parents[3] / "README.md"
_ROW = re.compile(r"^\| `(rag_[a-z_]+)` \| (counter|gauge|histogram) \|([a-z_, ]*)\|")


def documented() -> list[tuple[str, str, set[str]]]:
    """(name, type, label names) of each row of README's metrics table."""
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        if match := _ROW.match(line):
            labels = {label.strip() for label in match.group(3).split(",") if label.strip()}
            rows.append((match.group(1), match.group(2), labels))
    return rows


@pytest.fixture(scope="module")
def scrape(
    sample_index: ServiceSettings, embed_model: LocalEmbedding, sim: Simulator
) -> Iterator[str]:
    sim.reset()
    settings = llm_settings(sample_index, sim)
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        chat = client.post("/v1/chat", json={"question": "What is the zero moment point?"})
        assert chat.status_code == 200, chat.text
        stream = client.post(
            "/v1/chat/stream", json={"question": "How does a series elastic actuator work?"}
        )
        assert stream.status_code == 200
        assert "event: done" in stream.text
        response = client.get("/metrics")
        assert response.status_code == 200
        yield response.text


def test_the_table_lists_the_contract():
    names = [name for name, _, _ in documented()]
    assert len(names) == 21
    assert len(set(names)) == 21


@pytest.mark.parametrize(("name", "kind", "labels"), documented(), ids=lambda v: str(v))
def test_documented_metric_is_exported_with_its_type_and_labels(
    scrape: str, name: str, kind: str, labels: set[str]
):
    families = parse(scrape)
    family = families.get(name.removesuffix("_total") if kind == "counter" else name)
    assert family is not None, f"{name} is not exported"
    assert family.type == kind
    assert family.samples, f"{name} has no series after one chat"
    for sample in family.samples:
        assert set(sample.labels) - {"le"} == labels, sample


def test_nothing_undocumented_is_exported(scrape: str):
    exported = {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in parse(scrape).values()
        if family.name.startswith("rag_")
    }
    assert exported == {name for name, _, _ in documented()}


def test_duration_histograms_have_the_agreed_buckets(scrape: str):
    families = parse(scrape)
    for name in (
        "rag_http_request_duration_seconds",
        "rag_answer_stage_duration_seconds",
        "rag_llm_time_to_first_token_seconds",
    ):
        bounds = sorted(
            {float(s.labels["le"]) for s in families[name].samples if s.name.endswith("_bucket")}
        )
        assert bounds == [*DURATION_BUCKETS, float("inf")], name
        assert 8.0 in bounds


def test_one_chat_and_one_stream_are_counted(scrape: str):
    families = parse(scrape).values()
    answers = {
        s.labels["outcome"]: s.value
        for f in families
        for s in f.samples
        if s.name == "rag_answers_total"
    }
    assert sum(answers.values()) == 2
    ttft = [
        s
        for f in families
        for s in f.samples
        if s.name == "rag_llm_time_to_first_token_seconds_count"
    ]
    assert [(s.labels["model"], s.value) for s in ttft] == [("primary", 1.0)]
