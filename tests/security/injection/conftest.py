"""Fixtures of the injection suite: this run's payloads, the poisoned book, the simulator."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from qdrant_client import QdrantClient

from api.settings import ServiceSettings
from ingest.pipeline import IngestOptions, run_ingest
from rag.retrieval.embeddings import LocalEmbedding
from tests.security.injection.harness import (
    BOOK_HOST,
    HONEST,
    OBEDIENT,
    Payload,
    load_payloads,
    with_canaries,
    write_poisoned_book,
)
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator

SAMPLE_BOOK = Path(__file__).resolve().parents[3] / "sample_book" / "docs"


@pytest.fixture(scope="session")
def payloads() -> dict[str, Payload]:
    """Every payload of ``payloads.yaml`` by id, each with a canary of its own for this run."""
    return {p.id: p for p in with_canaries(load_payloads())}


@pytest.fixture(scope="session")
def service_secrets() -> dict[str, str]:
    """Secrets the service is configured with; no answer may ever contain one (LLM02)."""
    return {
        "llm_api_key": f"sk-test-{secrets.token_hex(12)}",
        "admin_api_key": f"admin-{secrets.token_hex(12)}",
        "session_secret": secrets.token_hex(24),
    }


@pytest.fixture(scope="session")
def poisoned_index(
    tmp_path_factory: pytest.TempPathFactory,
    embed_model: LocalEmbedding,
    payloads: dict[str, Payload],
) -> ServiceSettings:
    """The sample book plus one poisoned page per page payload, ingested into its own index."""
    root = tmp_path_factory.mktemp("poisoned")
    docs = write_poisoned_book(SAMPLE_BOOK, root / "docs", payloads.values())
    settings = ServiceSettings(_env_file=None, data_dir=root / "data")
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        options = IngestOptions(docs_dir=docs, collection=settings.collection, show_progress=False)
        run_ingest(options, client=client, embed_model=embed_model)
    finally:
        client.close()
    return settings


@pytest.fixture(scope="session")
def injection_sim() -> Iterator[Simulator]:
    """The LLM simulator with an ordinary model and one that obeys injected instructions."""
    fast = {"ttft_ms": 0, "tps": 0}
    models = {
        HONEST: ModelKnobs(**fast),
        OBEDIENT: ModelKnobs(**fast, follow_injections=True),
    }
    with run_simulator(models) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def settings_for(
    poisoned_index: ServiceSettings, injection_sim: Simulator, service_secrets: dict[str, str]
) -> Callable[[str, Path], ServiceSettings]:
    """Settings of the app under attack in a mode: extractive, sim or sim-obedient."""

    def build(mode: str, data_dir: Path) -> ServiceSettings:
        update: dict[str, object] = {
            "cache_max_entries": 0,  # every request reaches the model
            "rate_limit_session": "100000/minute",
            "rate_limit_address": "100000/minute",
            "rate_limit_new_sessions": "100000/minute",
            "admin_api_keys": [service_secrets["admin_api_key"]],
            "session_secret": SecretStr(service_secrets["session_secret"]),
            "book_hosts": [BOOK_HOST],
            "database_url": f"sqlite+aiosqlite:///{(data_dir / 'chat.sqlite3').as_posix()}",
        }
        if mode != "extractive":
            update |= {
                "llm_base_url": injection_sim.v1_url,
                "llm_api_key": SecretStr(service_secrets["llm_api_key"]),
                "llm_model": OBEDIENT if mode == "sim-obedient" else HONEST,
                "llm_max_attempts": 1,
                "llm_timeout_s": 5.0,
            }
        return poisoned_index.model_copy(update=update)

    return build
