"""Body size limit: 413 with the error body, from Content-Length or while a chunked body streams."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api.errors import ErrorMiddleware, install_error_handlers
from api.middleware.body_limit import BodyLimitMiddleware
from api.middleware.request_id import RequestIdMiddleware
from api.settings import ServiceSettings
from tests.utils.http_security import (
    BOOK_ORIGIN,
    MAX_BODY_BYTES,
    assert_error_body,
    secured_settings,
)


def chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


@pytest.fixture(scope="module")
def settings(
    sample_index: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    return secured_settings(sample_index, tmp_path_factory, max_body_bytes=MAX_BODY_BYTES)


def test_a_declared_length_over_the_limit_is_refused(client: TestClient):
    body = json.dumps({"question": "What is ZMP?", "selected_text": "x" * MAX_BODY_BYTES})

    response = client.post("/v1/chat", content=body, headers={"Content-Type": "application/json"})

    error = assert_error_body(response, 413, "payload_too_large")
    assert "4 KiB" in error["message"]


def test_the_book_can_read_the_refusal(client: TestClient):
    body = json.dumps({"question": "What is ZMP?", "selected_text": "x" * MAX_BODY_BYTES})

    response = client.post(
        "/v1/chat",
        content=body,
        headers={"Content-Type": "application/json", "Origin": BOOK_ORIGIN},
    )

    assert_error_body(response, 413, "payload_too_large")
    assert response.headers["access-control-allow-origin"] == BOOK_ORIGIN


def test_a_chunked_body_over_the_limit_is_refused(client: TestClient):
    response = client.post(
        "/v1/chat", content=chunks(3 * MAX_BODY_BYTES), headers={"Content-Type": "application/json"}
    )

    assert_error_body(response, 413, "payload_too_large")


def test_a_body_under_the_limit_reaches_the_route(client: TestClient):
    response = client.post(
        "/v1/messages/no-such-message/feedback",
        content=json.dumps({"rating": "up", "comment": "y" * 900}),
        headers={"Content-Type": "application/json"},
    )

    assert_error_body(response, 404, "not_found")


# The middleware in a real HTTP server (uvicorn on loopback), in front of an echo route.
def echo_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(echo_app(), log_level="warning", ws="none", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_the_refusal_comes_before_the_body_is_sent(server: tuple[str, int]):
    # Headers only: a server that read the body would wait for 10 MB that never come.
    with socket.create_connection(server, timeout=5) as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            data = conn.recv(65536)
            if not data:
                break
            reply += data

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_a_streamed_body_is_cut_off_at_the_limit(server: tuple[str, int]):
    host, port = server
    response = httpx.post(f"http://{host}:{port}/echo", content=chunks(16 * MAX_BODY_BYTES))

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_a_streamed_body_under_the_limit_is_read_whole(server: tuple[str, int]):
    host, port = server
    response = httpx.post(f"http://{host}:{port}/echo", content=chunks(MAX_BODY_BYTES - 10))

    assert response.status_code == 200
    assert response.json() == {"received": MAX_BODY_BYTES - 10}
