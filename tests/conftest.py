"""Shared fixtures: the real embedding model, a real local Qdrant index of the sample book."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from api.settings import ServiceSettings
from ingest.pipeline import IngestOptions, run_ingest
from rag.retrieval.embeddings import LocalEmbedding, build_embed_model
from rag.settings import Settings
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_BOOK = ROOT / "sample_book" / "docs"
SAMPLE_QA = ROOT / "sample_book" / "qa.jsonl"


def shared_corpora() -> Path:
    """Where the team's shared corpora live (``../shared/corpora`` beside the repo)."""
    return Path(os.environ.get("RAG_SHARED_DIR", ROOT.parent / "shared")) / "corpora"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> ServiceSettings:
    """Default settings over a fresh data folder (the service's, so apps can be built on them)."""
    data_dir = tmp_path_factory.mktemp("data")
    return ServiceSettings(_env_file=None, data_dir=data_dir)


@pytest.fixture(scope="session")
def embed_model(base_settings: ServiceSettings) -> LocalEmbedding:
    return build_embed_model(base_settings)


@pytest.fixture(scope="session")
def sample_index(base_settings: ServiceSettings, embed_model: LocalEmbedding) -> ServiceSettings:
    """The sample book ingested once into a local Qdrant index; yields settings pointing at it."""
    client = QdrantClient(path=str(base_settings.qdrant_path))
    try:
        run_ingest(
            IngestOptions(
                docs_dir=SAMPLE_BOOK, collection=base_settings.collection, show_progress=False
            ),
            client=client,
            embed_model=embed_model,
        )
    finally:
        client.close()
    return base_settings


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    """The LLM simulator with two instant models, ``primary`` and ``backup`` (reset it per test)."""
    fast = ModelKnobs(ttft_ms=0, tps=0)
    with run_simulator({"primary": fast, "backup": fast}) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def physical_ai_index(
    tmp_path_factory: pytest.TempPathFactory, embed_model: LocalEmbedding
) -> Settings:
    """The shared physical-ai corpus, ingested once (skipped where the corpus is absent)."""
    docs = shared_corpora() / "physical-ai" / "docs"
    if not docs.is_dir():
        pytest.skip(f"corpus not found at {docs} (set RAG_SHARED_DIR to the shared folder)")
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("physical-ai"))
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        options = IngestOptions(
            docs_dir=docs, collection=settings.collection, trailing_slash=False, show_progress=False
        )
        run_ingest(options, client=client, embed_model=embed_model)
    finally:
        client.close()
    return settings
