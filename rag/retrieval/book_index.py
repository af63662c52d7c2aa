"""The served book index: the Qdrant client, the served collection, the lock of local mode.

Qdrant's local mode is a pure-Python engine over one data folder, not safe to call from several
threads at once (an ingest writes through the same client), so its calls are serialised. A Qdrant
server handles concurrent requests itself: no lock is taken there.

The alias is read once and cached; ``refresh`` re-reads it (called after a publish in this process,
and at most every ``refresh_s`` seconds otherwise, so that a publish by another process against a
Qdrant server is seen).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from qdrant_client import QdrantClient

from rag.retrieval.vector_store import active_collection

T = TypeVar("T")
REFRESH_S = 5.0


class BookIndex:
    """The Qdrant client and the served collection of one alias.

    Args:
        client: the open client (local mode or a server).
        alias: the alias readers are served from (``RAG_COLLECTION``).
        local: True for local mode, whose calls are serialised by ``lock``.
        refresh_s: how long the alias look-up is trusted before it is read again.
    """

    def __init__(
        self, client: QdrantClient, alias: str, *, local: bool, refresh_s: float = REFRESH_S
    ) -> None:
        self.client = client
        self.alias = alias
        self.local = local
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._served: str | None = None
        self._read_at = float("-inf")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Held around every client call: the folder lock in local mode, nothing on a server."""
        if not self.local:
            yield
            return
        with self._lock:
            yield

    def call(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` under ``lock`` (a call that uses ``client``)."""
        with self.lock():
            return fn(*args, **kwargs)

    def refresh(self) -> str | None:
        """Read the alias now; the served collection (None before the first publish)."""
        served = self.call(active_collection, self.client, self.alias)
        self._served, self._read_at = served, time.monotonic()
        return served

    def fresh(self) -> bool:
        """True while the cached alias look-up is trusted (``served`` then does no I/O)."""
        return self._served is not None and time.monotonic() - self._read_at <= self.refresh_s

    def served(self) -> str | None:
        """The collection the alias points at, read at most every ``refresh_s`` seconds.

        Before the first publish it is read on every call, so the first ingest is served at once.
        """
        if not self.fresh():
            return self.refresh()
        return self._served
