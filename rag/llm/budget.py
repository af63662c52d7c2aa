"""A daily spending limit on LLM calls; past it, answers are extractive (degraded)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class SpendMark:
    """Where a budget stood when a read of the stored spend began (see ``DailyBudget.sync``)."""

    day: date
    added_usd: float


class DailyBudget:
    """Dollars spent today (UTC), against a limit.

    The count is this process's own calls plus, once :meth:`sync` is fed the spend stored in the
    database, every other process's: the service syncs it at start-up and then periodically, so
    the limit holds across workers, instances and restarts.
    """

    def __init__(self, limit_usd: float, *, today: Callable[[], date] = _today) -> None:
        self.limit_usd = limit_usd
        self._today = today
        self._day = today()
        self._stored = 0.0  # spend in the database at the last sync, every process's
        self._added = 0.0  # this process's calls today
        self._added_at_sync = 0.0  # ... of which the last sync's stored figure may hold
        self._lock = threading.Lock()

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self._stored, self._added, self._added_at_sync = day, 0.0, 0.0, 0.0

    @property
    def spent_usd(self) -> float:
        """Dollars spent so far today."""
        with self._lock:
            self._roll()
            return self._stored + self._added - self._added_at_sync

    def mark(self) -> SpendMark:
        """Call just before reading today's stored spend; pass the mark to :meth:`sync`."""
        with self._lock:
            self._roll()
            return SpendMark(day=self._day, added_usd=self._added)

    def sync(self, stored_usd: float, mark: SpendMark) -> None:
        """Take ``stored_usd`` (today's spend in the database, read after ``mark``) as the base.

        Calls this process made after the mark count on top of it (a call stored while the read
        ran may count twice until the next sync: the error is on the safe side). A read that
        began yesterday is ignored.
        """
        with self._lock:
            self._roll()
            if mark.day != self._day:
                return
            self._stored = stored_usd
            self._added_at_sync = mark.added_usd

    def exceeded(self) -> bool:
        """True once today's spend has reached the limit."""
        return self.spent_usd >= self.limit_usd

    def add(self, usd: float) -> None:
        """Record a call's cost."""
        with self._lock:
            self._roll()
            self._added += usd
