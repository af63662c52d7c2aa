"""What the service really exports: a running app's /metrics after one chat and one stream."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.app import create_app
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.deploy.promql import exported_names
from tests.utils.simulator import Simulator


@pytest.fixture(scope="session")
def exposition(sample_index: ServiceSettings, embed_model: LocalEmbedding, sim: Simulator) -> str:
    """The /metrics page of the real app (the simulator as its LLMs) once it has answered."""
    sim.reset()
    settings = sample_index.model_copy(
        update={
            "llm_base_url": sim.v1_url,
            "llm_api_key": SecretStr("test"),
            "llm_model": "primary",
            "llm_fallback_models": ["backup"],
        }
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        question = {"question": "How does a series elastic actuator measure torque?"}
        assert client.post("/v1/chat", json=question).status_code == 200
        with client.stream("POST", "/v1/chat/stream", json=question) as streamed:
            assert streamed.status_code == 200
            assert "event: done" in streamed.read().decode()
        client.get("/metrics")  # so the scrape route itself is counted in the next page
        page = client.get("/metrics")
    # the app is closed here: local Qdrant admits one process, and later tests start rag-serve
    assert page.status_code == 200, page.text
    return page.text


@pytest.fixture(scope="session")
def exported_metric_names(exposition: str) -> set[str]:
    """Every series name the service exports (histogram and counter suffixes included)."""
    names = exported_names(exposition)
    assert any(name.startswith("rag_") for name in names), exposition[:2000]
    return names


@pytest.fixture(scope="session")
def exported_label_values(exposition: str) -> dict[tuple[str, str], set[str]]:
    """(series name, label) -> the values seen on the exported series."""
    values: dict[tuple[str, str], set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            for label, value in sample.labels.items():
                values.setdefault((sample.name, label), set()).add(value)
    return values
