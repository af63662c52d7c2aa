"""locust: readers of the book, as ``perf.readers`` simulates them, against a running rag-serve.

    locust -f perf/locustfile.py --host http://127.0.0.1:PORT --headless -u 100 -r 10 -t 10m \
        --csv reports/locust --html reports/locust.html

Each user is one reader: its own session and ``X-Forwarded-For`` address (run the service with
``RAG_TRUSTED_PROXIES=127.0.0.1`` and the rate limits lifted), a question every 6 s on average
(10 a minute), a follow-up every third question, a selected passage every fifth, and a stream
three times in ten, read to its ``done`` event. The time to the first ``token`` event is reported
as its own request type, ``SSE first token``. ``make load`` runs 100 users for 10 minutes.
Questions come from ``RAG_LOCUST_QUESTIONS`` (a qa.jsonl; default: the sample book's).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, constant_pacing, task

ROOT = Path(__file__).resolve().parents[1]
FOLLOW_UPS = ("Can you say more about that?", "Why does it matter?", "How is it used in practice?")
_numbers = itertools.count(1)


def _questions() -> list[str]:
    path = Path(os.environ.get("RAG_LOCUST_QUESTIONS", ROOT / "sample_book" / "qa.jsonl"))
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row["question"] for row in rows if row.get("kind") != "unanswerable"]


QUESTIONS = _questions()


class Reader(HttpUser):
    """One reader: a session, an address, a question every 6 s."""

    wait_time = constant_pacing(6.0)

    def on_start(self) -> None:
        number = next(_numbers)
        self.address = f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
        self.session_id: str | None = None
        self.step = 0
        self.rng = random.Random(number)

    def _body(self) -> dict[str, Any]:
        self.step += 1
        question = self.rng.choice(QUESTIONS)
        body: dict[str, Any] = {"question": question}
        if self.session_id is not None and self.step % 3 == 2:
            body["question"] = self.rng.choice(FOLLOW_UPS)
        if self.step % 5 == 4:
            body["selected_text"] = question
        if self.session_id:
            body["session_id"] = self.session_id
        return body

    @task
    def ask(self) -> None:
        body = self._body()
        headers = {"X-Forwarded-For": self.address}
        if self.rng.random() < 0.3:
            self._stream(body, headers)
            return
        with self.client.post(
            "/v1/chat", json=body, headers=headers, name="/v1/chat", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            self.session_id = response.json()["session_id"]

    def _stream(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        started = time.perf_counter()
        first_token: float | None = None
        done: dict[str, Any] | None = None
        error: str | None = None
        with self.client.post(
            "/v1/chat/stream",
            json=body,
            headers=headers,
            name="/v1/chat/stream",
            stream=True,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            event = ""
            for raw in response.iter_lines():
                line = raw.decode() if isinstance(raw, bytes) else raw
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "token" and first_token is None:
                        first_token = time.perf_counter() - started
                    elif event == "done":
                        done = json.loads(line[6:])
                    elif event == "error":
                        error = line[6:]
            if done is None:
                response.failure(f"stream ended without done: {error}")
                return
            self.session_id = done["session_id"]
            response.success()
        if first_token is not None:
            self.environment.events.request.fire(
                request_type="SSE",
                name="first token",
                response_time=first_token * 1000,
                response_length=0,
                exception=None,
                context={},
            )
