"""Repository functions: keyword-only arguments, one ``AsyncSession`` each.

Transactions: when the session has no transaction open, each function runs in its own short
transaction and commits (a write) or ends it (a read), so no connection is held while an answer
streams. When the caller has opened one (``async with session.begin(): ...``), the function joins
it and the caller commits. A write inside a transaction that began implicitly (an earlier query
on the session) commits it, so nothing written is lost when the session closes.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import String, and_, delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransactionOrigin, joinedload

from api.db.models import (
    COMMENT_MAX,
    RATINGS,
    ROLES,
    SESSION_ID_MAX,
    ChatSession,
    Feedback,
    Message,
    UTCDateTime,
    new_id,
    utcnow,
)
from api.db.session import SQLITE_BEGIN_IMMEDIATE

Role = Literal["user", "assistant"]
Rating = Literal["up", "down"]


class MessageNotFoundError(LookupError):
    """No message has this id (or it is not an answer, for feedback)."""

    def __init__(self, message_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"no message with id {message_id!r}")
        self.message_id = message_id


class NotAnAnswerError(MessageNotFoundError):
    """Feedback was sent for a reader's message; only answers take feedback."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id, f"message {message_id!r} is not an answer")


class InvalidFeedbackError(ValueError):
    """The rating or comment is not acceptable."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """A message to store; ``record_exchange`` assigns its session and ``seq``.

    ``id`` may be given when it was announced to the client before the answer was stored.
    ``created_at`` defaults to the time of storing.
    """

    role: Role
    content: str
    id: str | None = None
    selected_text: str | None = None
    selection_only: bool = False
    page_url: str | None = None
    sources: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    model: str | None = None
    degraded: bool = False
    cached: bool = False
    interrupted: bool = False
    retrieval_ms: float | None = None
    generation_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    usage_estimated: bool = False
    request_id: str | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")
        if self.id is not None and not 1 <= len(self.id) <= 32:
            raise ValueError("id must be 1 to 32 characters")
        if self.prompt_tokens < 0 or self.completion_tokens < 0:
            raise ValueError("token counts cannot be negative")
        if not math.isfinite(self.cost_usd) or self.cost_usd < 0:
            raise ValueError("cost_usd must be a finite, non-negative number")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        if self.request_id is not None and len(self.request_id) > 128:
            raise ValueError("request_id is longer than 128 characters")
        if self.model is not None and len(self.model) > 200:
            raise ValueError("model is longer than 200 characters")


async def record_exchange(
    *, session: AsyncSession, session_id: str, user: NewMessage, answer: NewMessage
) -> tuple[Message, Message]:
    """Store a reader's message and its answer together, creating the session if needed.

    Both rows are written in one transaction with consecutive ``seq`` numbers (the question odd,
    the answer even), so a session's history never holds a question without its answer, and
    concurrent exchanges in one session are ordered by the moment each was stored.

    Raises:
        ValueError: a bad session id, or ``user``/``answer`` with the wrong role.
    """
    _check_session_id(session_id)
    if user.role != "user" or answer.role != "assistant":
        raise ValueError("record_exchange takes a 'user' message and an 'assistant' answer")
    now = utcnow()
    async with _transaction(session, write=True):
        # Create the session row if missing, then bump its counter: the UPDATE's row lock
        # (PostgreSQL) or the write lock (SQLite) serializes exchanges of one session.
        await session.execute(
            _insert_for(session)(ChatSession)
            .values(id=session_id, created_at=now, updated_at=now, last_seq=0)
            .on_conflict_do_nothing(index_elements=[ChatSession.id])
        )
        last_seq = (
            await session.execute(
                update(ChatSession)
                .where(ChatSession.id == session_id)
                .values(last_seq=ChatSession.last_seq + 2, updated_at=now)
                .returning(ChatSession.last_seq)
                .execution_options(synchronize_session=False)
            )
        ).scalar_one()
        rows = (
            _to_row(user, session_id=session_id, seq=last_seq - 1, now=now),
            _to_row(answer, session_id=session_id, seq=last_seq, now=now),
        )
        session.add_all(rows)
        await session.flush()
    return rows


async def list_messages(
    *,
    session: AsyncSession,
    session_id: str,
    limit: int | None = None,
    before_seq: int | None = None,
) -> list[Message]:
    """A session's messages in ``seq`` order; with ``limit``, the latest ``limit`` of them.

    ``before_seq`` pages backwards: only messages with a smaller ``seq`` are considered.
    An unknown session gives an empty list (see :func:`session_exists`).
    """
    if limit is not None and limit < 0:
        raise ValueError("limit cannot be negative")
    query = select(Message).where(Message.session_id == session_id)
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    async with _transaction(session):
        if limit is None:
            result = await session.scalars(query.order_by(Message.seq))
            return list(result)
        result = await session.scalars(query.order_by(Message.seq.desc()).limit(limit))
        return list(reversed(result.all()))


async def recent_turns(*, session: AsyncSession, session_id: str, max_turns: int) -> list[Message]:
    """The last ``max_turns`` exchanges (question and answer pairs), oldest first."""
    if max_turns <= 0:
        return []
    return await list_messages(session=session, session_id=session_id, limit=2 * max_turns)


async def session_exists(*, session: AsyncSession, session_id: str) -> bool:
    """Whether a chat session with this id has been stored."""
    async with _transaction(session):
        return bool(await session.scalar(select(exists().where(ChatSession.id == session_id))))


async def get_message(*, session: AsyncSession, message_id: str) -> Message | None:
    """One message by id, or None."""
    async with _transaction(session):
        return await session.get(Message, message_id)


async def delete_session(*, session: AsyncSession, session_id: str) -> bool:
    """Delete a session with all its messages and their feedback; False if there was none."""
    async with _transaction(session, write=True):
        result = await session.execute(
            delete(ChatSession)
            .where(ChatSession.id == session_id)
            .execution_options(synchronize_session=False)
        )
    return bool(getattr(result, "rowcount", 0))


async def upsert_feedback(
    *, session: AsyncSession, message_id: str, rating: Rating, comment: str | None = None
) -> Feedback:
    """Rate an answer: the first call creates the feedback, later calls replace it.

    Raises:
        InvalidFeedbackError: ``rating`` is not "up"/"down" or ``comment`` is over 1,000 chars.
        MessageNotFoundError: no message has this id.
        NotAnAnswerError: the message is the reader's own (a ``MessageNotFoundError``).
    """
    if rating not in RATINGS:
        raise InvalidFeedbackError(f"rating must be 'up' or 'down', not {rating!r}")
    if comment is not None and len(comment) > COMMENT_MAX:
        raise InvalidFeedbackError(f"comment is longer than {COMMENT_MAX:,} characters")
    now = utcnow()
    async with _transaction(session, write=True):
        # One statement, so two clicks racing on one answer cannot both insert.
        source = select(
            Message.id,
            literal(new_id(), String()),
            literal(rating, String()),
            literal(comment, String()),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
        ).where(Message.id == message_id, Message.role == "assistant")
        insert = _insert_for(session)(Feedback).from_select(
            ["message_id", "id", "rating", "comment", "created_at", "updated_at"], source
        )
        insert = insert.on_conflict_do_update(
            index_elements=[Feedback.message_id],
            set_={"rating": rating, "comment": comment, "updated_at": now},
        ).returning(Feedback)
        stored = await session.scalar(insert, execution_options={"populate_existing": True})
        if stored is None:
            role = await session.scalar(select(Message.role).where(Message.id == message_id))
            if role is None:
                raise MessageNotFoundError(message_id)
            raise NotAnAnswerError(message_id)
    return stored


async def list_feedback(
    *,
    session: AsyncSession,
    limit: int = 50,
    offset: int = 0,
    rating: Rating | None = None,
) -> list[Feedback]:
    """Feedback, most recently given first, each with its ``message`` loaded."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset cannot be negative")
    query = select(Feedback).options(joinedload(Feedback.message))
    if rating is not None:
        query = query.where(Feedback.rating == rating)
    query = query.order_by(Feedback.updated_at.desc(), Feedback.id).limit(limit).offset(offset)
    async with _transaction(session):
        return list(await session.scalars(query))


