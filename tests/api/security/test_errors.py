"""One error body for every failure, with the request id, and never an internal detail."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.deps import StoreDep
from api.settings import ServiceSettings
from rag.retrieval.embeddings import LocalEmbedding
from tests.utils.http_security import assert_error_body, secured_settings
from tests.utils.session_ids import signed_session_id

SECRET = "hunter2-very-secret"  # noqa: S105 - what must not leak
# What no error body may contain: tracebacks, code paths, SQL, the secret behind the failure.
LEAKS = [
    "Traceback",
    'File "',
    ".py",
    "/work/",
    "/tmp/",  # noqa: S108 - a path that must not leak
    "SELECT",
    "no_such_table",
    "sqlalchemy",
    "RuntimeError",
    "OperationalError",
    SECRET,
]


def assert_no_leak(body: str) -> None:
    for leak in LEAKS:
        assert leak not in body, f"{leak!r} in {body}"


@pytest.fixture(scope="module")
def app(settings: ServiceSettings, embed_model: LocalEmbedding) -> FastAPI:
    """The service with routes that fail, registered only in this test app."""
    app = create_app(settings, embed_model=embed_model)

    @app.get("/test/crash")
    async def crash() -> None:
        raise RuntimeError(f"password={SECRET} in /etc/rag/secret.env")

    @app.get("/test/db-error")
    async def db_error(store: StoreDep) -> None:
        async with store.engine.connect() as conn:
            await conn.execute(text(f"SELECT token FROM no_such_table WHERE k = '{SECRET}'"))  # noqa: S608

    @app.get("/test/crash-mid-stream")
    async def crash_mid_stream(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            yield "event: meta\ndata: {}\n\n"
            raise RuntimeError(SECRET)

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.mark.parametrize("path", ["/test/crash", "/test/db-error"])
def test_a_crash_answers_500_with_the_request_id_and_no_internals(
    client: TestClient, path: str, caplog: pytest.LogCaptureFixture
):
    # TestClient re-raises exceptions that escape the app: this passing means none did.
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        response = client.get(path, headers={"X-Request-ID": "req-crash-0001"})

    error = assert_error_body(response, 500, "internal_error")
    assert error["request_id"] == "req-crash-0001"
    assert_no_leak(response.text)
    logged = [r for r in caplog.records if r.exc_info]
    assert logged, "the crash was not logged with its traceback"
    assert SECRET in str(logged[-1].exc_info[1])  # the log keeps the cause the body hides


def test_a_crash_after_the_stream_started_drops_the_connection(client: TestClient):
    # Nothing more can be said once a 200 is on the wire: the server must cut the response.
    with pytest.raises(RuntimeError), client.stream("GET", "/test/crash-mid-stream") as response:
        response.read()


def test_an_unknown_route_is_404_with_the_error_body(client: TestClient):
    response = client.get("/v1/no-such-route/../../etc/passwd")

    assert_error_body(response, 404, "not_found")
    assert_no_leak(response.text)


def test_a_wrong_method_is_405_with_the_error_body_and_allow(client: TestClient):
    response = client.get("/v1/chat")

    assert_error_body(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"question": ', "JSON"),
        (b"not json at all", "JSON"),
        (b"[1, 2]", "valid dictionary"),
        (b"", "Field required"),
        (b'{"question": "\xff\xfe"}', "not valid JSON"),  # not UTF-8
    ],
)
def test_a_malformed_body_is_422_with_the_error_body(client: TestClient, content: bytes, words):
    response = client.post("/v1/chat", content=content)

    error = assert_error_body(response, 422, "invalid_request")
    assert words in error["message"]
    assert_no_leak(response.text)


def test_a_validation_error_does_not_echo_the_input(client: TestClient):
    response = client.post("/v1/chat", json={"question": SECRET * 40})

    assert_error_body(response, 422, "invalid_request")
    assert SECRET not in response.text


@pytest.fixture(scope="module")
def broken_db_client(
    sample_index: ServiceSettings,
    embed_model: LocalEmbedding,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    """An app whose database lost its tables (no index needed for these routes)."""
    settings = secured_settings(
        sample_index, tmp_path_factory, data_dir=tmp_path_factory.mktemp("broken-db")
    )
    app = create_app(settings, embed_model=embed_model)

    @app.post("/test/drop-tables")
    async def drop_tables(store: StoreDep) -> None:
        async with store.engine.begin() as conn:
            for table in ("feedback", "messages", "chat_sessions"):
                await conn.execute(text(f"DROP TABLE {table}"))

    with TestClient(app) as test_client:
        assert test_client.post("/test/drop-tables").status_code == 200
        yield test_client


def test_a_database_error_in_a_route_is_503_without_sql(broken_db_client: TestClient):
    response = broken_db_client.get(f"/v1/sessions/{signed_session_id()}/messages")

    assert_error_body(response, 503, "storage_unavailable")
    assert response.headers["Retry-After"]
    assert_no_leak(response.text)
