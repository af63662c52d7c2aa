"""Embeddings looked up before they are computed: an LRU of vectors keyed by a hash of the text.

The extractive answerer compares a question with a few of its best candidate sentences; the same
sentences come back question after question (a book has a few thousand), and the question's own
vector was already computed for retrieval. Both are kept here, bounded by ``max_entries``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from llama_index.core.base.embeddings.base import BaseEmbedding

DEFAULT_ENTRIES = 20_000  # ~40 MB of 384-float vectors


def _key(kind: str, text: str) -> bytes:
    return hashlib.blake2b(f"{kind}\0{text}".encode(), digest_size=16).digest()


class VectorCache:
    """Query and text vectors of ``model``, each computed once while it stays in the cache.

    Thread-safe: the lock is held only to read or update the table, never while embedding.
    """

    def __init__(self, model: BaseEmbedding, *, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.model = model
        self.max_entries = max_entries
        self._table: OrderedDict[bytes, list[float]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _get(self, key: bytes) -> list[float] | None:
        with self._lock:
            vector = self._table.get(key)
            if vector is not None:
                self._table.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return vector

    def _put(self, key: bytes, vector: list[float]) -> None:
        with self._lock:
            self._table[key] = vector
            self._table.move_to_end(key)
            while len(self._table) > self.max_entries:
                self._table.popitem(last=False)

    def query(self, text: str) -> list[float]:
        """The query vector of ``text`` (blocking when it is not cached)."""
        key = _key("q", text)
        vector = self._get(key)
        if vector is None:
            vector = self.model.get_query_embedding(text)
            self._put(key, vector)
        return vector

    def texts(self, texts: Sequence[str]) -> list[list[float]]:
        """The text vectors of ``texts``, embedding only the ones not cached, in one batch."""
        keys = [_key("t", text) for text in texts]
        found = [self._get(key) for key in keys]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            computed = self.model.get_text_embedding_batch([texts[i] for i in missing])
            for i, vector in zip(missing, computed, strict=True):
                found[i] = vector
                self._put(keys[i], vector)
        return [vector for vector in found if vector is not None]
