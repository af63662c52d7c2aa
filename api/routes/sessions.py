"""A reader's conversation: its history, its deletion, and feedback on answers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Response

from api.db.repositories import MessageNotFoundError
from api.deps import ReaderLimitDep, StoreDep, VerifiedSessionIdDep
from api.errors import ServiceError
from api.schemas import ErrorResponse, FeedbackIn, FeedbackOut, MessageOut, SessionMessages, Source
from api.security.ratelimit import limit_reader

# Every route counts under the per-address limit. Session routes also need a session id this
# service signed; feedback names an answer by its message id (a random UUID, never listed
# except to whoever holds the session id).
router = APIRouter(prefix="/v1", tags=["sessions"], dependencies=[Depends(limit_reader)])

MessageId = Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "The session_id was not issued by this service."},
    404: {"model": ErrorResponse, "description": "No such session or message."},
    429: {"model": ErrorResponse, "description": "Too many requests from this address."},
    503: {"model": ErrorResponse, "description": "Conversations cannot be read right now."},
}


@router.get("/sessions/{session_id}/messages", response_model=SessionMessages, responses=_ERRORS)
async def read_session_messages(
    store: StoreDep, session_id: VerifiedSessionIdDep
) -> SessionMessages:
    """List a conversation's messages, oldest first."""
    rows = await store.messages(session_id)
    if rows is None:
        raise ServiceError(404, "not_found", "There is no conversation with this id.")
    return SessionMessages(
        session_id=session_id,
        messages=[
            MessageOut(
                id=row.id,
                role=row.role,
                content=row.content,
                selected_text=row.selected_text,
                page_url=row.page_url,
                sources=[Source(**source) for source in row.sources or []],
                model=row.model,
                degraded=row.degraded,
                cached=row.cached,
                interrupted=row.interrupted,
                created_at=row.created_at,
            )
            for row in rows
        ],
    )


@router.delete("/sessions/{session_id}", status_code=204, responses=_ERRORS)
async def delete_session(
    store: StoreDep, session_id: VerifiedSessionIdDep, limits: ReaderLimitDep
) -> Response:
    """Delete a conversation with all its messages and feedback."""
    if not await store.delete_session(session_id):
        raise ServiceError(404, "not_found", "There is no conversation with this id.")
    return Response(status_code=204, headers=limits.headers)


@router.post("/messages/{message_id}/feedback", response_model=FeedbackOut, responses=_ERRORS)
async def create_feedback(
    body: FeedbackIn, store: StoreDep, message_id: str = MessageId
) -> FeedbackOut:
    """Rate an answer up or down, with an optional comment; rating again replaces it."""
    try:
        stored = await store.feedback(
            message_id=message_id, rating=body.rating, comment=body.comment or None
        )
    except MessageNotFoundError as exc:
        raise ServiceError(404, "not_found", "There is no answer with this id.") from exc
    return FeedbackOut(
        message_id=message_id,
        rating=stored.rating,
        comment=stored.comment,
        updated_at=stored.updated_at,
    )
