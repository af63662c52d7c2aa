"""``POST /v1/chat`` with an LLM configured: the real app, the real index, the simulator as LLM.

Each test asks its own question, so none is answered from the answer cache.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ServiceSettings
from rag.answer.prompts import NOT_COVERED, cited_indexes
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.simulator import Simulator, openai_clients, simulator_llm_settings

PRIMARY, BACKUP = "primary", "backup"


@pytest.fixture(autouse=True)
def _fresh_simulator(sim: Simulator) -> None:
    sim.reset()


@pytest.fixture(scope="module")
def client(
    sample_index: ServiceSettings, embed_model: LocalEmbedding, sim: Simulator
) -> Iterator[TestClient]:
    settings = simulator_llm_settings(sample_index, sim, llm_timeout_s=2.0, llm_total_budget_s=5.0)
    with TestClient(create_app(settings, embed_model=embed_model)) as test_client:
        yield test_client


def ask(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def assert_cites_its_sources(body: dict[str, Any]) -> None:
    assert body["sources"], body
    cited = cited_indexes(body["answer"])
    assert cited, body["answer"]
    assert set(cited) <= {source["index"] for source in body["sources"]}


def test_answer_comes_from_the_primary_model_with_its_token_usage(
    client: TestClient, sim: Simulator
) -> None:
    body = ask(client, question="What is the zero moment point?")

    assert body["model"] == PRIMARY
    assert body["degraded"] is False
    assert_cites_its_sources(body)
    primary = sim.model_stats(PRIMARY)
    assert primary["requests"] == primary["completed"] == 1
    assert body["usage"]["prompt_tokens"] == primary["prompt_tokens"] > 0
    assert body["usage"]["completion_tokens"] == primary["completion_tokens"] > 0
    assert sim.requests(BACKUP) == 0


def test_primary_down_the_backup_answers(client: TestClient, sim: Simulator) -> None:
    sim.configure(PRIMARY, error_rate=1, error_kind="unavailable")

    body = ask(client, question="How fine is the angle reading of a 14-bit absolute encoder?")

    assert body["model"] == BACKUP
    assert body["degraded"] is False
    assert_cites_its_sources(body)
    assert body["usage"]["prompt_tokens"] > 0
    assert sim.model_stats(PRIMARY)["errors"]["unavailable"] == 2  # llm_max_attempts


def test_every_model_down_still_answers_from_the_book(client: TestClient, sim: Simulator) -> None:
    for name in (PRIMARY, BACKUP):
        sim.configure(name, error_rate=1, error_kind="unavailable")

    body = ask(
        client, question="What QoS settings does ROS 2's predefined sensor-data profile use?"
    )

    assert body["model"] == "extractive"
    assert body["degraded"] is True
    assert_cites_its_sources(body)
    assert body["usage"]["prompt_tokens"] == 0  # the extractive answerer costs nothing
    assert sim.requests(PRIMARY) == sim.requests(BACKUP) == 2


def test_question_outside_the_book_is_refused_without_calling_the_model(
    client: TestClient, sim: Simulator
) -> None:
    body = ask(client, question="What is the best recipe for a chocolate cake?")

    assert body["answer"] == NOT_COVERED
    assert body["sources"] == []
    assert body["degraded"] is False
    assert sim.requests(PRIMARY) == 0  # nothing relevant was retrieved, so no call was paid for


def test_the_models_refusal_is_passed_on_without_sources(
    client: TestClient, sim: Simulator
) -> None:
    # The selection is all the model sees and shares no word with the question: it refuses.
    body = ask(
        client,
        question="How do I bake sourdough bread?",
        selected_text="A torque sensor in each joint lets the controller feel contact forces.",
        selection_only=True,
    )

    assert body["answer"] == NOT_COVERED
    assert body["sources"] == []
    assert body["model"] == PRIMARY
    assert body["degraded"] is False
    assert sim.model_stats(PRIMARY)["completed"] == 1


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_shutdown_closes_the_llm_connections(
    tmp_path: Path, embed_model: LocalEmbedding, sim: Simulator
) -> None:
    # Its own (empty) data folder: the module's app holds the sample index open. A
    # selection-only question needs no index and still calls the model.
    settings = ServiceSettings(
        _env_file=None,
        data_dir=tmp_path,
        llm_base_url=sim.v1_url,
        llm_api_key=SecretStr("test"),
        llm_model=PRIMARY,
        cache_max_entries=0,
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as test_client:
        ask(
            test_client,
            question="What does a PID controller do?",
            selected_text="A PID controller adds proportional, integral and derivative terms.",
            selection_only=True,
        )
        clients = openai_clients(test_client.app_state["qa"].llm)
    try:
        assert clients
        assert all(client.is_closed() for client in clients)
    finally:
        # The leaked sockets can no longer be closed (their loop is gone): collect them here,
        # under this test's warning filter, rather than in some later test.
        del clients, test_client
        gc.collect()


def test_a_follow_up_that_stands_alone_makes_one_model_call(
    client: TestClient, sim: Simulator
) -> None:
    first = ask(client, question="What is a series elastic actuator?")
    assert sim.model_stats(PRIMARY)["requests"] == 1
    sim.reset()
    ask(client, question="How do ROS 2 services work?", session_id=first["session_id"])
    assert sim.model_stats(PRIMARY)["requests"] == 1  # the answer only: nothing to condense
    sim.reset()
    ask(client, question="Who invented it?", session_id=first["session_id"])
    # condensed with the history first (the answer may then be a refusal that costs no call);
    # tests/rag/answer/test_multiturn.py counts the condensing call itself
    assert sim.model_stats(PRIMARY)["requests"] >= 1
