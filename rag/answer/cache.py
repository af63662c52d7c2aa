"""Answer cache: a repeated question about the same book version costs nothing."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from rag.answer.result import AnswerResult


def normalise_question(text: str) -> str:
    """Case, spacing and trailing punctuation do not make a different question."""
    return re.sub(r"\s+", " ", text).strip().lower().rstrip("?!. ")


def cache_key(
    *,
    question: str,
    selected_text: str | None,
    selection_only: bool,
    book_version: str,
    doc_version: str = "",
    locale: str = "",
) -> str:
    """Key of an answer: the question, the selection, the index version, the docs' version+locale.

    ``book_version`` is the index version (it changes with every ingest); ``doc_version`` and
    ``locale`` are the reader's doc version and locale, answered from different chunks.
    """
    raw = json.dumps(
        [
            normalise_question(question),
            selected_text or "",
            selection_only,
            book_version,
            doc_version,
            locale,
        ]
    )
    return hashlib.sha256(raw.encode()).hexdigest()


class AnswerCache:
    """An in-process LRU with a time to live.

    Re-ingesting changes the book version, so old entries are never hit again and age out.
    """

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, AnswerResult]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> AnswerResult | None:
        """A copy of the cached answer, or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stored_at, result = item
            if self._clock() - stored_at > self.ttl_s:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return copy.deepcopy(result)

    def put(self, key: str, result: AnswerResult) -> None:
        """Store an answer, evicting the least recently used beyond ``max_entries``."""
        with self._lock:
            self._items[key] = (self._clock(), copy.deepcopy(result))
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
