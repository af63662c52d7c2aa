"""The service image, built and run for real with podman (deploy/podman/build-image.sh).

Built from a local Debian bookworm base (Docker Hub is out of reach here; the Dockerfile's
default base is the official python image), then: run with no network at all, it must become
ready and answer with citations (the model and the book's index are in the image); it runs as a
non-root user; its HEALTHCHECK turns healthy; run on the host's network against the real
PostgreSQL and Redis (a database of its own, created and dropped), it passes deploy/smoke.sh and
stores the conversation; a failed migration or ingest stops it. Measured: build time, image size,
cold start (``podman run`` to the first /readyz 200); written to reports/deploy-image.json.
Skips without podman, runc and debootstrap unless ``RAG_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from perf.serving import free_port
from tests.deploy.podman import (
    BUILD_SCRIPT,
    ROOT,
    Container,
    podman,
    podman_env,
    require_podman,
    run_container,
)
from tests.utils.postgres_service import (
    POSTGRES_URL,
    create_database,
    drop_database,
    require_postgres,
    with_database,
)
from tests.utils.redis_service import REDIS_URL, require_redis

pytestmark = pytest.mark.slow

IMAGE = "localhost/textbook-rag:test"
QUESTION = "How does a series elastic actuator measure torque?"
READY_TIMEOUT_S = 300
FIGURES: dict[str, float] = {}
REPORT = ROOT / "reports" / "deploy-image.json"

# Inside a container with no network: ask over loopback with the image's own Python.
FETCH = """
import json, sys, urllib.request, urllib.error
path, body = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
request = urllib.request.Request("http://127.0.0.1:8000" + path, data=body and body.encode(),
                                 headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=60) as response:
        print(response.status); print(response.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.code); print(exc.read().decode())
"""


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """The image, built (or rebuilt from podman's layer cache) once for this module."""
    require_podman()
    started = time.monotonic()
    build = subprocess.run(
        ["bash", str(BUILD_SCRIPT), IMAGE],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-6000:]
    FIGURES["build_s"] = round(time.monotonic() - started, 1)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    FIGURES["image_mb"] = round(size / 1e6)
    yield IMAGE
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(FIGURES, indent=2) + "\n")
    print(f"\nimage figures: {json.dumps(FIGURES)} (written to {REPORT})")  # noqa: T201


def fetch_inside(container: Container, path: str, body: str | None = None) -> tuple[int, str]:
    """(status, body) of a request to the container's own loopback, sent from inside it."""
    result = container.exec("python3", "-c", FETCH, path, *([body] if body else []), timeout=90)
    if result.returncode != 0 or "\n" not in result.stdout:
        return 0, result.stderr
    status, _, payload = result.stdout.partition("\n")
    return int(status), payload


def wait_ready_inside(container: Container, started: float) -> float:
    """Seconds from ``started`` to the first /readyz 200, polled from inside the container."""
    while time.monotonic() - started < READY_TIMEOUT_S:
        if container.status() != "running":
            pytest.fail(f"the container stopped before it was ready:\n{container.logs()[-4000:]}")
        status, _ = fetch_inside(container, "/readyz")
        if status == 200:
            return time.monotonic() - started
        time.sleep(1)
    pytest.fail(f"/readyz not 200 within {READY_TIMEOUT_S}s:\n{container.logs()[-4000:]}")


def assert_cited_answer(payload: str) -> dict:
    """The answer cites [n] markers, each one a source it returns."""
    answer = json.loads(payload)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])}
    indexes = {source["index"] for source in answer["sources"]}
    assert cited, answer["answer"]
    assert cited <= indexes, (cited, indexes)
    assert all(source["url"].startswith("/docs/") for source in answer["sources"]), answer
    return answer


def health_status(container: Container) -> str:
    state = container.inspect()["State"]
    health = state.get("Health") or state.get("Healthcheck") or {}
    return str(health.get("Status", ""))


