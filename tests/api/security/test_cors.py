"""CORS: only the configured origins get CORS headers, and they can read the limit headers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.security.origin_check import OriginPolicy, cors_options
from tests.utils.http_security import BOOK_ORIGIN, assert_error_body

EVIL_ORIGIN = "https://evil.example"


def preflight_response(client: TestClient, origin: str, headers: str = "content-type"):
    return client.options(
        "/v1/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def preflight(client: TestClient, origin: str, headers: str = "content-type") -> dict[str, str]:
    response = preflight_response(client, origin, headers)
    return {"status": str(response.status_code), **response.headers}


def test_preflight_from_the_book_is_allowed_with_the_api_headers(client: TestClient):
    reply = preflight(client, BOOK_ORIGIN, "content-type,x-request-id,x-api-key")

    assert reply["status"] == "200"
    assert reply["access-control-allow-origin"] == BOOK_ORIGIN
    methods = {m.strip() for m in reply["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "DELETE", "OPTIONS"}
    allowed = {h.strip().lower() for h in reply["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-request-id", "x-api-key"} <= allowed
    assert "access-control-allow-credentials" not in reply


def test_preflight_from_another_site_gets_no_cors_headers(client: TestClient):
    response = preflight_response(client, EVIL_ORIGIN)

    error = assert_error_body(response, 400, "cors_refused")
    assert "origin" in error["message"]
    assert "access-control-allow-origin" not in response.headers


def test_preflight_for_a_header_the_api_does_not_take_is_refused(client: TestClient):
    response = preflight_response(client, BOOK_ORIGIN, "x-forwarded-for")

    assert "headers" in assert_error_body(response, 400, "cors_refused")["message"]


def test_the_book_can_read_retry_after_request_id_and_rate_limit_headers(client: TestClient):
    response = client.get("/healthz", headers={"Origin": BOOK_ORIGIN})

    assert response.headers["access-control-allow-origin"] == BOOK_ORIGIN
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"Retry-After", "X-Request-ID", "RateLimit", "RateLimit-Policy"} <= exposed


def test_a_response_to_another_site_carries_no_cors_header(client: TestClient):
    response = client.get("/healthz", headers={"Origin": EVIL_ORIGIN})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_the_wildcard_is_never_sent(client: TestClient):
    for origin in (BOOK_ORIGIN, EVIL_ORIGIN, "null"):
        response = client.get("/healthz", headers={"Origin": origin})
        assert response.headers.get("access-control-allow-origin") != "*"


def test_an_origin_is_matched_exactly_not_by_prefix_or_suffix():
    policy = OriginPolicy([BOOK_ORIGIN])

    assert policy.allows(BOOK_ORIGIN)
    for lookalike in (
        "https://book.example.evil.example",
        "http://book.example",
        "https://evilbook.example",
        "https://book.example:8443",
        "null",
    ):
        assert not policy.allows(lookalike), lookalike
    assert cors_options(policy)["allow_origin_regex"] is None


@pytest.mark.parametrize(
    "origin", ["http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:8080"]
)
def test_development_without_origins_allows_pages_on_this_machine(
    dev_client: TestClient, origin: str
):
    assert preflight(dev_client, origin)["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin", [EVIL_ORIGIN, "http://localhost.evil.example", "http://localhost:3000.evil.example"]
)
def test_development_without_origins_refuses_other_sites(dev_client: TestClient, origin: str):
    assert "access-control-allow-origin" not in preflight(dev_client, origin)


def test_production_uses_only_the_listed_origins():
    policy = OriginPolicy.from_settings([BOOK_ORIGIN], env="production")

    assert not policy.allows("http://localhost:3000")
    assert OriginPolicy.from_settings([], env="production").origin_regex is None
