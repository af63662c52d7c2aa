"""The service's state as operators see it: readiness, the served index, today's LLM spend.

``StatusMonitor.refresh`` reads them all and sets the gauges (and feeds today's stored spend to
the daily budget). The lifespan runs it at start-up and then every ``interval_s`` in each worker,
and ``/metrics`` runs it before each scrape, so every worker's gauges stay current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from fastapi import Request

from api.db.session import StorageUnavailableError
from api.monitoring.metrics import Metrics
from api.settings import ServiceSettings
from api.storage import ChatStore
from rag.engine import TextbookQA

logger = logging.getLogger(__name__)
_VERSION = re.compile(r"__v(\d+)$")
REFRESH_INTERVAL_S = 15.0


def utc_today() -> date:
    """Today's date in UTC (the budget's day)."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class IndexStatus:
    """The served index version: its physical collection, version number and size."""

    collection: str | None = None
    version: int | None = None
    chunks: int | None = None


async def readiness_checks(qa: TextbookQA, store: ChatStore) -> dict[str, str]:
    """What ``/readyz`` reports: each dependency, "ok" or why not."""
    checks: dict[str, str] = {}
    try:
        await store.check()
        checks["database"] = "ok"
    except StorageUnavailableError:
        checks["database"] = "unavailable"
    try:
        ready = await asyncio.to_thread(qa.is_ready)
        checks["qdrant"] = "ok"
        checks["index"] = "ok" if ready else "no index published (run rag-ingest)"
    except Exception as exc:  # any client failure means: not reachable
        checks["qdrant"] = f"unreachable: {type(exc).__name__}"
    return checks


def index_status(qa: TextbookQA) -> IndexStatus:
    """The served index version and its point count (blocking: run it in a thread)."""
    name = qa.published_collection()
    if name is None:
        return IndexStatus()
    chunks = qa.index.call(qa.client.get_collection, name).points_count
    match = _VERSION.search(name)
    return IndexStatus(
        collection=name,
        version=int(match.group(1)) if match else None,
        chunks=int(chunks or 0),
    )


class StatusMonitor:
    """Keeps the state gauges and the daily budget in step with the index and the database."""

    def __init__(
        self,
        *,
        qa: TextbookQA,
        store: ChatStore,
        metrics: Metrics,
        interval_s: float = REFRESH_INTERVAL_S,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self.qa = qa
        self.store = store
        self.metrics = metrics
        self.interval_s = interval_s
        self._today = today
        self.index = IndexStatus()
        self.ready = False
        self.spend_today_usd: float | None = None
        self._spend_failing = False
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_app(
        cls, settings: ServiceSettings, *, qa: TextbookQA, store: ChatStore, metrics: Metrics
    ) -> StatusMonitor:
        """A monitor over the app's pipeline and store; the budget gauges are set here."""
        metrics.set_budget(
            daily_budget_usd=settings.daily_budget_usd,
            alert_fraction=settings.budget_alert_fraction,
        )
        metrics.watch_models(route.name for route in getattr(qa.llm, "routes", ()))
        return cls(qa=qa, store=store, metrics=metrics)

    async def start(self) -> None:
        """Refresh once (seeding the budget with today's stored spend), then periodically."""
        await self.refresh()
        self._task = asyncio.create_task(self.run(), name="status-monitor")

    async def stop(self) -> None:
        """Stop the periodic refreshes; in multiprocess mode this worker's gauges retire."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.metrics.close_process()

    async def refresh(self) -> None:
        """Read readiness, the index and today's spend; set the gauges. Never raises."""
        checks = await readiness_checks(self.qa, self.store)
        self.record_readiness(checks)
        await self._refresh_index()
        await self._refresh_spend()
        self._refresh_breakers()

    def record_readiness(self, checks: dict[str, str]) -> bool:
        """Set the readiness gauge from a set of checks; True when all are ok."""
        self.ready = bool(checks) and all(value == "ok" for value in checks.values())
        self.metrics.set_ready(self.ready)
        return self.ready

    async def _refresh_index(self) -> None:
        try:
            self.index = await asyncio.to_thread(index_status, self.qa)
        except Exception as exc:  # Qdrant unreachable: keep the last figures
            logger.debug("index status unavailable: %s", type(exc).__name__)
            return
        if self.index.chunks is not None:
            self.metrics.set_index(chunks=self.index.chunks, version=self.index.version or 0)

    async def _refresh_spend(self) -> None:
        budget = self.qa.budget
        mark = budget.mark() if budget is not None else None
        try:
            stored = await self.store.spend_on(self._today())
        except StorageUnavailableError as exc:
            if not self._spend_failing:
                logger.warning("today's spend could not be read: %s", exc)
            self._spend_failing = True
            return
        self._spend_failing = False
        if budget is not None and mark is not None:
            budget.sync(stored, mark)
        self.spend_today_usd = stored
        self.metrics.set_spend_today(stored)

    def _refresh_breakers(self) -> None:
        """Breakers turn half-open with time alone: read their state now."""
        for route in getattr(self.qa.llm, "routes", ()):
            self.metrics.llm_breaker(model=route.name, state=route.breaker.state.value)

    async def run(self) -> None:
        """Refresh every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.refresh()
            except Exception:  # a bug here must not stop the refreshes
                logger.exception("status refresh failed")


def get_monitor(request: Request) -> StatusMonitor:
    """The app's status monitor (a FastAPI dependency)."""
    monitor: StatusMonitor = request.state.monitor
    return monitor
