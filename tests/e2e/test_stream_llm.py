"""Streaming for real: rag-serve as a process, the LLM simulator emitting tokens at a set pace."""

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from api.settings import ServiceSettings
from perf.serving import run_service
from rag.answer.prompts import cited_indexes
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator

TPS = 25  # tokens per second the simulated model emits


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with run_simulator({"paced": ModelKnobs(ttft_ms=100, tps=TPS)}) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def server(sample_index: ServiceSettings, sim: Simulator) -> Iterator[str]:
    env = {
        "RAG_LLM_BASE_URL": sim.v1_url,
        "RAG_LLM_API_KEY": "test",
        "RAG_LLM_MODEL": "paced",
        "RAG_CACHE_MAX_ENTRIES": "0",
    }
    with run_service(sample_index.data_dir, env) as (base, _pid):
        yield base


def test_tokens_reach_the_reader_as_the_model_emits_them(server: str):
    arrivals: list[tuple[str, float, dict]] = []
    started = time.perf_counter()
    body = {"question": "How does a series elastic actuator measure torque?"}
    with httpx.stream("POST", f"{server}/v1/chat/stream", json=body, timeout=30) as response:
        assert response.status_code == 200
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                arrivals.append((event, time.perf_counter() - started, json.loads(line[6:])))
    kinds = [kind for kind, _, _ in arrivals]
    assert kinds[:2] == ["meta", "sources"]
    assert kinds[-1] == "done"
    tokens = [(at, data["text"]) for kind, at, data in arrivals if kind == "token"]
    assert len(tokens) >= 10
    done_at, done = arrivals[-1][1], arrivals[-1][2]
    # paced at 25 tokens/s, the answer takes a while; the first token must not wait for it
    assert done_at - tokens[0][0] >= 0.5 * (len(tokens) - 1) / TPS
    assert done["model"] == "paced"
    assert not done["degraded"]
    assert cited_indexes(done["answer"])
    assert "".join(text for _, text in tokens).strip() == done["answer"].strip()
