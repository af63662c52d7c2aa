"""Keyword side of hybrid retrieval: BM25-style sparse vectors that Qdrant scores with IDF.

Terms (``rag.text.terms``: lower-cased, stop words dropped, stemmed) are hashed to stable 32-bit
indices. A document weight is BM25's saturated term frequency; the inverse document frequency is
applied by Qdrant at query time (``Modifier.IDF``) over the live collection, so it stays right as
files are re-ingested, in local mode and on a server alike.
"""

from __future__ import annotations

import zlib
from collections import Counter

from rag.text import terms

SPARSE_ENCODER_VERSION = "bm25-crc32-2"
K1 = 1.2
B = 0.75
AVG_TERMS = 80.0
# the keyword view of a chunk starts with its heading path (``heading_path: Page > Section``):
# a term of the page title or a heading counts as this many occurrences in the body
HEADING_PREFIX = "heading_path: "
HEADING_WEIGHT = 2


def term_index(term: str) -> int:
    """Stable index of a term (the same in every process and on every machine)."""
    return zlib.crc32(term.encode("utf-8"))


def _vector(weights: dict[int, float]) -> tuple[list[int], list[float]]:
    indices = sorted(weights)
    return indices, [weights[i] for i in indices]


def _document_terms(text: str) -> list[str]:
    """The chunk's terms, those of its heading path repeated ``HEADING_WEIGHT`` times."""
    if not text.startswith(HEADING_PREFIX):
        return terms(text, identifiers=True)
    heading, _, body = text[len(HEADING_PREFIX) :].partition("\n\n")
    return terms(heading, identifiers=True) * HEADING_WEIGHT + terms(body, identifiers=True)


def encode_document(text: str) -> tuple[list[int], list[float]]:
    """BM25 term-frequency weights of a chunk (heading terms weigh more, see ``HEADING_WEIGHT``)."""
    counts = Counter(term_index(t) for t in _document_terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_TERMS)
    return _vector({i: tf * (K1 + 1) / (tf + norm) for i, tf in counts.items()})


def encode_query(text: str) -> tuple[list[int], list[float]]:
    """Each distinct query term once; Qdrant multiplies by its IDF."""
    return _vector(dict.fromkeys((term_index(t) for t in terms(text, identifiers=True)), 1.0))


def encode_documents(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """Batch form, as LlamaIndex's ``sparse_doc_fn`` expects."""
    encoded = [encode_document(text) for text in texts]
    return [i for i, _ in encoded], [v for _, v in encoded]


def encode_queries(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """Batch form, as LlamaIndex's ``sparse_query_fn`` expects."""
    encoded = [encode_query(text) for text in texts]
    return [i for i, _ in encoded], [v for _, v in encoded]
