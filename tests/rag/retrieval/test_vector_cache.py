"""VectorCache: each text embedded once, bounded, compact, and the cosines the answerer reads."""

from __future__ import annotations

import math
import sys

from llama_index.core.embeddings import MockEmbedding
from pydantic import Field

from rag.retrieval.vector_cache import VectorCache


class CountingEmbedding(MockEmbedding):
    """Deterministic unit vectors per text; counts the texts it was asked to embed."""

    embedded: list[str] = Field(default_factory=list)

    def _vector(self, text: str) -> list[float]:
        raw = [math.sin(len(text) * (i + 1) + ord(text[0])) for i in range(self.embed_dim)]
        norm = math.sqrt(sum(v * v for v in raw))
        return [v / norm for v in raw]

    def _get_query_embedding(self, query: str) -> list[float]:
        self.embedded.append(query)
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        self.embedded.append(text)
        return self._vector(text)


def model() -> CountingEmbedding:
    return CountingEmbedding(embed_dim=384)


def test_each_text_is_embedded_once_and_queries_and_texts_are_kept_apart():
    embed = model()
    cache = VectorCache(embed)
    first = cache.texts(["alpha", "beta"])
    again = cache.texts(["beta", "alpha", "gamma"])
    assert embed.embedded == ["alpha", "beta", "gamma"]
    assert again[:2] == [first[1], first[0]]
    cache.query("alpha")  # a query vector is its own entry, even for the same text
    cache.query("alpha")
    assert embed.embedded == ["alpha", "beta", "gamma", "alpha"]
    assert (cache.hits, cache.misses) == (3, 4)


def test_vectors_keep_the_model_values_at_float32_precision():
    embed = model()
    cache = VectorCache(embed)
    [vector] = cache.texts(["a sentence"])
    expected = embed._vector("a sentence")
    assert len(vector) == 384
    assert all(isinstance(v, float) for v in vector)
    assert max(abs(a - b) for a, b in zip(vector, expected, strict=True)) < 1e-7


def test_cosines_are_the_dot_products_with_the_question():
    embed = model()
    cache = VectorCache(embed)
    texts = ["one sentence", "another one", "x"]
    cosines = cache.cosines("the question", texts)
    query = cache.query("the question")
    expected = [sum(a * b for a, b in zip(query, v, strict=True)) for v in cache.texts(texts)]
    assert [round(c, 6) for c in cosines] == [round(e, 6) for e in expected]
    assert cache.cosines("the question", []) == []


def test_the_cache_is_bounded_and_drops_the_least_recently_used():
    embed = model()
    cache = VectorCache(embed, max_entries=2)
    cache.texts(["a1"])
    cache.texts(["b22"])
    cache.texts(["a1"])  # a1 is now the most recent
    cache.texts(["c333"])  # b22 goes
    assert len(cache) == 2
    cache.texts(["a1"])
    cache.texts(["b22"])
    assert embed.embedded == ["a1", "b22", "c333", "b22"]


def test_an_entry_is_compact():
    cache = VectorCache(model())
    cache.texts(["a sentence"])
    [vector] = cache._table.values()
    assert vector.nbytes == 384 * 4
    assert sys.getsizeof(vector) < 2_000  # a list of 384 Python floats takes about 12 kB
    assert not vector.flags.writeable
