"""A daily spending limit on LLM calls; past it, answers are extractive (degraded)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime


def _today() -> date:
    return datetime.now(UTC).date()


class DailyBudget:
    """Dollars spent today (UTC), against a limit. In-process: one count per server process."""

    def __init__(self, limit_usd: float, *, today: Callable[[], date] = _today) -> None:
        self.limit_usd = limit_usd
        self._today = today
        self._day = today()
        self._spent = 0.0
        self._lock = threading.Lock()

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self._spent = day, 0.0

    @property
    def spent_usd(self) -> float:
        """Dollars spent so far today."""
        with self._lock:
            self._roll()
            return self._spent

    def exceeded(self) -> bool:
        """True once today's spend has reached the limit."""
        return self.spent_usd >= self.limit_usd

    def add(self, usd: float) -> None:
        """Record a call's cost."""
        with self._lock:
            self._roll()
            self._spent += usd
