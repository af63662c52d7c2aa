"""Resolving a reader's doc version and locale against what an index holds."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient, models

from rag.retrieval.retriever import QdrantRetriever
from rag.retrieval.scopes import BookScope, UnknownScopeError, resolve_scope
from rag.retrieval.vector_store import build_vector_store

SITE = {
    "versions": ["current", "2.0", "1.0"],
    "locales": ["en", "fr"],
    "default_version": "2.0",
    "default_locale": "en",
}


def test_defaults_come_from_the_index():
    assert resolve_scope(SITE, None, None) == BookScope("2.0", "en", filtered=True)
    assert resolve_scope(SITE, "current", "fr") == BookScope("current", "fr", filtered=True)


def test_the_filter_matches_both_fields():
    query_filter = BookScope("1.0", "fr").query_filter()
    assert query_filter is not None
    conditions = {(c.key, c.match.value) for c in query_filter.must}  # type: ignore[union-attr]  # must is a list here
    assert conditions == {("version", "1.0"), ("locale", "fr")}


@pytest.mark.parametrize(
    "described",
    [
        None,
        {
            "versions": ["current"],
            "locales": ["en"],
            "default_version": "current",
            "default_locale": "en",
        },
    ],
)
def test_a_single_scope_index_is_searched_whole(described):
    scope = resolve_scope(described, None, None)
    assert (scope.version, scope.locale, scope.query_filter()) == ("current", "en", None)
    assert resolve_scope(described, "current", "en").query_filter() is None


@pytest.mark.parametrize(
    ("version", "locale", "field", "known"),
    [("3.0", None, "version", ["current", "2.0", "1.0"]), (None, "de", "locale", ["en", "fr"])],
)
def test_unknown_values_name_what_the_index_has(version, locale, field, known):
    with pytest.raises(UnknownScopeError) as info:
        resolve_scope(SITE, version, locale)
    assert (info.value.field, info.value.known) == (field, known)
    assert str(info.value).startswith(f"Unknown {field}")


def test_an_old_index_accepts_only_its_one_scope():
    with pytest.raises(UnknownScopeError):
        resolve_scope(None, "1.0", None)


def test_a_scoped_retriever_keeps_every_setting_of_the_shared_one():
    client = QdrantClient(location=":memory:")
    base = QdrantRetriever(
        client=client,
        vector_store=build_vector_store(client, "book"),
        embed_model=None,  # type: ignore[arg-type]  # not used: nothing is retrieved
        top_k=3,
        mode="dense",
        max_per_page=1,
    )
    query_filter = models.Filter(must=[])
    scoped = base.scoped(query_filter)
    shared = {k: v for k, v in vars(base).items() if k != "_filter"}
    assert {k: v for k, v in vars(scoped).items() if k != "_filter"} == shared
    assert (base._filter, scoped._filter) == (None, query_filter)
