"""Simulated readers over HTTP: each its own session and client address, asking at a fixed rate.

A reader asks a question from the golden set every ``interval_s`` seconds (open loop: a slow answer
does not slow the reader down), alternating a plain question, a follow-up in the same session, a
question about a selected passage, and streams (read to the end; the first ``token`` event is the
time to first token). ``closed_loop`` runs readers back to back instead, for throughput.

The service must trust 127.0.0.1 as a proxy (``RAG_TRUSTED_PROXIES=127.0.0.1``) for the
``X-Forwarded-For`` address of each reader to count as its own.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

FOLLOW_UPS = ("Can you say more about that?", "Why does it matter?", "How is it used in practice?")
TIMEOUT_S = 30.0


@dataclass
class Sample:
    """One request a reader made, as the reader saw it."""

    kind: str  # "chat" or "stream"
    follow_up: bool
    selection: bool
    status: int  # HTTP status; 0 for a transport error or a client time-out
    total_ms: float
    retrieval_ms: float | None = None
    generation_ms: float | None = None
    ttft_ms: float | None = None
    completion_tokens: int = 0
    error: str | None = None
    started: float = 0.0


@dataclass
class Reader:
    """One simulated reader: its address, its session and where it is in its script."""

    number: int
    questions: Sequence[str]
    stream_share: float = 0.3
    session_id: str | None = None
    step: int = 0
    rng: random.Random = field(default_factory=random.Random)

    @property
    def address(self) -> str:
        return f"10.{(self.number >> 16) & 255}.{(self.number >> 8) & 255}.{self.number & 255}"

    def next_request(self) -> tuple[dict[str, Any], bool, bool, bool]:
        """The next body, and whether it is a follow-up, has a selection, and is streamed."""
        self.step += 1
        question = self.rng.choice(self.questions)
        follow_up = self.session_id is not None and self.step % 3 == 2
        selection = self.step % 5 == 4
        body: dict[str, Any] = {"question": question}
        if follow_up:
            body["question"] = self.rng.choice(FOLLOW_UPS)
        if selection:
            body["selected_text"] = question  # a passage-sized text that the book is about
        if self.session_id:
            body["session_id"] = self.session_id
        stream = self.rng.random() < self.stream_share
        return body, follow_up, selection, stream


async def _chat(http: httpx.AsyncClient, reader: Reader, body: dict[str, Any]) -> Sample:
    started = time.perf_counter()
    response = await http.post(
        "/v1/chat", json=body, headers={"X-Forwarded-For": reader.address}, timeout=TIMEOUT_S
    )
    total = (time.perf_counter() - started) * 1000
    sample = Sample("chat", False, False, response.status_code, total, started=started)
    if response.status_code == 200:
        data = response.json()
        reader.session_id = data["session_id"]
        sample.retrieval_ms = data["latency_ms"]["retrieval"]
        sample.generation_ms = data["latency_ms"]["generation"]
        sample.completion_tokens = int(data["usage"]["completion_tokens"])
    else:
        sample.error = _code(response.text)
    return sample


async def _stream(http: httpx.AsyncClient, reader: Reader, body: dict[str, Any]) -> Sample:
    started = time.perf_counter()
    ttft: float | None = None
    done: dict[str, Any] | None = None
    error: str | None = None
    async with http.stream(
        "POST",
        "/v1/chat/stream",
        json=body,
        headers={"X-Forwarded-For": reader.address},
        timeout=TIMEOUT_S,
    ) as response:
        if response.status_code != 200:
            await response.aread()
            total = (time.perf_counter() - started) * 1000
            return Sample(
                "stream",
                False,
                False,
                response.status_code,
                total,
                error=_code(response.text),
                started=started,
            )
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "token" and ttft is None:
                    ttft = (time.perf_counter() - started) * 1000
                elif event == "done":
                    done = json.loads(line[6:])
                elif event == "error":
                    error = json.loads(line[6:]).get("code", "error")
    total = (time.perf_counter() - started) * 1000
    sample = Sample("stream", False, False, 200, total, ttft_ms=ttft, started=started)
    if done is None:
        sample.status, sample.error = 0, error or "no done event"
        return sample
    reader.session_id = done["session_id"]
    sample.retrieval_ms = done["latency_ms"]["retrieval"]
    sample.generation_ms = done["latency_ms"]["generation"]
    sample.completion_tokens = int(done["usage"]["completion_tokens"])
    return sample


def _code(text: str) -> str:
    try:
        return str(json.loads(text).get("error", {}).get("code", "error"))
    except (ValueError, AttributeError):
        return "error"


async def ask(http: httpx.AsyncClient, reader: Reader) -> Sample:
    """One question of ``reader``'s script; errors are samples too."""
    body, follow_up, selection, stream = reader.next_request()
    started = time.perf_counter()
    try:
        sample = await (_stream if stream else _chat)(http, reader, body)
    except (httpx.TransportError, httpx.TimeoutException) as exc:
        total = (time.perf_counter() - started) * 1000
        sample = Sample("stream" if stream else "chat", 0, 0, 0, total, error=type(exc).__name__)
    sample.follow_up, sample.selection, sample.started = follow_up, selection, started
    return sample


def _client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=TIMEOUT_S)


async def open_loop(
    base_url: str,
    questions: Sequence[str],
    *,
    readers: int,
    duration_s: float,
    interval_s: float = 6.0,
    seed: int = 0,
) -> list[Sample]:
    """``readers`` readers, each asking every ``interval_s`` seconds for ``duration_s``."""
    samples: list[Sample] = []
    deadline = time.perf_counter() + duration_s

    async def run(reader: Reader, http: httpx.AsyncClient) -> None:
        await asyncio.sleep(reader.rng.uniform(0, interval_s))  # spread the readers out
        pending: set[asyncio.Task[None]] = set()
        while time.perf_counter() < deadline:
            tick = time.perf_counter()

            async def one() -> None:
                samples.append(await ask(http, reader))

            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - tick)))
        if pending:
            await asyncio.gather(*pending)

    async with _client(base_url, max(readers, 10)) as http:
        crowd = [
            Reader(i + 1, questions, rng=random.Random(seed * 100_003 + i)) for i in range(readers)
        ]
        await asyncio.gather(*(run(r, http) for r in crowd))
    return samples


async def closed_loop(
    base_url: str,
    questions: Sequence[str],
    *,
    readers: int,
    duration_s: float,
    stream_share: float = 0.0,
    seed: int = 0,
) -> tuple[list[Sample], float]:
    """``readers`` readers asking back to back; the samples and the seconds it ran."""
    samples: list[Sample] = []
    started = time.perf_counter()
    deadline = started + duration_s

    async def run(reader: Reader, http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            samples.append(await ask(http, reader))

    async with _client(base_url, readers) as http:
        crowd = [
            Reader(i + 1, questions, stream_share=stream_share, rng=random.Random(seed + i))
            for i in range(readers)
        ]
        await asyncio.gather(*(run(r, http) for r in crowd))
    return samples, time.perf_counter() - started


def as_json(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """Samples as plain dicts."""
    return [asdict(s) for s in samples]
