"""Chat answers from the reader's doc version and locale only, at that version's own routes.

The versioned, translated sample site is ingested into real Qdrant local mode and asked
through the real app (``/v1/chat`` and ``/v1/chat/stream``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from api.app import create_app
from api.settings import ServiceSettings
from ingest.pipeline import IngestOptions, run_ingest
from ingest.site import SiteConfig
from rag.retrieval.embeddings import LocalEmbedding
from tests.ingest.versioned_build import SAMPLE, TRUTH_FILE

QUESTION = "How is Kelp Counter calibrated?"


def built_urls(locale: str, version: str) -> set[str]:
    """Every route and route#anchor the real Docusaurus build published for a scope."""
    pages = json.loads(TRUTH_FILE.read_text(encoding="utf-8"))["locales"][locale]
    urls = set()
    for page in pages.values():
        if page["version"] == version:
            urls.add(page["route"])
            urls.update(f"{page['route']}#{anchor}" for _, anchor in page["anchors"])
    return urls


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, embed_model: LocalEmbedding
) -> Iterator[TestClient]:
    settings = ServiceSettings(_env_file=None, data_dir=tmp_path_factory.mktemp("versioned"))
    qdrant = QdrantClient(path=str(settings.qdrant_path))
    try:
        options = IngestOptions(
            docs_dir=SAMPLE,
            collection=settings.collection,
            site=SiteConfig.from_json(SAMPLE / "site.json"),
            show_progress=False,
        )
        run_ingest(options, client=qdrant, embed_model=embed_model)
    finally:
        qdrant.close()
    with TestClient(create_app(settings, embed_model=embed_model)) as test_client:
        yield test_client


def ask(client: TestClient, question: str = QUESTION, **scope: str) -> dict[str, Any]:
    response = client.post("/v1/chat", json={"question": question, **scope})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("scope", "locale", "version", "source_prefix"),
    [
        ({"version": "1.0"}, "en", "1.0", "versioned_docs/version-1.0/"),
        ({"version": "current", "locale": "en"}, "en", "current", "docs/"),
        ({"version": "1.1", "locale": "fr"}, "fr", "1.1", ""),
        ({"version": "current", "locale": "fr"}, "fr", "current", ""),
    ],
)
def test_sources_come_only_from_the_asked_version_and_locale(
    client: TestClient, scope: dict[str, str], locale: str, version: str, source_prefix: str
):
    body = ask(client, **scope)
    assert body["sources"], body
    urls = built_urls(locale, version)
    for source in body["sources"]:
        assert source["url"] in urls, source
        assert source["source_path"].startswith(source_prefix)


def test_each_version_answers_with_its_own_text(client: TestClient):
    old = ask(client, version="1.0")["answer"]
    new = ask(client, version="current")["answer"]
    assert "clicker" in old
    assert "optical" not in old
    assert "optical" in new
    assert "clicker" not in new


def test_french_readers_get_the_translation_at_its_own_route(client: TestClient):
    body = ask(client, "Comment étalonner le capteur optique ?", version="current", locale="fr")
    assert body["sources"][0]["url"].startswith("/fr/docs/next/etalonner")
    assert "étalonn" in body["answer"]


def test_defaults_are_the_last_version_and_the_default_locale(client: TestClient):
    body = ask(client)
    assert body["sources"]
    assert {s["url"] for s in body["sources"]} <= built_urls("en", "1.1")
    assert "tally wheel" in body["answer"]


def test_the_cache_keeps_versions_and_locales_apart(client: TestClient):
    question = "Explain how Kelp Counter is calibrated"
    first = ask(client, question, version="1.0")
    assert first["cached"] is False
    assert ask(client, question, version="1.0")["cached"] is True
    other = ask(client, question, version="1.1")
    assert other["cached"] is False
    assert other["sources"][0]["url"] != first["sources"][0]["url"]
    assert ask(client, question)["cached"] is True  # the default is version 1.1, locale en
    assert ask(client, question, version="1.1", locale="fr")["cached"] is False


def test_the_stream_is_filtered_too(client: TestClient):
    payload = {"question": QUESTION, "version": "1.0", "locale": "fr"}
    with client.stream("POST", "/v1/chat/stream", json=payload) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    done = json.loads(text.split("event: done\ndata: ", 1)[1].split("\n", 1)[0])
    assert done["sources"]
    assert {s["url"] for s in done["sources"]} <= built_urls("fr", "1.0")


@pytest.mark.parametrize(
    ("scope", "code", "message"),
    [
        (
            {"version": "9.9"},
            "unknown_version",
            "Unknown version '9.9': this book has versions current, 1.1, 1.0.",
        ),
        (
            {"locale": "de"},
            "unknown_locale",
            "Unknown locale 'de': this book has locales en, fr.",
        ),
    ],
)
def test_an_unknown_version_or_locale_is_a_clear_400(
    client: TestClient, scope: dict[str, str], code: str, message: str
):
    for path in ("/v1/chat", "/v1/chat/stream"):
        response = client.post(path, json={"question": QUESTION, **scope})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"] == message


@pytest.mark.parametrize(
    ("scope", "hint"),
    [
        ({"version": "../1.0"}, "must be a version name from the site's versions.json"),
        ({"locale": "fr/../en"}, "must be a locale code"),
        ({"version": 1.0}, "version"),
        ({"locale": "x" * 40}, "locale"),
    ],
)
def test_a_malformed_version_or_locale_is_refused(
    client: TestClient, scope: dict[str, Any], hint: str
):
    response = client.post("/v1/chat", json={"question": QUESTION, **scope})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert hint in error["message"]


def test_the_contract_lists_the_new_fields(client: TestClient):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ChatRequest"]
    assert {"version", "locale"} <= set(schema["properties"])
    assert "version" not in schema.get("required", [])