async def count_feedback(*, session: AsyncSession, rating: Rating | None = None) -> int:
    """How many answers have feedback (with this rating, if given)."""
    query = select(func.count()).select_from(Feedback)
    if rating is not None:
        query = query.where(Feedback.rating == rating)
    async with _transaction(session):
        return int(await session.scalar(query) or 0)


async def questions_for(*, session: AsyncSession, answers: Sequence[Message]) -> dict[str, str]:
    """The reader's question each answer replied to (the message just before it), by answer id."""
    if not answers:
        return {}
    wanted = {(a.session_id, a.seq - 1): a.id for a in answers}
    query = select(Message.session_id, Message.seq, Message.content).where(
        Message.role == "user",
        or_(*(and_(Message.session_id == sid, Message.seq == seq) for sid, seq in wanted)),
    )
    async with _transaction(session):
        rows = (await session.execute(query)).all()
    return {wanted[(row.session_id, row.seq)]: row.content for row in rows}


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """What one model's answers used on one UTC day."""

    day: date
    model: str
    answers: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


async def daily_usage(
    *, session: AsyncSession, since: date, until: date | None = None
) -> list[DailyUsage]:
    """Answers, tokens and dollars per UTC day and model, from ``since`` to ``until`` (inclusive).

    Ordered by day, then model. Answers without a model (an interrupted stream) are left out.
    """
    start = datetime.combine(since, time.min, tzinfo=UTC)
    day = _utc_day(session, Message.created_at).label("day")
    query = select(
        day,
        Message.model,
        func.count(),
        func.coalesce(func.sum(Message.prompt_tokens), 0),
        func.coalesce(func.sum(Message.completion_tokens), 0),
        func.coalesce(func.sum(Message.cost_usd), 0),
    ).where(
        Message.role == "assistant",
        Message.model.is_not(None),
        Message.model != "",
        Message.created_at >= start,
    )
    if until is not None:
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(Message.created_at < end)
    query = query.group_by(day, Message.model).order_by(day, Message.model)
    async with _transaction(session):
        rows = (await session.execute(query)).all()
    return [
        DailyUsage(
            day=value if isinstance(value, date) else date.fromisoformat(str(value)),
            model=str(model),
            answers=int(answers),
            prompt_tokens=int(prompt),
            completion_tokens=int(completion),
            cost_usd=float(cost),
        )
        for value, model, answers, prompt, completion, cost in rows
    ]


