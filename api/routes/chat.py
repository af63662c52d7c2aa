"""``POST /v1/chat`` (one JSON answer) and ``POST /v1/chat/stream`` (server-sent events)."""

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

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.deps import QADep
from api.errors import ServiceError
from api.middleware import current_request_id
from api.schemas import ChatRequest, ChatResponse, ErrorResponse, LatencyMs, Source, Usage
from rag.engine import AnswerResult, IndexNotReadyError, StreamEvent
from rag.vector_store import IndexUnavailableError

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["chat"])

KEEPALIVE_S = 10.0
_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorResponse, "description": "The request is not valid."},
    503: {"model": ErrorResponse, "description": "The book is not indexed yet."},
}
_NOT_READY = ServiceError(
    503, "index_not_ready", "The book has not been indexed yet.", retry_after=30
)


def _response(
    body: ChatRequest, result: AnswerResult, *, session_id: str, message_id: str, total_ms: float
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


@router.post("/chat", response_model=ChatResponse, responses=_ERRORS)
async def create_chat(body: ChatRequest, qa: QADep) -> ChatResponse:
    """Answer a question from the book, citing the pages and headings it used."""
    started = time.perf_counter()
    try:
        result = await qa.answer(
            body.question,
            selected_text=body.selected_text,
            selection_only=body.selection_only,
            page_url=body.page_url,
        )
    except (IndexNotReadyError, IndexUnavailableError) as exc:
        raise _NOT_READY from exc
    return _response(
        body,
        result,
        session_id=body.session_id or uuid.uuid4().hex,
        message_id=uuid.uuid4().hex,
        total_ms=(time.perf_counter() - started) * 1000,
    )


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


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
async def create_chat_stream(body: ChatRequest, qa: QADep) -> StreamingResponse:
    """Answer a question from the book, streaming the answer as server-sent events."""
    if not await asyncio.to_thread(qa.is_ready) and not body.selection_only:
        raise _NOT_READY
    session_id = body.session_id or uuid.uuid4().hex
    message_id = uuid.uuid4().hex
    request_id = current_request_id()

    async def events() -> AsyncIterator[str]:
        started = time.perf_counter()
        meta = {"session_id": session_id, "message_id": message_id, "request_id": request_id}
        yield _sse("meta", {**meta, "model": qa.model_name})
        stream = qa.stream_answer(
            body.question,
            selected_text=body.selected_text,
            selection_only=body.selection_only,
            page_url=body.page_url,
        )
        pending: asyncio.Task[StreamEvent] | None = None
        try:
            while True:
                pending = pending or asyncio.ensure_future(anext(stream))
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_S)
                if not done:
                    yield ": keep-alive\n\n"  # long wait for the model: keep proxies from closing
                    continue
                event, pending = pending.result(), None
                if event.sources is not None:
                    sources = [asdict(s) for s in event.sources]
                    yield _sse("sources", {"sources": sources})
                elif event.delta is not None:
                    yield _sse("token", {"text": event.delta})
                elif event.result is not None:
                    total = (time.perf_counter() - started) * 1000
                    answer = _response(
                        body,
                        event.result,
                        session_id=session_id,
                        message_id=message_id,
                        total_ms=total,
                    )
                    yield _sse("done", answer.model_dump())
        except StopAsyncIteration:
            return
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
            if pending is not None:  # the client left mid-answer: stop generating
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            await stream.aclose()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
