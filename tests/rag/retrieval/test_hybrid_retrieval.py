"""Hybrid retrieval over the sample book: score fusion, and selections found by their words."""

import asyncio
from collections.abc import Iterator

import pytest
from llama_index.core.schema import QueryBundle
from qdrant_client import QdrantClient

from eval.dataset import load_dataset
from rag.answer.prompts import SELECTION_TITLE
from rag.engine import build_qa
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.postprocessors import comparable_text
from rag.retrieval.retriever import KEYWORD_WEIGHT, QdrantRetriever
from rag.retrieval.vector_store import build_vector_store
from rag.settings import Settings
from tests.conftest import SAMPLE_QA


@pytest.fixture(scope="module")
def client(sample_index: Settings) -> Iterator[QdrantClient]:
    qdrant = QdrantClient(path=str(sample_index.qdrant_path))
    yield qdrant
    qdrant.close()


def _retriever(
    client: QdrantClient,
    settings: Settings,
    embed_model: LocalEmbedding,
    mode: str,
    *,
    max_per_page: int | None = None,
) -> QdrantRetriever:
    return QdrantRetriever(
        client=client,
        vector_store=build_vector_store(client, settings.collection),
        embed_model=embed_model,
        top_k=10,
        mode=mode,  # type: ignore[arg-type]  # a parametrized mode name
        max_per_page=max_per_page,  # fusion alone: page diversity reorders on purpose
    )


def test_keywords_lift_a_chunk_by_at_most_the_keyword_weight(
    client: QdrantClient, sample_index: Settings, embed_model: LocalEmbedding
):
    hybrid = _retriever(client, sample_index, embed_model, "hybrid")
    dense = _retriever(client, sample_index, embed_model, "dense")
    questions = [q.question for q in load_dataset(SAMPLE_QA) if q.answerable][:12]
    moved = 0
    for question in questions:
        fused = hybrid.retrieve(question)
        plain = {n.node.node_id: n.score for n in dense.retrieve(question)}
        assert len(fused) == 10
        for node in fused:  # a node's score is its cosine, whichever search found it
            if node.node.node_id in plain:
                assert node.score == pytest.approx(plain[node.node.node_id], abs=1e-5)
        scores = [n.score or 0.0 for n in fused]
        # a chunk ranked above another is at most KEYWORD_WEIGHT less similar in meaning
        for i, above in enumerate(scores):
            assert all(above >= below - KEYWORD_WEIGHT - 1e-6 for below in scores[i + 1 :])
        moved += [n.node.node_id for n in fused][:5] != list(plain)[:5]
    assert moved  # the keyword side does change some rankings


def test_a_vague_question_about_a_selection_retrieves_the_chunk_it_came_from(
    client: QdrantClient, sample_index: Settings, embed_model: LocalEmbedding
):
    selection = (
        "Detect collisions between geometries (broad phase with bounding boxes, narrow phase "
        "with exact shapes)."
    )
    qa = build_qa(sample_index, client=client, embed_model=embed_model)
    nodes = asyncio.run(qa.retrieve("What does this mean?", selected_text=selection))
    question_only = qa.retriever.retrieve(QueryBundle(query_str="What does this mean?"))
    pinned, origin = nodes[0], nodes[1]
    assert pinned.node.metadata["title"] == SELECTION_TITLE
    assert pinned.node.metadata["source_path"] == "docs/03-simulation/physics-engines.md"
    assert pinned.node.metadata["url"].endswith("#what-the-engine-computes")
    assert comparable_text(selection) in comparable_text(origin.node.get_content())
    # the question alone says nothing about where to look
    assert all(
        comparable_text(selection) not in comparable_text(n.node.get_content())
        for n in question_only
    )


def test_page_diversity_reorders_the_best_candidates_and_swaps_none_out(
    client: QdrantClient, sample_index: Settings, embed_model: LocalEmbedding
):
    plain = _retriever(client, sample_index, embed_model, "hybrid")
    diverse = _retriever(client, sample_index, embed_model, "hybrid", max_per_page=1)
    reordered = 0
    for question in [q.question for q in load_dataset(SAMPLE_QA) if q.answerable][:12]:
        fused = [n.node.node_id for n in plain.retrieve(question)]
        spread = diverse.retrieve(question)
        assert sorted(n.node.node_id for n in spread) == sorted(fused)
        pages = [n.node.metadata.get("source_path") for n in spread]
        firsts = [p for i, p in enumerate(pages) if p not in pages[:i]]
        assert pages[: len(firsts)] == firsts  # every page's best chunk before any second one
        reordered += [n.node.node_id for n in spread] != fused
    assert reordered
