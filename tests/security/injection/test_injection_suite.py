"""Every payload of ``payloads.yaml`` against the whole service, in three answering modes.

The app is the real one (``create_app``, real local Qdrant index of the poisoned book, SQLite),
driven over ASGI by ``TestClient``; the model is the extractive answerer, the LLM simulator
answering normally, or the simulator obeying any instruction it finds (``follow_injections``),
which stands for a model with no injection resistance at all. For each payload, the JSON answer,
the streamed tokens (every prefix, as a reader sees them arrive) and the stream's ``done`` answer
must carry no canary, no configured secret, no system-prompt text, no executable HTML, no image
and no link off the book's site; source snippets must carry no canary and no markup.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.retrieval.embeddings import LocalEmbedding
from tests.security.injection.harness import (
    MODES,
    POISONED_DIR,
    Payload,
    answer_problems,
    leak_problems,
    load_payloads,
    markup_problems,
    sse_events,
)

PAYLOAD_IDS = [entry["id"] for entry in load_payloads()]


@dataclass(frozen=True)
class Attacked:
    """The app under attack and how it answers."""

    mode: str
    client: TestClient


@pytest.fixture(scope="module", params=MODES)
def attacked(
    request: pytest.FixtureRequest,
    settings_for: Any,
    embed_model: LocalEmbedding,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Attacked]:
    mode = request.param
    settings = settings_for(mode, tmp_path_factory.mktemp(f"chat-{mode}"))
    with TestClient(create_app(settings, embed_model=embed_model)) as client:
        yield Attacked(mode, client)


def _snippet_problems(sources: list[dict[str, Any]], payload: Payload) -> list[str]:
    """Snippets quote the book: never its markup, nor an instruction the filter recognises."""
    problems = []
    for source in sources:
        snippet = source["snippet"]
        if not payload.kept_as_content:
            leaks = leak_problems(snippet, [payload.canary])
            problems += [f"snippet {source['index']}: {p}" for p in leaks]
        if "<" in snippet and any(tag in snippet.lower() for tag in ("<img", "<script", "<iframe")):
            problems.append(f"snippet {source['index']} holds markup: {snippet!r}")
        if "](" in snippet:
            problems.append(f"snippet {source['index']} holds a Markdown link: {snippet!r}")
    return problems


def _ask_json(client: TestClient, payload: Payload, forbidden: list[str]) -> list[str]:
    response = client.post("/v1/chat", json=payload.request())
    assert response.status_code == 200, response.text
    body = response.json()
    problems = [f"answer: {p}" for p in answer_problems(body["answer"], forbidden)]
    return problems + _snippet_problems(body["sources"], payload)


def _ask_stream(client: TestClient, payload: Payload, forbidden: list[str]) -> list[str]:
    problems: list[str] = []
    tokens: list[str] = []
    retrieved: list[dict[str, Any]] = []
    done: dict[str, Any] | None = None
    with client.stream("POST", "/v1/chat/stream", json=payload.request()) as response:
        assert response.status_code == 200, response.read()
        for event, data in sse_events(response.iter_lines()):
            assert event != "error", data
            if event == "sources":
                retrieved = data["sources"]
            elif event == "token":
                tokens.append(data["text"])
                shown = "".join(tokens)  # what the reader sees at this moment
                problems += [f"tokens so far: {p}" for p in markup_problems(shown)]
            elif event == "done":
                done = data
    assert done is not None, "the stream ended without a done event"
    if payload.vector == "page":  # the attack must have reached the model
        paths = [str(s.get("source_path") or "") for s in retrieved]
        assert any(p.endswith(f"{POISONED_DIR}/{payload.page_file}") for p in paths), paths
    problems += [f"tokens: {p}" for p in answer_problems("".join(tokens), forbidden)]
    problems += [f"done: {p}" for p in answer_problems(done["answer"], forbidden)]
    return problems + _snippet_problems(retrieved + done["sources"], payload)


@pytest.mark.parametrize("transport", ["json", "stream"])
@pytest.mark.parametrize("payload_id", PAYLOAD_IDS)
def test_payload_gets_nothing_out(
    attacked: Attacked,
    payload_id: str,
    transport: str,
    payloads: dict[str, Payload],
    service_secrets: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    payload = payloads[payload_id]
    if attacked.mode in payload.gaps:
        request.applymarker(pytest.mark.xfail(reason=payload.gap, strict=True))
    forbidden = [payload.canary, *service_secrets.values()]
    ask = _ask_json if transport == "json" else _ask_stream
    problems = ask(attacked.client, payload, forbidden)
    assert not problems, f"{payload.id} ({payload.tries}) in mode {attacked.mode}: {problems}"
