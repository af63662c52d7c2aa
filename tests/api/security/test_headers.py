"""Security headers on every response: CSP, nosniff, no referrer; a working policy for /docs."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from api.app import create_app
from api.security.headers import API_CSP, HTML_CSP
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding

OWN_POLICY = "default-src 'none'; script-src 'self'; frame-ancestors 'none'"


@pytest.fixture(scope="module")
def app(settings: ServiceSettings, embed_model: LocalEmbedding) -> FastAPI:
    app = create_app(settings, embed_model=embed_model)

    @app.get("/test/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<!doctype html><p>a page</p>"

    @app.get("/test/page-with-policy", response_class=HTMLResponse)
    async def page_with_policy() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><p>a page</p>", headers={"Content-Security-Policy": OWN_POLICY}
        )

    return app


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parsed}


def assert_common(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        ("GET", "/openapi.json", None),
        ("POST", "/v1/chat", {"question": "What is the zero moment point?"}),
        ("GET", "/v1/no-such-route", None),  # 404
        ("GET", "/v1/chat", None),  # 405
        ("POST", "/v1/chat", {"question": ""}),  # 422
        ("POST", "/v1/chat", {"question": "x" * 100_000}),  # 413
        ("POST", "/v1/messages/m/feedback", {"rating": "up"}),  # 404 from the route
    ],
)
def test_api_responses_get_the_strict_policy(client: TestClient, method, path, body):
    response = client.request(method, path, json=body)

    assert_common(response)
    assert response.headers["Content-Security-Policy"] == API_CSP
    policy = directives(API_CSP)
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_a_refused_origin_gets_the_headers_too(client: TestClient):
    response = client.post(
        "/v1/chat", json={"question": "What is ZMP?"}, headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert_common(response)
    assert response.headers["Content-Security-Policy"] == API_CSP


def test_the_event_stream_gets_the_headers(client: TestClient):
    with client.stream("POST", "/v1/chat/stream", json={"question": "What is ROS 2?"}) as response:
        response.read()

    assert response.headers["content-type"].startswith("text/event-stream")
    assert_common(response)
    assert response.headers["Content-Security-Policy"] == API_CSP


def test_swagger_ui_may_run_its_cdn_bundle_and_its_own_inline_script_only(client: TestClient):
    response = client.get("/docs")

    assert response.status_code == 200
    assert_common(response)
    policy = directives(response.headers["Content-Security-Policy"])
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"] == ["https://cdn.jsdelivr.net", f"'sha256-{digest}'"]
    assert "https://cdn.jsdelivr.net" in policy["style-src"]
    assert policy["connect-src"] == ["'self'"]  # "Try it out" calls this API only
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for src in re.findall(r'<script src="([^"]+)"', response.text):
        assert src.startswith("https://cdn.jsdelivr.net/"), src


def test_the_policy_hash_follows_the_page_served(client: TestClient):
    # The OAuth2 redirect page has its own inline script: its hash, not the /docs one.
    docs = directives(client.get("/docs").headers["Content-Security-Policy"])
    redirect = client.get("/docs/oauth2-redirect")
    policy = directives(redirect.headers["Content-Security-Policy"])

    script = re.search(r"<script>(.*?)</script>", redirect.text, re.DOTALL)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy["script-src"]
    assert policy["script-src"] != docs["script-src"]


def test_redoc_is_not_served(client: TestClient):
    assert client.get("/redoc").status_code == 404


def test_an_html_page_without_a_policy_gets_a_same_origin_one(client: TestClient):
    response = client.get("/test/page")

    assert response.headers["Content-Security-Policy"] == HTML_CSP
    policy = directives(HTML_CSP)
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in HTML_CSP
    assert_common(response)


def test_a_page_that_sets_its_own_policy_keeps_it(client: TestClient):
    response = client.get("/test/page-with-policy")

    assert response.headers["Content-Security-Policy"] == OWN_POLICY
    assert_common(response)
