"""Embeddings looked up before they are computed: an LRU of vectors keyed by a hash of the text.

The extractive answerer compares a question with a few of its best candidate sentences; the same
sentences come back question after question (a book has a few thousand), and the question's own
vector was already computed for retrieval. Both are kept here, bounded by ``max_entries``, as
float32 arrays (the model's own precision): a 384-float vector takes 1.6 kB so, where a list of
Python floats takes about 12 kB.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import cast

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from numpy.typing import NDArray

DEFAULT_ENTRIES = 20_000  # ~33 MB of 384-float vectors
Vector = NDArray[np.float32]


def _key(kind: str, text: str) -> bytes:
    return hashlib.blake2b(f"{kind}\0{text}".encode(), digest_size=16).digest()


class VectorCache:
    """Query and text vectors of ``model``, each computed once while it stays in the cache.

    Thread-safe: the lock is held only to read or update the table, never while embedding.
    """

    def __init__(self, model: BaseEmbedding, *, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.model = model
        self.max_entries = max_entries
        self._table: OrderedDict[bytes, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _get(self, key: bytes) -> Vector | None:
        with self._lock:
            vector = self._table.get(key)
            if vector is not None:
                self._table.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return vector

    def _put(self, key: bytes, values: Sequence[float]) -> Vector:
        vector = np.asarray(values, dtype=np.float32)
        vector.flags.writeable = False  # shared between threads
        with self._lock:
            self._table[key] = vector
            self._table.move_to_end(key)
            while len(self._table) > self.max_entries:
                self._table.popitem(last=False)
        return vector

    def query(self, text: str) -> list[float]:
        """The query vector of ``text`` (blocking when it is not cached)."""
        return cast(list[float], self._query(text).tolist())

    def texts(self, texts: Sequence[str]) -> list[list[float]]:
        """The text vectors of ``texts``, embedding only the ones not cached, in one batch."""
        return [cast(list[float], vector.tolist()) for vector in self._texts(texts)]

    def cosines(self, question: str, texts: Sequence[str]) -> list[float]:
        """The dot product (the cosine: vectors are normalised) of each text with the question."""
        if not texts:
            return []
        query = self._query(question).astype(np.float64)
        matrix = np.stack(self._texts(texts)).astype(np.float64)
        return [float(value) for value in matrix @ query]

    def __len__(self) -> int:
        return len(self._table)

    def _query(self, text: str) -> Vector:
        key = _key("q", text)
        vector = self._get(key)
        if vector is None:
            vector = self._put(key, self.model.get_query_embedding(text))
        return vector

    def _texts(self, texts: Sequence[str]) -> list[Vector]:
        keys = [_key("t", text) for text in texts]
        found = [self._get(key) for key in keys]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            computed = self.model.get_text_embedding_batch([texts[i] for i in missing])
            for i, values in zip(missing, computed, strict=True):
                found[i] = self._put(keys[i], values)
        return [vector for vector in found if vector is not None]
