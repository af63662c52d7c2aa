"""The chat store the routes use: history, exchanges, sessions and feedback, over api/db.

Every database failure surfaces as ``StorageUnavailableError`` (the routes answer 503
``storage_unavailable`` with ``Retry-After``). The schema is migrated at start-up; if the database
is down then, the store keeps trying on later requests, so the service recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.db import repositories as repo
from api.db.migrate import MigrationError, upgrade
from api.db.models import Feedback, Message
from api.db.session import (
    StorageUnavailableError,
    build_engine,
    build_session_factory,
    check_database,
)
from api.settings import ServiceSettings
from rag.answer.condense import Turn

logger = logging.getLogger(__name__)


class ChatStore:
    """Conversations in the database (SQLite by default, PostgreSQL in production)."""

    def __init__(self, engine: AsyncEngine, *, url: str, connect_timeout_s: float) -> None:
        self.engine = engine
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._sessions: async_sessionmaker[AsyncSession] = build_session_factory(engine)
        self._migrated = False
        self._migrate_lock = asyncio.Lock()
        # streamed answers still to be stored: shutdown waits for them before closing the pool
        self._writers = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ChatStore:
        """Engine and pool sized by the ``RAG_DB_*`` settings."""
        url = settings.resolved_database_url
        engine = build_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout_s=settings.db_pool_timeout_s,
            pool_recycle_s=settings.db_pool_recycle_s,
            connect_timeout_s=settings.db_connect_timeout_s,
        )
        return cls(engine, url=url, connect_timeout_s=settings.db_connect_timeout_s)

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (once per process; retried after failure)."""
        if self._migrated:
            return
        async with self._migrate_lock:
            if self._migrated:
                return
            try:
                revision = await upgrade(self.url, connect_timeout_s=self.connect_timeout_s)
            except MigrationError as exc:
                raise StorageUnavailableError(str(exc)) from exc
            self._migrated = True
            logger.info("database schema at revision %s", revision)

    async def check(self) -> None:
        """Raise ``StorageUnavailableError`` unless the database answers and is migrated."""
        await self.migrate()
        await check_database(self.engine, timeout_s=self.connect_timeout_s)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        await self.migrate()
        try:
            async with self._sessions() as session:
                yield session
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise StorageUnavailableError(f"database error: {type(exc).__name__}") from exc

    async def history(self, session_id: str, *, max_turns: int) -> list[Turn]:
        """The last exchanges of a session, oldest first (empty for a new session)."""
        async with self._session() as session:
            rows = await repo.recent_turns(
                session=session, session_id=session_id, max_turns=max_turns
            )
        turns, question = [], None
        for row in rows:
            if row.role == "user":
                question = row.content
            elif question is not None:
                turns.append(Turn(question=question, answer=row.content))
                question = None
        return turns

    async def save_exchange(
        self, *, session_id: str, user: repo.NewMessage, answer: repo.NewMessage
    ) -> tuple[Message, Message]:
        """Store the reader's message and its answer in one transaction."""
        async with self._session() as session:
            return await repo.record_exchange(
                session=session, session_id=session_id, user=user, answer=answer
            )

    async def messages(self, session_id: str) -> list[Message] | None:
        """A session's messages in order, or None when there is no such session."""
        async with self._session() as session:
            if not await repo.session_exists(session=session, session_id=session_id):
                return None
            return await repo.list_messages(session=session, session_id=session_id)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session, its messages and their feedback; False if it did not exist."""
        async with self._session() as session:
            return await repo.delete_session(session=session, session_id=session_id)

    async def feedback(self, *, message_id: str, rating: Any, comment: str | None) -> Feedback:
        """Rate an answer (one rating per answer, replaced on repeat)."""
        async with self._session() as session:
            return await repo.upsert_feedback(
                session=session, message_id=message_id, rating=rating, comment=comment
            )

    async def list_feedback(self, *, limit: int, offset: int) -> Sequence[Feedback]:
        """Recent feedback, newest first."""
        async with self._session() as session:
            return await repo.list_feedback(session=session, limit=limit, offset=offset)

    async def feedback_page(
        self, *, limit: int, offset: int, rating: repo.Rating | None = None
    ) -> tuple[int, list[tuple[Feedback, str | None]]]:
        """The feedback total and one page of it, newest first, each with its answer's question."""
        async with self._session() as session, session.begin():
            total = await repo.count_feedback(session=session, rating=rating)
            rows = await repo.list_feedback(
                session=session, limit=limit, offset=offset, rating=rating
            )
            questions = await repo.questions_for(
                session=session, answers=[row.message for row in rows]
            )
        return total, [(row, questions.get(row.message_id)) for row in rows]

    async def daily_usage(self, *, since: date, until: date | None = None) -> list[repo.DailyUsage]:
        """Answers, tokens and dollars per UTC day and model (the cost ledger)."""
        async with self._session() as session:
            return await repo.daily_usage(session=session, since=since, until=until)

    async def spend_on(self, day: date) -> float:
        """Dollars every process spent on LLM answers on one UTC day, as stored."""
        rows = await self.daily_usage(since=day, until=day)
        return sum(row.cost_usd for row in rows)

    async def feedback_counts(self) -> dict[str, int]:
        """Answers rated up and down."""
        async with self._session() as session, session.begin():
            return {
                rating: await repo.count_feedback(session=session, rating=rating)
                for rating in ("up", "down")
            }

    def hold(self) -> None:
        """A streamed answer started: it will be stored (finished or interrupted) later."""
        self._writers += 1
        self._idle.clear()

    def release(self) -> None:
        """That answer is stored (or could not be)."""
        self._writers -= 1
        if self._writers <= 0:
            self._writers = 0
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every held answer is stored; False when ``timeout_s`` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
