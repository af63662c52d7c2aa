"""Repositories on real SQLite and PostgreSQL databases: history, ordering, deletion, feedback."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.db.models import ChatSession, Feedback, Message
from api.db.repositories import (
    InvalidFeedbackError,
    MessageNotFoundError,
    NewMessage,
    NotAnAnswerError,
    delete_session,
    get_message,
    list_feedback,
    list_messages,
    recent_turns,
    record_exchange,
    session_exists,
    upsert_feedback,
)

pytestmark = pytest.mark.anyio

Factory = async_sessionmaker[AsyncSession]


def question(text: str, **extra: object) -> NewMessage:
    return NewMessage(role="user", content=text, **extra)  # type: ignore[arg-type]  # extra fields of the test


def answer(text: str, **extra: object) -> NewMessage:
    return NewMessage(role="assistant", content=text, **extra)  # type: ignore[arg-type]  # extra fields of the test


async def exchange(factory: Factory, session_id: str, n: int) -> tuple[Message, Message]:
    async with factory() as session:
        return await record_exchange(
            session=session, session_id=session_id, user=question(f"q{n}"), answer=answer(f"a{n}")
        )


async def count(factory: Factory, model: type[object]) -> int:
    async with factory() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_record_exchange_stores_both_messages_with_consecutive_seq(
    session: AsyncSession,
) -> None:
    asked = datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=timezone(timedelta(hours=2)))
    user, reply = await record_exchange(
        session=session,
        session_id="s-1",
        user=question(
            "What is a node?", selected_text="A node is", page_url="/docs/ros", created_at=asked
        ),
        answer=answer(
            "A node is a process [1].",
            sources=[{"index": 1, "title": "ROS", "url": "/docs/ros#nodes", "score": 0.9}],
            model="primary",
            retrieval_ms=12.5,
            generation_ms=80.0,
            total_ms=95.25,
            prompt_tokens=420,
            completion_tokens=17,
            cost_usd=0.000123,
            request_id="req-1",
        ),
    )
    assert (user.seq, reply.seq) == (1, 2)
    assert (user.role, reply.role) == ("user", "assistant")

    second = await record_exchange(
        session=session, session_id="s-1", user=question("And a topic?"), answer=answer("...")
    )
    assert [m.seq for m in second] == [3, 4]

    session.expunge_all()  # read back what the database holds, not the objects in memory
    stored = await list_messages(session=session, session_id="s-1")
    assert [(m.seq, m.role) for m in stored] == [
        (1, "user"),
        (2, "assistant"),
        (3, "user"),
        (4, "assistant"),
    ]
    first_q, first_a = stored[0], stored[1]
    assert first_q.id == user.id
    assert first_a.id == reply.id
    assert first_q.selected_text == "A node is"
    assert first_q.page_url == "/docs/ros"
    assert first_q.created_at == asked
    assert first_q.created_at.tzinfo == UTC
    assert first_a.created_at.tzinfo == UTC
    assert first_a.sources == [{"index": 1, "title": "ROS", "url": "/docs/ros#nodes", "score": 0.9}]
    assert (first_a.model, first_a.request_id) == ("primary", "req-1")
    assert (first_a.retrieval_ms, first_a.generation_ms, first_a.total_ms) == (12.5, 80.0, 95.25)
    assert (first_a.prompt_tokens, first_a.completion_tokens) == (420, 17)
    assert first_a.cost_usd == pytest.approx(0.000123)
    assert isinstance(first_a.cost_usd, float)
    assert not first_a.degraded
    assert not first_a.cached
    assert not first_a.interrupted
    assert not session.in_transaction()  # no connection held after the call

    chat = await session.get(ChatSession, "s-1")
    assert chat is not None
    assert chat.last_seq == 4


async def test_interrupted_answer_stays_in_history(session: AsyncSession) -> None:
    await record_exchange(
        session=session,
        session_id="s-cut",
        user=question("Explain SLAM"),
        answer=answer("SLAM builds a map wh", interrupted=True, usage_estimated=True),
        # the stream was cut: the partial answer is kept and flagged
    )
    history = await list_messages(session=session, session_id="s-cut")
    assert [(m.content, m.interrupted) for m in history] == [
        ("Explain SLAM", False),
        ("SLAM builds a map wh", True),
    ]
    assert history[1].usage_estimated


async def test_a_given_message_id_is_kept(session: AsyncSession) -> None:
    _, reply = await record_exchange(
        session=session, session_id="s", user=question("q"), answer=answer("a", id="a" * 32)
    )
    assert reply.id == "a" * 32
    assert (await get_message(session=session, message_id="a" * 32)) is not None


async def test_many_concurrent_exchanges_are_each_stored_once_in_order(
    session_factory: Factory,
) -> None:
    """200 exchanges at once over 20 sessions, each with its own AsyncSession.

    A session's calls are adjacent, so the pool's connections write to the same session at once.
    """
    calls = [(f"s{n // 10:02d}", n) for n in range(200)]
    results = await asyncio.gather(*(exchange(session_factory, sid, n) for sid, n in calls))

    assert await count(session_factory, Message) == 400
    by_session: dict[str, list[Message]] = defaultdict(list)
    async with session_factory() as session:
        for sid in {sid for sid, _ in calls}:
            by_session[sid] = await list_messages(session=session, session_id=sid)
    for sid, messages in by_session.items():
        assert [m.seq for m in messages] == list(range(1, 21)), sid
        pairs = list(zip(messages[::2], messages[1::2], strict=True))
        # each question is directly followed by its own answer
        assert all(q.role == "user" and a.role == "assistant" for q, a in pairs)
        assert all(q.content[1:] == a.content[1:] for q, a in pairs)
        assert sorted(int(q.content[1:]) for q, _ in pairs) == [n for s, n in calls if s == sid]
    # what each call returned is what was stored
    for user, reply in results:
        assert reply.seq == user.seq + 1
        assert user.seq % 2 == 1


async def test_a_readers_turns_keep_their_order_under_load(session_factory: Factory) -> None:
    """20 readers, each asking 10 questions one after another, all readers at once."""

    async def reader(sid: str) -> None:
        for n in range(10):
            await exchange(session_factory, sid, n)

    await asyncio.gather(*(reader(f"r{i}") for i in range(20)))
    async with session_factory() as session:
        for i in range(20):
            history = await list_messages(session=session, session_id=f"r{i}")
            assert [m.content for m in history] == [
                text for n in range(10) for text in (f"q{n}", f"a{n}")
            ]


async def test_list_messages_limit_and_paging(session: AsyncSession) -> None:
    for n in range(5):
        await record_exchange(
            session=session, session_id="s", user=question(f"q{n}"), answer=answer(f"a{n}")
        )
    latest = await list_messages(session=session, session_id="s", limit=3)
    assert [m.content for m in latest] == ["a3", "q4", "a4"]
    older = await list_messages(session=session, session_id="s", limit=3, before_seq=latest[0].seq)
    assert [m.content for m in older] == ["q2", "a2", "q3"]
    assert await list_messages(session=session, session_id="s", limit=0) == []
    assert await list_messages(session=session, session_id="unknown") == []

    turns = await recent_turns(session=session, session_id="s", max_turns=2)
    assert [m.content for m in turns] == ["q3", "a3", "q4", "a4"]
    assert await recent_turns(session=session, session_id="s", max_turns=0) == []


async def test_delete_session_removes_its_messages_and_feedback(session_factory: Factory) -> None:
    _, kept_answer = await exchange(session_factory, "keep", 0)
    for n in range(3):
        _, reply = await exchange(session_factory, "gone", n)
    async with session_factory() as session:
        await upsert_feedback(session=session, message_id=reply.id, rating="down")
        await upsert_feedback(session=session, message_id=kept_answer.id, rating="up")

        assert await session_exists(session=session, session_id="gone")
        assert await delete_session(session=session, session_id="gone") is True
        assert not await session_exists(session=session, session_id="gone")
        assert await delete_session(session=session, session_id="gone") is False

    assert await count(session_factory, Message) == 2  # only the "keep" session's
    assert await count(session_factory, Feedback) == 1
    async with session_factory() as session:
        assert await get_message(session=session, message_id=reply.id) is None
        assert (await session.scalars(select(Feedback.message_id))).all() == [kept_answer.id]


async def test_feedback_is_one_per_answer_and_updates(session_factory: Factory) -> None:
    question_msg, reply = await exchange(session_factory, "s", 0)
    async with session_factory() as session:
        first = await upsert_feedback(
            session=session, message_id=reply.id, rating="up", comment="clear"
        )
        assert (first.rating, first.comment, first.message_id) == ("up", "clear", reply.id)
        assert first.created_at == first.updated_at
        assert first.created_at.tzinfo == UTC

    async with session_factory() as session:
        again = await upsert_feedback(
            session=session, message_id=reply.id, rating="down", comment=None
        )
    assert again.id == first.id
    assert (again.rating, again.comment) == ("down", None)
    assert again.created_at == first.created_at
    assert again.updated_at > first.updated_at
    assert await count(session_factory, Feedback) == 1

    async with session_factory() as session:
        listed = await list_feedback(session=session, limit=10, offset=0)
    assert [(f.id, f.rating) for f in listed] == [(first.id, "down")]
    assert listed[0].message.content == "a0"  # loaded with the feedback

    async with session_factory() as session:
        with pytest.raises(NotAnAnswerError, match="not an answer"):
            await upsert_feedback(session=session, message_id=question_msg.id, rating="up")
        with pytest.raises(MessageNotFoundError, match="no message with id 'missing'"):
            await upsert_feedback(session=session, message_id="missing", rating="up")


async def test_feedback_comment_is_at_most_1000_characters(session_factory: Factory) -> None:
    _, reply = await exchange(session_factory, "s", 0)
    async with session_factory() as session:
        with pytest.raises(InvalidFeedbackError, match="1,000"):
            await upsert_feedback(
                session=session, message_id=reply.id, rating="up", comment="x" * 1001
            )
        with pytest.raises(InvalidFeedbackError, match="rating"):
            await upsert_feedback(session=session, message_id=reply.id, rating="meh")  # type: ignore[arg-type]  # a rating the type refuses
        stored = await upsert_feedback(
            session=session, message_id=reply.id, rating="up", comment="é" * 1000
        )
    assert stored.comment == "é" * 1000
    assert await count(session_factory, Feedback) == 1


async def test_concurrent_feedback_on_one_answer_leaves_one_row(session_factory: Factory) -> None:
    _, reply = await exchange(session_factory, "s", 0)

    async def rate(n: int) -> Feedback:
        async with session_factory() as session:
            rating = "up" if n % 2 else "down"
            return await upsert_feedback(session=session, message_id=reply.id, rating=rating)

    results = await asyncio.gather(*(rate(n) for n in range(20)))
    assert len({f.id for f in results}) == 1
    assert await count(session_factory, Feedback) == 1


async def test_list_feedback_newest_first_with_paging_and_filter(session_factory: Factory) -> None:
    replies = [(await exchange(session_factory, "s", n))[1] for n in range(4)]
    async with session_factory() as session:
        for n, reply in enumerate(replies):
            await upsert_feedback(
                session=session, message_id=reply.id, rating="up" if n % 2 else "down"
            )
        newest = await list_feedback(session=session, limit=2, offset=0)
        rest = await list_feedback(session=session, limit=2, offset=2)
        ups = await list_feedback(session=session, limit=10, offset=0, rating="up")
    assert [f.message.content for f in newest + rest] == ["a3", "a2", "a1", "a0"]
    assert [f.message.content for f in ups] == ["a3", "a1"]


async def test_repositories_join_a_transaction_the_caller_opened(
    session_factory: Factory,
) -> None:
    async def store_then_fail(session: AsyncSession) -> None:
        async with session.begin():
            await record_exchange(
                session=session, session_id="tx", user=question("q"), answer=answer("a")
            )
            assert len(await list_messages(session=session, session_id="tx")) == 2
            raise RuntimeError("a later step failed")  # the caller's transaction rolls back

    async with session_factory() as session:
        with pytest.raises(RuntimeError, match="later step failed"):
            await store_then_fail(session)
    async with session_factory() as session:
        assert not await session_exists(session=session, session_id="tx")


async def test_invalid_input_is_refused_before_any_write(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="session id"):
        await record_exchange(
            session=session, session_id="x" * 65, user=question("q"), answer=answer("a")
        )
    with pytest.raises(ValueError, match="'user' message and an 'assistant'"):
        await record_exchange(
            session=session, session_id="s", user=answer("a"), answer=question("q")
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        question("q", created_at=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="role"):
        NewMessage(role="system", content="x")  # type: ignore[arg-type]  # a role the type refuses
    with pytest.raises(ValueError, match="negative"):
        answer("a", prompt_tokens=-1)
    assert not await session_exists(session=session, session_id="s")


async def test_a_write_after_an_implicit_read_is_committed(session_factory: Factory) -> None:
    async with session_factory() as session:
        await session.scalar(select(func.count()).select_from(Message))  # begins implicitly
        await record_exchange(
            session=session, session_id="auto", user=question("q"), answer=answer("a")
        )
        assert not session.in_transaction()
    async with session_factory() as session:
        assert len(await list_messages(session=session, session_id="auto")) == 2
