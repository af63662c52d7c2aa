"""Daily spend per model from the database, and a daily budget that holds across processes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.db.repositories import DailyUsage, NewMessage
from api.settings import ServiceSettings
from api.storage import ChatStore
from rag.llm.budget import DailyBudget
from rag.llm.models import EXTRACTIVE_MODEL
from rag.retrieval.embeddings import LocalEmbedding
from tests.api.monitoring.support import PRIMARY, llm_settings, parse, value
from tests.utils.simulator import Simulator

pytestmark = pytest.mark.anyio


async def spend(
    store: ChatStore,
    *,
    model: str,
    usd: float,
    at: datetime,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
) -> None:
    """Store one exchange whose answer cost ``usd``, as any serving process would."""
    await store.save_exchange(
        session_id=uuid.uuid4().hex,
        user=NewMessage(role="user", content="q", created_at=at),
        answer=NewMessage(
            role="assistant",
            content="a",
            model=model,
            cost_usd=usd,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            created_at=at,
        ),
    )


async def test_usage_is_grouped_by_utc_day_and_model(store: ChatStore):
    day1, day2 = date(2026, 3, 1), date(2026, 3, 2)
    utc = UTC
    await spend(store, model="a", usd=0.10, at=datetime(2026, 3, 1, 23, 59, 59, tzinfo=utc))
    await spend(store, model="a", usd=0.20, at=datetime(2026, 3, 2, 0, 0, 1, tzinfo=utc))
    # 01:30 at UTC+2 is 23:30 UTC the day before
    plus2 = timezone(timedelta(hours=2))
    await spend(store, model="b", usd=0.05, at=datetime(2026, 3, 2, 1, 30, tzinfo=plus2))
    await spend(store, model="b", usd=0.30, at=datetime(2026, 3, 2, 12, 0, tzinfo=utc))
    await spend(store, model="", usd=0.0, at=datetime(2026, 3, 2, 13, 0, tzinfo=utc))
    await spend(store, model="a", usd=9.99, at=datetime(2026, 2, 28, 12, 0, tzinfo=utc))
    await spend(store, model="a", usd=9.99, at=datetime(2026, 3, 3, 0, 0, tzinfo=utc))

    rows = await store.daily_usage(since=day1, until=day2)

    assert [(r.day, r.model, r.answers) for r in rows] == [
        (day1, "a", 1),
        (day1, "b", 1),
        (day2, "a", 1),
        (day2, "b", 1),
    ]
    assert [r.cost_usd for r in rows] == pytest.approx([0.10, 0.05, 0.20, 0.30])
    assert rows[0] == DailyUsage(
        day=day1, model="a", answers=1, prompt_tokens=100, completion_tokens=20, cost_usd=0.10
    )
    assert await store.spend_on(day2) == pytest.approx(0.50)
    assert await store.spend_on(date(2026, 3, 4)) == 0.0
    assert len(await store.daily_usage(since=day1)) == 5  # open-ended: 3 March counts too


async def test_tokens_and_answers_add_up_per_model(store: ChatStore):
    at = datetime(2026, 5, 5, 10, tzinfo=UTC)
    for _ in range(3):
        await spend(store, model="m", usd=0.01, at=at, prompt_tokens=7, completion_tokens=3)

    [row] = await store.daily_usage(since=at.date(), until=at.date())

    assert (row.answers, row.prompt_tokens, row.completion_tokens) == (3, 21, 9)
    assert row.cost_usd == pytest.approx(0.03)


def test_budget_takes_the_stored_spend_and_keeps_its_own_calls_since_the_read():
    budget = DailyBudget(1.0, today=lambda: date(2026, 1, 1))
    budget.add(0.2)  # this process, already stored
    mark = budget.mark()
    budget.add(0.1)  # this process, made while the database was read
    budget.sync(0.7, mark)  # every process's stored spend, including the 0.2

    assert budget.spent_usd == pytest.approx(0.8)
    assert not budget.exceeded()
    budget.add(0.2)
    assert budget.exceeded()


def test_a_sync_that_began_yesterday_is_ignored():
    today = [date(2026, 1, 1)]
    budget = DailyBudget(1.0, today=lambda: today[0])
    mark = budget.mark()
    today[0] = date(2026, 1, 2)
    budget.sync(5.0, mark)

    assert budget.spent_usd == 0.0


@pytest.fixture
def ledger_app(
    sample_index: ServiceSettings, embed_model: LocalEmbedding, sim: Simulator, tmp_path: Path
) -> tuple[TestClient, ServiceSettings]:
    """The service with a dear simulator model, a $0.50 daily budget and its own database."""
    sim.reset()
    settings = llm_settings(
        sample_index,
        sim,
        daily_budget_usd=0.5,
        budget_alert_fraction=0.75,
        database_url=f"sqlite+aiosqlite:///{(tmp_path / 'app.sqlite3').as_posix()}",
    )
    return TestClient(create_app(settings, embed_model=embed_model)), settings


async def test_the_budget_counts_what_other_processes_stored_before_and_after_start(
    ledger_app: tuple[TestClient, ServiceSettings],
):
    client, settings = ledger_app
    other = ChatStore.from_settings(settings)  # another worker, or the same before a restart
    await other.migrate()
    now = datetime.now(UTC)
    await spend(other, model=PRIMARY, usd=0.30, at=now)
    try:
        with client:
            first = client.post("/v1/chat", json={"question": "What is the zero moment point?"})
            assert first.json()["model"] == PRIMARY  # $0.30 of $0.50 spent: still the model
            scrape = parse(client.get("/metrics").text).values()
            stored = 0.30 + first.json()["usage"]["cost_usd"]
            assert value(scrape, "rag_llm_spend_today_usd") == pytest.approx(stored)
            assert value(scrape, "rag_daily_budget_usd") == 0.5
            assert value(scrape, "rag_budget_alert_fraction") == 0.75

            await spend(other, model=PRIMARY, usd=0.25, at=now)  # another worker answers
            client.get("/metrics")  # each scrape (and a timer) re-reads the stored spend
            second = client.post("/v1/chat", json={"question": "What does an encoder measure?"})

            assert second.json()["model"] == EXTRACTIVE_MODEL
            assert second.json()["degraded"] is True
    finally:
        await other.aclose()
