"""HTTPS only in staging and production: HSTS everywhere, plain HTTP redirected or refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.responses import PlainTextResponse

from api.app import create_app
from api.middleware.https_only import HttpsOnlyMiddleware
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.http_security import ADMIN_KEY, assert_error_body, secured_settings

PROXY = ("10.1.2.3", 40000)  # the platform's proxy, listed in RAG_TRUSTED_PROXIES
STRANGER = ("203.0.113.9", 40000)  # a client reaching the instance directly


def hsts_max_age(response) -> int:
    match = re.search(r"max-age=(\d+)", response.headers["Strict-Transport-Security"])
    assert match, response.headers["Strict-Transport-Security"]
    return int(match.group(1))


@pytest.fixture(scope="module")
def staging(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path_factory: pytest.TempPathFactory,
) -> ServiceSettings:
    return secured_settings(
        sample_index,
        tmp_path_factory,
        env="staging",
        session_secret=SecretStr("s" * 40),
        trusted_proxies=["10.0.0.0/8"],
    )


@pytest.fixture(scope="module")
def app(staging: ServiceSettings, embed_model: LocalEmbedding):
    return create_app(staging, embed_model=embed_model)


@pytest.fixture(scope="module")
def via_proxy(app) -> Iterator[TestClient]:
    with TestClient(
        app, base_url="https://rag.example", client=PROXY, follow_redirects=False
    ) as client:
        yield client


def test_every_response_carries_a_year_of_hsts(via_proxy: TestClient):
    responses = [
        via_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https"}),
        via_proxy.get("/nowhere", headers={"X-Forwarded-Proto": "https"}),
        via_proxy.post("/v1/chat", json={"question": ""}, headers={"X-Forwarded-Proto": "https"}),
        via_proxy.get("/v1/admin/stats", headers={"X-API-Key": ADMIN_KEY}),
    ]
    assert [r.status_code for r in responses] == [200, 404, 422, 200]
    assert all(hsts_max_age(r) >= 31_536_000 for r in responses)


def test_a_plain_http_get_is_redirected_to_https_with_its_query(via_proxy: TestClient):
    response = via_proxy.get(
        "/v1/sessions/abc/messages?limit=3",
        headers={"X-Forwarded-Proto": "http", "Host": "rag.example"},
    )
    assert response.status_code == 308
    assert response.headers["Location"] == "https://rag.example/v1/sessions/abc/messages?limit=3"
    assert hsts_max_age(response) >= 31_536_000
    head = via_proxy.head("/docs", headers={"X-Forwarded-Proto": "http"})
    assert head.status_code == 308


def test_a_plain_http_post_is_refused_with_the_error_body(via_proxy: TestClient):
    response = via_proxy.post(
        "/v1/chat",
        json={"question": "What is the zero moment point?"},
        headers={"X-Forwarded-Proto": "http"},
    )
    error = assert_error_body(response, 403, "https_required")
    assert "https" in error["message"].lower()
    assert hsts_max_age(response) >= 31_536_000


def test_health_checks_stay_reachable_over_plain_http(via_proxy: TestClient):
    for path in ("/healthz", "/readyz"):
        response = via_proxy.get(path, headers={"X-Forwarded-Proto": "http"})
        assert response.status_code == 200, (path, response.text)


def test_the_header_from_an_untrusted_peer_is_ignored():
    async def hello(scope, receive, send):
        await PlainTextResponse("hello")(scope, receive, send)

    app = HttpsOnlyMiddleware(hello, trusted_proxies=["10.0.0.0/8"])
    client = TestClient(app, client=STRANGER, follow_redirects=False)  # no lifespan to run
    response = client.post("/v1/chat", headers={"X-Forwarded-Proto": "http"})
    assert response.status_code == 200  # it never came through our proxy
    assert hsts_max_age(response) >= 31_536_000
    client = TestClient(app, client=PROXY, follow_redirects=False)
    assert client.post("/v1/chat", headers={"X-Forwarded-Proto": "http"}).status_code == 403
    assert client.post("/v1/chat", headers={"X-Forwarded-Proto": "https"}).status_code == 200


def test_development_adds_no_hsts_and_never_redirects(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path_factory: pytest.TempPathFactory,
):
    settings = secured_settings(
        sample_index,
        tmp_path_factory,
        trusted_proxies=["10.0.0.0/8"],
        data_dir=tmp_path_factory.mktemp("dev-https"),  # the module's app holds the index open
    )
    with TestClient(
        create_app(settings, embed_model=embed_model), client=PROXY, follow_redirects=False
    ) as client:
        response = client.get("/v1/sessions/abc/messages", headers={"X-Forwarded-Proto": "http"})
    assert response.status_code != 308
    assert "Strict-Transport-Security" not in response.headers
