"""An app with admin keys over its own copy of the sample index (the admin tests change it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.conftest import SAMPLE_BOOK

ADMIN_KEY = "admin-key-for-tests-0123456789"
ADMIN = {"X-API-Key": ADMIN_KEY}
# The tests ask many questions from one address: the limits are not what they test.
NO_RATE_LIMITS = {
    "rate_limit_session": "100000/minute",
    "rate_limit_address": "100000/day",
    "rate_limit_new_sessions": "100000/hour",
}


@pytest.fixture(scope="module")
def book_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RAG_DOCS_ROOTS: a folder holding a copy of the sample book as ``book/docs``."""
    root = tmp_path_factory.mktemp("books")
    shutil.copytree(SAMPLE_BOOK, root / "book" / "docs")
    return root


@pytest.fixture(scope="module")
def admin_settings(
    sample_index: ServiceSettings, book_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """Settings over a private copy of the sample index, with an admin key and docs roots."""
    data_dir = tmp_path_factory.mktemp("admin-data")
    shutil.copytree(sample_index.qdrant_path, data_dir / "qdrant")
    return ServiceSettings(
        _env_file=None,
        data_dir=data_dir,
        admin_api_keys=[ADMIN_KEY],
        docs_dir=book_root / "book" / "docs",
        docs_roots=[str(book_root)],
        **NO_RATE_LIMITS,
    )


@pytest.fixture(scope="module")
def admin_client(
    admin_settings: ServiceSettings, embed_model: LocalEmbedding
) -> Iterator[TestClient]:
    with TestClient(create_app(admin_settings, embed_model=embed_model)) as client:
        yield client
