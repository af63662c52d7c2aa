"""POST /v1/admin/ingest: the book re-indexed by the serving process while readers keep asking."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.settings import ServiceSettings
from tests.api.admin.conftest import ADMIN

NEW_FACT = (
    "\n\n## Quokka stride controller\n\n"
    "The quokka stride controller limits every footstep of the robot to exactly "
    "thirty-seven centimetres on loose gravel.\n"
)
QUESTION = "How long is each footstep under the quokka stride controller on loose gravel?"


def wait_for(client: TestClient, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/v1/admin/ingest/{job_id}", headers=ADMIN).json()
        if body["status"] != "running":
            return body
        time.sleep(0.2)
    raise AssertionError(f"ingest job {job_id} still running after {timeout_s} s")


def ask(client: TestClient, question: str = QUESTION) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/chat", json={"question": question})
    return response.status_code, response.json()


@pytest.mark.slow
def test_ingest_while_serving_switches_to_the_new_version(
    admin_client: TestClient, admin_settings: ServiceSettings
):
    status, before = ask(admin_client)
    assert status == 200
    assert "thirty-seven" not in before["answer"]

    page = admin_settings.docs_dir / "04-humanoids" / "balance-and-walking.md"
    page.write_text(page.read_text(encoding="utf-8") + NEW_FACT, encoding="utf-8")

    # full: every chunk is embedded again, so the job runs long enough to ask during it
    started = admin_client.post("/v1/admin/ingest", json={"full": True}, headers=ADMIN)
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] == "running"
    assert started.headers["Location"] == f"/v1/admin/ingest/{job['job_id']}"

    during: list[tuple[int, str]] = []
    seen: list[dict[str, Any]] = []  # progress while running
    while True:
        state = admin_client.get(f"/v1/admin/ingest/{job['job_id']}", headers=ADMIN).json()
        if state["status"] != "running":
            break
        seen.append(state["progress"])
        status, body = ask(admin_client)
        during.append((status, body.get("answer", "")))
        status, body = ask(admin_client, "What is the zero moment point?")
        during.append((status, body.get("answer", "")))
    # readers were answered all along, from the old version until the switch
    assert len(during) >= 4, f"the job finished before enough questions were asked: {during}"
    assert all(status == 200 for status, _ in during), during
    assert "thirty-seven" not in during[0][1]
    assert {p["stage"] for p in seen} & {"read", "embed"}, seen
    assert all(p["files_done"] <= p["files_total"] == 16 for p in seen if p["stage"] != "starting")

    final = wait_for(admin_client, job["job_id"])
    assert final["status"] == "succeeded", final
    assert final["errors"] == []
    assert final["version"] == "textbook__v2"
    assert final["summary"].startswith("published textbook__v2: 16 files (16 indexed")
    progress = final["progress"]
    assert progress["files_done"] == progress["files_total"] == 16
    assert progress["chunks_done"] == progress["chunks_total"] > 16

    status, after = ask(admin_client)
    assert status == 200
    assert "thirty-seven centimetres" in after["answer"]
    # the old version's refusal is never served from the cache; a cached answer is fine only
    # when a question asked after the switch (but before the job reported success) made it
    answered_from_new = any("thirty-seven" in answer for _, answer in during)
    assert after["cached"] is False or answered_from_new, during
    assert any(s["url"].endswith("#quokka-stride-controller") for s in after["sources"])


@pytest.mark.slow
def test_unchanged_book_publishes_nothing(admin_client: TestClient):
    started = admin_client.post("/v1/admin/ingest", headers=ADMIN)  # no body: RAG_DOCS_DIR
    assert started.status_code == 202, started.text
    final = wait_for(admin_client, started.json()["job_id"])
    assert final["status"] == "succeeded"
    assert final["version"] is None
    assert final["summary"].startswith("index already up to date: 16 files (0 indexed")


@pytest.mark.slow
def test_a_second_ingest_while_one_runs_is_refused_with_409(
    admin_client: TestClient, admin_settings: ServiceSettings
):
    page = admin_settings.docs_dir / "intro.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    first = admin_client.post("/v1/admin/ingest", json={}, headers=ADMIN)
    assert first.status_code == 202
    second = admin_client.post("/v1/admin/ingest", json={}, headers=ADMIN)
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "ingest_running"
    assert first.json()["job_id"] in error["message"]
    assert error["request_id"] == second.headers["X-Request-ID"]
    done = wait_for(admin_client, first.json()["job_id"])
    assert done["status"] == "succeeded"
    assert done["summary"].startswith("published textbook__v3: 16 files (1 indexed, 15 unchanged")
    # once it is done, a new one may start
    third = admin_client.post("/v1/admin/ingest", json={}, headers=ADMIN)
    assert third.status_code == 202
    assert wait_for(admin_client, third.json()["job_id"])["status"] == "succeeded"


def test_a_folder_without_pages_fails_and_the_old_version_keeps_serving(
    admin_client: TestClient, book_root: Path
):
    empty = book_root / "empty"
    empty.mkdir(exist_ok=True)
    (empty / "notes.txt").write_text("not a page")
    started = admin_client.post("/v1/admin/ingest", json={"docs_dir": str(empty)}, headers=ADMIN)
    assert started.status_code == 202
    final = wait_for(admin_client, started.json()["job_id"])
    assert final["status"] == "failed"
    assert final["version"] is None
    assert final["errors"] == [f"no .md or .mdx files found under {empty}"]
    assert final["summary"] is None
    status, body = ask(admin_client, "What is the zero moment point?")
    assert status == 200
    assert body["sources"]


@pytest.mark.parametrize(
    "docs_dir",
    [
        "/etc",
        "/nonexistent/folder",
        "{root}/../outside",
        "{root}/book/docs/../../..",
    ],
)
def test_folders_outside_the_allowed_roots_are_refused(
    admin_client: TestClient, book_root: Path, docs_dir: str
):
    response = admin_client.post(
        "/v1/admin/ingest", json={"docs_dir": docs_dir.format(root=book_root)}, headers=ADMIN
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "docs_dir_not_allowed"
    assert "/etc" not in error["message"]
    assert str(book_root) not in error["message"]


def test_a_symlink_out_of_a_root_is_refused(admin_client: TestClient, book_root: Path):
    link = book_root / "sneaky"
    if not link.exists():
        os.symlink("/etc", link)
    response = admin_client.post("/v1/admin/ingest", json={"docs_dir": str(link)}, headers=ADMIN)
    assert response.status_code == 403


def test_a_path_that_is_not_a_folder_is_422(admin_client: TestClient, book_root: Path):
    page = book_root / "book" / "docs" / "intro.md"
    missing = book_root / "book" / "missing"
    for path in (str(page), str(missing), f"{book_root}/a\x00b", f"{book_root}/{'x' * 300}"):
        response = admin_client.post("/v1/admin/ingest", json={"docs_dir": path}, headers=ADMIN)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "body", [{"docs_dir": ""}, {"full": "yes please"}, {"docs_dir": "x", "extra": 1}, [1]]
)
def test_bad_bodies_are_422(admin_client: TestClient, body: object):
    response = admin_client.post("/v1/admin/ingest", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_job_is_404(admin_client: TestClient):
    response = admin_client.get("/v1/admin/ingest/0123456789abcdef", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/admin/ingest"),
        ("GET", "/v1/admin/ingest/0123456789abcdef"),
        ("GET", "/v1/admin/feedback"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key-0123456789"}])
def test_admin_routes_refuse_without_a_valid_key(
    admin_client: TestClient, method: str, path: str, headers: dict[str, str]
):
    response = admin_client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
