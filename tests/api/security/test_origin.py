"""Origin check: a state-changing request from a page on another site gets 403."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.utils.http_security import BOOK_ORIGIN, assert_error_body

EVIL_ORIGIN = "https://evil.example"
# A state-changing request per method the API takes; past the origin check each is refused for
# another reason (no such message; a session id this service did not issue), at no model cost.
REQUESTS = [
    ("POST", "/v1/messages/no-such-message/feedback", {"rating": "up"}),
    ("DELETE", "/v1/sessions/no-such-session", None),
]


def send(client: TestClient, method: str, path: str, body: object, **headers: str):
    return client.request(method, path, json=body, headers=headers)


def passed_the_check(response) -> bool:
    assert response.status_code in (400, 404), response.text
    return response.json()["error"]["code"] != "forbidden_origin"


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_a_page_on_another_site_is_refused(client: TestClient, method, path, body):
    response = send(client, method, path, body, Origin=EVIL_ORIGIN)

    error = assert_error_body(response, 403, "forbidden_origin")
    assert "not allowed" in error["message"]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_the_book_passes_the_check(client: TestClient, method, path, body):
    response = send(client, method, path, body, Origin=BOOK_ORIGIN)

    assert passed_the_check(response)


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_a_request_without_origin_passes(client: TestClient, method, path, body):
    assert passed_the_check(send(client, method, path, body))


def test_a_question_from_another_site_is_refused_before_it_is_answered(client: TestClient):
    response = client.post(
        "/v1/chat",
        json={"question": "What is the zero moment point?"},
        headers={"Origin": EVIL_ORIGIN},
    )

    assert_error_body(response, 403, "forbidden_origin")


def test_cross_site_fetch_metadata_is_refused_even_without_origin(client: TestClient):
    response = send(client, *REQUESTS[0], **{"Sec-Fetch-Site": "cross-site"})

    assert_error_body(response, 403, "forbidden_origin")


def test_cross_site_fetch_metadata_from_the_allowed_origin_passes(client: TestClient):
    # The book may live on another site than the API (GitHub Pages and a hosted API).
    response = send(client, *REQUESTS[0], **{"Sec-Fetch-Site": "cross-site", "Origin": BOOK_ORIGIN})

    assert passed_the_check(response)


def test_same_origin_pages_pass(client: TestClient):
    # TestClient sends Host: testserver; a page served by the API itself has that origin.
    response = send(
        client, *REQUESTS[0], Origin="http://testserver", **{"Sec-Fetch-Site": "same-origin"}
    )

    assert passed_the_check(response)


@pytest.mark.parametrize("origin", ["null", "http://testserver.evil.example", "https://evil"])
def test_opaque_and_lookalike_origins_are_refused(client: TestClient, origin: str):
    assert_error_body(send(client, *REQUESTS[0], Origin=origin), 403, "forbidden_origin")


def test_reading_from_another_site_is_left_to_cors(client: TestClient):
    response = client.get(
        "/healthz", headers={"Origin": EVIL_ORIGIN, "Sec-Fetch-Site": "cross-site"}
    )

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_development_without_origins_takes_local_pages_only(dev_client: TestClient):
    local = send(dev_client, *REQUESTS[0], Origin="http://localhost:3000")
    other = send(dev_client, *REQUESTS[0], Origin=EVIL_ORIGIN)

    assert passed_the_check(local)
    assert_error_body(other, 403, "forbidden_origin")
