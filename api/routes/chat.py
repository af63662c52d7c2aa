"""``POST /v1/chat`` (one JSON answer) and ``POST /v1/chat/stream`` (server-sent events).

Both load the session's history first (so a database outage answers 503 before any retrieval or
model work is spent), and store the question and its answer in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.db.repositories import NewMessage
from api.db.session import StorageUnavailableError
from api.deps import AdmittedQuestionDep, QADep, StoreDep
from api.errors import ServiceError
from api.middleware.observability import note_request
from api.middleware.request_id import current_request_id
from api.schemas import ChatRequest, ChatResponse, ErrorResponse, LatencyMs, Source, Usage
from api.storage import ChatStore
from rag.answer.condense import Turn
from rag.engine import (
    AnswerRequest,
    AnswerResult,
    IndexNotReadyError,
    StreamEvent,
    TextbookQA,
    collect,
)
from rag.retrieval.scopes import BookScope, UnknownScopeError
from rag.retrieval.vector_store import IndexUnavailableError

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["chat"])

KEEPALIVE_S = 10.0
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {
        "model": ErrorResponse,
        "description": "The session_id was not issued by this service (code `invalid_session`), "
        "or the book has no such version or locale (code `unknown_version` / `unknown_locale`; "
        "the message lists those it has).",
    },
    422: {"model": ErrorResponse, "description": "The request is not valid."},
    429: {
        "model": ErrorResponse,
        "description": "Over a rate limit (per session, per address, or new sessions per "
        "address); see Retry-After, RateLimit-Policy and RateLimit.",
    },
    503: {
        "model": ErrorResponse,
        "description": "The book is not indexed yet, or conversations cannot be stored now.",
    },
}
_NOT_READY = ServiceError(
    503, "index_not_ready", "The book has not been indexed yet.", retry_after=30
)


async def _scope(qa: TextbookQA, body: ChatRequest) -> BookScope:
    """The reader's doc version and locale, checked against the index."""
    try:
        return await asyncio.to_thread(qa.resolve_scope, body.version, body.locale)
    except UnknownScopeError as exc:
        raise ServiceError(400, f"unknown_{exc.field}", str(exc)) from exc


def _response(
    result: AnswerResult, *, session_id: str, message_id: str, total_ms: float
) -> ChatResponse:
    return ChatResponse(
        answer=result.answer,
        session_id=session_id,
        message_id=message_id,
        sources=[Source(**source) for source in result.sources_json()],
        model=result.model,
        degraded=result.degraded,
        cached=result.cached,
        latency_ms=LatencyMs(
            retrieval=round(result.retrieval_ms, 1),
            generation=round(result.generation_ms, 1),
            total=round(total_ms, 1),
        ),
        usage=Usage(**result.usage),
    )


def _answer_request(
    body: ChatRequest, history: list[Turn], scope: BookScope, *, stream: bool
) -> AnswerRequest:
    """What the pipeline answers: the body's question and selection, the history, the scope."""
    return AnswerRequest(
        body.question,
        history=history,
        selected_text=body.selected_text,
        selection_only=body.selection_only,
        page_url=body.page_url,
        scope=scope,
        stream=stream,
    )


def _messages(
    body: ChatRequest,
    result: AnswerResult,
    *,
    message_id: str,
    total_ms: float,
    interrupted: bool = False,
) -> tuple[NewMessage, NewMessage]:
    """The reader's message and the answer, as stored."""
    request_id = current_request_id()
    user = NewMessage(
        role="user",
        content=body.question,
        selected_text=body.selected_text,
        selection_only=body.selection_only,
        page_url=body.page_url,
        request_id=request_id,
    )
    answer = NewMessage(
        id=message_id,
        role="assistant",
        content=result.answer,
        sources=result.sources_json(),
        model=result.model,
        degraded=result.degraded,
        cached=result.cached,
        interrupted=interrupted,
        retrieval_ms=round(result.retrieval_ms, 1),
        generation_ms=round(result.generation_ms, 1),
        total_ms=round(total_ms, 1),
        prompt_tokens=int(result.usage.get("prompt_tokens", 0)),
        completion_tokens=int(result.usage.get("completion_tokens", 0)),
        cost_usd=float(result.usage.get("cost_usd", 0.0)),
        usage_estimated=bool(result.usage.get("estimated", False)),
        request_id=request_id,
    )
    return user, answer