def test_air_gapped_container_is_ready_and_answers_with_citations(image: str) -> None:
    started = time.monotonic()
    container = run_container(image, ["--network", "none"])
    try:
        FIGURES["cold_start_s"] = round(wait_ready_inside(container, started), 1)

        # really air-gapped: nothing but loopback inside
        probe = container.exec(
            "python3", "-c", "import socket; socket.create_connection(('1.1.1.1', 443), timeout=3)"
        )
        assert probe.returncode != 0, "the container reached the network"

        status, payload = fetch_inside(container, "/v1/chat", json.dumps({"question": QUESTION}))
        assert status == 200, payload
        answer = assert_cited_answer(payload)
        assert answer["model"] == "extractive", answer["model"]  # no LLM configured: offline

        # non-root, by configuration and in fact
        assert container.inspect()["Config"]["User"] == "app"
        uid = container.exec("id", "-u").stdout.strip()
        assert uid not in ("", "0"), uid

        # the image's HEALTHCHECK (kept by --format docker), run by hand: nothing schedules it here
        assert image_has_healthcheck(image)
        check = podman("healthcheck", "run", container.name, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        assert health_status(container) == "healthy"
    finally:
        container.remove()


def image_has_healthcheck(image: str) -> bool:
    found = json.loads(podman("image", "inspect", image).stdout)[0]
    # podman reports it beside Config; docker's inspect inside it
    healthcheck = found.get("Healthcheck") or found["Config"].get("Healthcheck") or {}
    test = healthcheck.get("Test") or []
    return any("readyz" in part for part in test)


def test_container_serves_from_postgres_and_redis_on_the_host(image: str) -> None:
    asyncio.run(require_postgres())
    require_redis()
    database = asyncio.run(create_database("rag_image"))
    prefix = f"rag-image-{uuid.uuid4().hex[:8]}"
    port = free_port()
    # the plain postgresql:// form hosting platforms hand out; the start script adds the driver
    plain_url = with_database(POSTGRES_URL, database).replace(
        "postgresql+asyncpg://", "postgresql://"
    )
    container = run_container(
        image,
        [
            "--network", "host",
            "--env", f"PORT={port}",
            "--env", f"RAG_DATABASE_URL={plain_url}",
            "--env", f"RAG_REDIS_URL={REDIS_URL}",
            "--env", f"RAG_RATE_LIMIT_KEY_PREFIX={prefix}",
        ],
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        wait_ready_http(container, base)
        smoke = subprocess.run(
            ["bash", str(ROOT / "deploy" / "smoke.sh"), base],
            env={**podman_env(), "SMOKE_READY_TIMEOUT_S": "30", "SMOKE_QUESTION": QUESTION},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "smoke: passed" in smoke.stdout

        # the answer was stored in this database, the rate limit counted in this Redis prefix
        stored = asyncio.run(count_messages(with_database(POSTGRES_URL, database)))
        assert stored >= 2, stored  # the question and its answer
        assert list(client.scan_iter(f"{prefix}*")), "no rate-limit key under the test prefix"
    finally:
        container.remove()
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
        asyncio.run(drop_database(database))


def wait_ready_http(container: Container, base: str) -> None:
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT_S:
        if container.status() != "running":
            pytest.fail(f"the container stopped before it was ready:\n{container.logs()[-4000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"{base}/readyz not 200 within {READY_TIMEOUT_S}s:\n{container.logs()[-4000:]}")


async def count_messages(url: str) -> int:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return int(
                (await connection.execute(text("SELECT count(*) FROM messages"))).scalar_one()
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            ["RAG_DATABASE_URL=postgresql://nobody@127.0.0.1:9/none"],
            "migrate: error",
            id="migration",
        ),
        pytest.param(
            ["RAG_INGEST_ON_START=1", "RAG_DOCS_DIR=/app/no-such-book"],
            "start: error: rag-ingest failed",
            id="ingest",
        ),
    ],
)
def test_a_failed_start_step_stops_the_container(image: str, env: list[str], message: str) -> None:
    options = ["--network", "none"]
    for item in env:
        options += ["--env", item]
    container = run_container(image, options)
    try:
        code = container.wait_exit(timeout_s=180)
        logs = container.logs()
        assert code == 1, f"exit {code}:\n{logs[-3000:]}"
        assert message in logs, logs[-3000:]
        assert "serving on" not in logs
    finally:
        container.remove()


# Paths mounted into the build: print any that holds content in the image.
LEFTOVERS = """
import os
for path in ("/run/host-ca.crt", "/opt/wheels", "/opt/pypi", "/opt/pypi-more", "/src"):
    if os.path.isfile(path) and os.path.getsize(path) or os.path.isdir(path) and os.listdir(path):
        print(path)
"""


def test_build_inputs_stay_out_of_the_image(image: str) -> None:
    """The CA bundle and the local package folders were mounted for the build only: at most
    their empty mount points remain (podman leaves those), never their content."""
    container = run_container(image, ["--network", "none"], ["sleep", "60"])
    try:
        found = container.exec("python3", "-c", LEFTOVERS)
        assert found.returncode == 0, found.stderr
        assert found.stdout.strip() == "", f"build inputs left in the image:\n{found.stdout[:2000]}"
        assert container.exec("test", "-d", "/app/data/qdrant").returncode == 0, "no baked index"
    finally:
        container.remove()


def test_the_code_and_index_layers_are_small(image: str) -> None:
    """A release changes the project and index layers only; the dependencies' layer is reused
    (built, pushed and pulled once per dependency change)."""
    history = json.loads(podman("history", "--format", "json", image).stdout)
    layers = {entry["CreatedBy"].strip(): int(entry["size"]) for entry in history}
    (venv,) = [size for created, size in layers.items() if created.endswith(" in /opt/venv")]
    (app,) = [size for created, size in layers.items() if created.endswith(" in /opt/app")]
    assert venv > 500e6, venv
    assert app < 50e6, app
    FIGURES["code_layer_mb"] = round(app / 1e6, 1)
