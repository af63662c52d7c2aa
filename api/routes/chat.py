"""``POST /v1/chat``: one grounded answer with citations."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter

from api.deps import QADep
from api.errors import ServiceError
from api.schemas import ChatRequest, ChatResponse, ErrorResponse, LatencyMs, Source, Usage
from rag.engine import IndexNotReadyError
from rag.vector_store import IndexUnavailableError

router = APIRouter(prefix="/v1", tags=["chat"])

_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorResponse, "description": "The request is not valid."},
    503: {"model": ErrorResponse, "description": "The book is not indexed yet."},
}


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
        raise ServiceError(
            503, "index_not_ready", "The book has not been indexed yet.", retry_after=30
        ) from exc
    total = (time.perf_counter() - started) * 1000
    return ChatResponse(
        answer=result.answer,
        session_id=body.session_id or uuid.uuid4().hex,
        message_id=uuid.uuid4().hex,
        sources=[Source(**source) for source in result.sources_json()],
        model=result.model,
        degraded=result.degraded,
        cached=False,
        latency_ms=LatencyMs(
            retrieval=round(result.retrieval_ms, 1),
            generation=round(result.generation_ms, 1),
            total=round(total, 1),
        ),
        usage=Usage(**result.usage),
    )