@router.post("/chat", response_model=ChatResponse, responses=_ERRORS)
async def create_chat(qa: QADep, store: StoreDep, session: AdmittedQuestionDep) -> ChatResponse:
    """Answer a question from the book, citing the pages and headings it used."""
    started = time.perf_counter()
    body, session_id = session.body, session.id
    note_request(session_id=session_id)
    history = await store.history(session_id, max_turns=qa.history_max_turns)
    scope = await _scope(qa, body)
    try:
        request = _answer_request(body, history, scope, stream=False)
        result = await collect(qa.events(request))
    except (IndexNotReadyError, IndexUnavailableError) as exc:
        raise _NOT_READY from exc
    note_request(cached=result.cached, degraded=result.degraded)
    total = (time.perf_counter() - started) * 1000
    message_id = uuid.uuid4().hex
    user, answer = _messages(body, result, message_id=message_id, total_ms=total)
    await store.save_exchange(session_id=session_id, user=user, answer=answer)
    return _response(result, session_id=session_id, message_id=message_id, total_ms=total)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _save_interrupted(
    store: ChatStore, body: ChatRequest, session_id: str, message_id: str, partial: str
) -> None:
    """Keep the question and the part of the answer the reader saw, marked interrupted."""
    result = AnswerResult(answer=partial, sources=[], model="")
    user, answer = _messages(body, result, message_id=message_id, total_ms=0.0, interrupted=True)
    try:
        await store.save_exchange(session_id=session_id, user=user, answer=answer)
    except StorageUnavailableError:
        logger.warning("could not store an interrupted answer", exc_info=True)


@router.post(
    "/chat/stream",
    responses={
        **_ERRORS,
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events: `meta`, `sources`, `token` (`{text}`)..., then `done` (the "
            "full answer, as `POST /v1/chat` returns it) or `error` (`{code, message, "
            "request_id}`). The `done` answer has its citations checked and replaces the tokens.",
        },
    },
)
async def create_chat_stream(
    qa: QADep, store: StoreDep, session: AdmittedQuestionDep
) -> StreamingResponse:
    """Answer a question from the book, streaming the answer as server-sent events."""
    body, session_id = session.body, session.id
    note_request(session_id=session_id)
    history = await store.history(session_id, max_turns=qa.history_max_turns)
    if not body.selection_only and await qa.served_collection() is None:
        raise _NOT_READY
    scope = await _scope(qa, body)
    message_id = uuid.uuid4().hex
    request_id = current_request_id()

    async def events() -> AsyncIterator[str]:
        started = time.perf_counter()
        meta = {"session_id": session_id, "message_id": message_id, "request_id": request_id}
        yield _sse("meta", {**meta, "model": qa.model_name})
        stream = qa.events(_answer_request(body, history, scope, stream=True))
        pending: asyncio.Task[StreamEvent] | None = None
        partial: list[str] = []
        stored = False
        store.hold()  # a shutdown that cancels this stream waits for its answer to be stored
        try:
            while True:
                pending = pending or asyncio.ensure_future(anext(stream))
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_S)
                if not done:
                    yield ": keep-alive\n\n"  # long wait for the model: keep proxies from closing
                    continue
                event, pending = pending.result(), None
                if event.sources is not None:
                    yield _sse("sources", {"sources": [asdict(s) for s in event.sources]})
                elif event.delta is not None:
                    partial.append(event.delta)
                    yield _sse("token", {"text": event.delta})
                elif event.result is not None:
                    note_request(cached=event.result.cached, degraded=event.result.degraded)
                    total = (time.perf_counter() - started) * 1000
                    user, answer = _messages(
                        body, event.result, message_id=message_id, total_ms=total
                    )
                    await store.save_exchange(session_id=session_id, user=user, answer=answer)
                    stored = True
                    done_body = _response(
                        event.result, session_id=session_id, message_id=message_id, total_ms=total
                    )
                    yield _sse("done", done_body.model_dump())
        except StopAsyncIteration:
            return
        except StorageUnavailableError:
            stored = True  # nothing can be stored; the reader is told
            yield _sse(
                "error",
                {
                    "code": "storage_unavailable",
                    "message": "The answer could not be stored; please try again in a moment.",
                    "request_id": request_id,
                },
            )
        except (IndexNotReadyError, IndexUnavailableError):
            yield _sse(
                "error",
                {
                    "code": "index_not_ready",
                    "message": _NOT_READY.message,
                    "request_id": request_id,
                },
            )
        except Exception:
            logger.exception("stream failed")
            yield _sse(
                "error",
                {
                    "code": "internal_error",
                    "message": "The answer could not be completed.",
                    "request_id": request_id,
                },
            )
        finally:
            # The reader may have left: stop generating, and keep what they saw.
            with anyio.CancelScope(shield=True):
                if pending is not None:
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
                try:
                    await stream.aclose()
                    if not stored:
                        await _save_interrupted(
                            store, body, session_id, message_id, "".join(partial)
                        )
                finally:
                    store.release()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **session.headers},
    )
