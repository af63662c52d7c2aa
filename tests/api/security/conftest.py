"""The app as an operator configures it for the book's site: allowed origins, an admin key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.http_security import secured_settings


@pytest.fixture(scope="module")
def settings(
    sample_index: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    return secured_settings(sample_index, tmp_path_factory)


@pytest.fixture(scope="module")
def app(settings: ServiceSettings, embed_model: LocalEmbedding) -> FastAPI:
    return create_app(settings, embed_model=embed_model)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def dev_client(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    """A development app with no origins configured (only pages on this machine are allowed)."""
    # Its own (empty) data folder: the module's other app holds the sample index open.
    settings = secured_settings(
        sample_index, tmp_path_factory, cors_origins=[], data_dir=tmp_path_factory.mktemp("dev")
    )
    with TestClient(create_app(settings, embed_model=embed_model)) as test_client:
        yield test_client
