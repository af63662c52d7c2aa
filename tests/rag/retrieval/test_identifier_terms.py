"""Identifiers are found as a reader types them: whole, or by their words."""

from qdrant_client import models

from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.sparse import encode_document, encode_query, term_index
from rag.text import identifier_parts, terms


def test_camel_and_snake_case_split_and_stay_whole():
    assert identifier_parts("httpBatchLink") == ["http", "batch", "link"]
    assert identifier_parts("XMLParser") == ["xml", "parser"]
    assert identifier_parts("legacy_createStore") == ["legacy", "create", "store"]
    assert identifier_parts("store") == []
    found = terms("Use httpBatchLink.", identifiers=True)
    assert terms("Use httpBatchLink.") == ["httpbatchlink"]  # the answerer's terms: whole
    assert "httpbatchlink" in found
    assert {"http", "batch", "link"} <= set(found)


def test_a_question_in_words_matches_the_identifier_in_a_chunk():
    doc = dict(zip(*encode_document("Import configureStore from the toolkit."), strict=True))
    query = dict(zip(*encode_query("how do I configure the store"), strict=True))
    assert {term_index("configure"), term_index("store")} == set(query)
    assert set(query) <= set(doc)


def test_heading_terms_weigh_more_than_body_terms():
    plain = dict(
        zip(*encode_document("heading_path: Guide > Other\n\nremapping topics"), strict=True)
    )
    titled = dict(
        zip(*encode_document("heading_path: Guide > Remapping\n\nremapping topics"), strict=True)
    )
    assert titled[term_index("remapp")] > plain[term_index("remapp")]


def _point(pid: int, page: str) -> models.ScoredPoint:
    return models.ScoredPoint(
        id=pid, version=0, score=1.0 - pid / 100, payload={"source_path": page}
    )


def test_a_page_keeps_at_most_two_places_before_other_pages():
    retriever = QdrantRetriever.__new__(QdrantRetriever)
    retriever._max_per_page = 2  # the one knob _diverse reads
    points = [_point(1, "a"), _point(2, "a"), _point(3, "a"), _point(4, "b"), _point(5, "a")]
    assert [p.id for p in retriever._diverse(points)] == [1, 2, 4, 3, 5]
    retriever._max_per_page = None
    assert [p.id for p in retriever._diverse(points)] == [1, 2, 3, 4, 5]