def _utc_day(session: AsyncSession, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in the session's SQL dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    if dialect == "sqlite":  # stored as UTC text: 'YYYY-MM-DD HH:MM:SS...'
        return func.date(column)
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


@asynccontextmanager
async def _transaction(session: AsyncSession, *, write: bool = False) -> AsyncIterator[None]:
    """Join the caller's transaction, or run a short one of our own."""
    current = session.sync_session.get_transaction()
    if current is None:
        async with session.begin():
            if write:
                await session.connection(execution_options={SQLITE_BEGIN_IMMEDIATE: True})
            yield
        return
    yield
    if write and current.origin is SessionTransactionOrigin.AUTOBEGIN:
        # Nobody opened this transaction on purpose (an earlier query began it): commit, as
        # a write that nobody commits would be lost when the session closes.
        await session.commit()


def _insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_*`` on both SQLite and PostgreSQL."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return postgresql.insert
    if bind.dialect.name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"unsupported database dialect {bind.dialect.name!r}")


def _check_session_id(session_id: str) -> None:
    if not 1 <= len(session_id) <= SESSION_ID_MAX:
        raise ValueError(f"session id must be 1 to {SESSION_ID_MAX} characters")


def _to_row(new: NewMessage, *, session_id: str, seq: int, now: datetime) -> Message:
    return Message(
        id=new.id or new_id(),
        session_id=session_id,
        seq=seq,
        role=new.role,
        content=new.content,
        selected_text=new.selected_text,
        selection_only=new.selection_only,
        page_url=new.page_url,
        sources=[dict(source) for source in new.sources],
        model=new.model,
        degraded=new.degraded,
        cached=new.cached,
        interrupted=new.interrupted,
        retrieval_ms=new.retrieval_ms,
        generation_ms=new.generation_ms,
        total_ms=new.total_ms,
        prompt_tokens=new.prompt_tokens,
        completion_tokens=new.completion_tokens,
        cost_usd=new.cost_usd,
        usage_estimated=new.usage_estimated,
        request_id=new.request_id,
        created_at=new.created_at or now,
    )
