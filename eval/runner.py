"""Ingest (or reuse) a docs folder's index, then answer every golden question as the API does."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core.schema import NodeWithScore
from qdrant_client import QdrantClient
from tqdm import tqdm

from eval.book import Book, read_book
from eval.dataset import GoldenQuestion
from eval.scoring.answered import Answered, answered
from eval.scoring.retrieval import score_answer
from ingest.pipeline import IngestOptions, run_ingest
from rag.answer.extractive import assess
from rag.answer.prompts import build_messages, parse_prompt
from rag.answer.result import passages_of
from rag.engine import TextbookQA, build_qa
from rag.retrieval.embeddings import LocalEmbedding
from rag.settings import Settings


def default_data_dir(settings: Settings, docs: Path) -> Path:
    """A data folder per docs folder under ``RAG_DATA_DIR``: ``eval-<parent>-<name>-<hash>``."""
    resolved = docs.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return settings.data_dir / f"eval-{resolved.parent.name}-{resolved.name}-{digest}"


def eval_settings(
    docs: Path,
    *,
    route_base_path: str,
    trailing_slash: bool | None,
    data_dir: Path | None,
) -> Settings:
    """The service's settings (``RAG_*``) with the site's routing and no answer cache."""
    overrides: dict[str, Any] = {
        "route_base_path": route_base_path,
        "trailing_slash": trailing_slash,
        "cache_max_entries": 0,
    }
    settings = Settings(**overrides)
    return Settings(**overrides, data_dir=data_dir or default_data_dir(settings, docs))


def config_of(settings: Settings, qa: TextbookQA) -> dict[str, Any]:
    """The settings that decide the figures, recorded in the report."""
    return {
        "retrieval_mode": settings.retrieval_mode,
        "top_k": settings.top_k,
        "candidate_k": settings.candidate_k,
        "min_relevance": settings.min_relevance,
        "min_coverage": settings.min_coverage,
        "min_similarity": settings.min_similarity,
        "max_chunks_per_page": settings.max_chunks_per_page,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "route_base_path": settings.route_base_path,
        "trailing_slash": settings.trailing_slash,
        "answer_model": qa.model_name,
    }


class PassageRecorder:
    """Keeps the passages of the latest retrieval of a ``TextbookQA``.

    An answer's sources carry only snippets; the evidence and context metrics need each source's
    full passage. The recorder wraps the instance's ``retrieve`` (what ``answer`` calls), so the
    answer itself is produced exactly as the API produces it.
    """

    def __init__(self, qa: TextbookQA) -> None:
        self.nodes: list[NodeWithScore] = []
        inner = qa.retrieve

        async def retrieve(*args: Any, **kwargs: Any) -> list[NodeWithScore]:
            nodes = await inner(*args, **kwargs)
            self.nodes = list(nodes)
            return nodes

        qa.retrieve = retrieve  # type: ignore[method-assign]  # records what the run retrieved

    def texts(self, sources: int) -> list[str]:
        """Full texts of the recorded passages, when they are the ``sources`` given."""
        if len(self.nodes) != sources:
            return []
        return [item.node.get_content() for item in self.nodes]


def gate_score(
    question: str,
    nodes: list[NodeWithScore],
    embed_model: LocalEmbedding,
    *,
    min_coverage: float,
) -> float:
    """The extractive gate's score (``Support.score``) of the passages retrieved for a question.

    The passages go through the same prompt the answerer reads, so the score is the one its
    "not covered" decision compares with ``min_similarity``; 0 when nothing was retrieved.
    """
    if not nodes:
        return 0.0
    messages = build_messages(question, passages_of(nodes))
    asked, passages = parse_prompt(messages[-1].content or "")

    def similarity(text: str, texts: list[str]) -> list[float]:
        query = embed_model.get_query_embedding(text)
        vectors = embed_model.get_text_embedding_batch(texts)
        return [sum(a * b for a, b in zip(query, v, strict=True)) for v in vectors]

    support = assess(asked, passages, min_coverage=min_coverage, similarity=similarity)
    return round(support.score(min_coverage), 4)


async def ask_all(
    qa: TextbookQA,
    questions: list[GoldenQuestion],
    book: Book,
    *,
    quiet: bool,
    embed_model: LocalEmbedding | None = None,
    min_coverage: float = 0.25,
) -> list[Answered]:
    """Answer every question as the API would.

    A selected-text question carries its selection and, as the chat widget does, the route of
    the page it was selected on. With ``embed_model``, each row also gets the extractive gate's
    score of its passages (``gate_score``), for the refusal curve.
    """
    recorder = PassageRecorder(qa)
    rows = []
    with tqdm(questions, desc="ask", unit="q", disable=quiet) as bar:
        for item in bar:
            page_url = None
            if item.selected_text and item.source_path:
                page_url = book.page_urls.get(item.source_path)
            recorder.nodes = []
            started = time.perf_counter()
            result = await qa.answer(
                item.question, selected_text=item.selected_text, page_url=page_url
            )
            total_ms = (time.perf_counter() - started) * 1000
            scored = score_answer(item, result, recorder.texts(len(result.sources)))
            score = None
            if embed_model is not None:
                score = gate_score(
                    item.question, recorder.nodes, embed_model, min_coverage=min_coverage
                )
            rows.append(answered(scored, result, book, total_ms=total_ms, gate_score=score))
    return rows


@dataclass(frozen=True)
class EvalRun:
    """The answered questions, the book they were checked against, and the configuration."""

    rows: list[Answered]
    book: Book
    config: dict[str, Any]


def run_questions(
    questions: list[GoldenQuestion],
    docs: Path,
    settings: Settings,
    *,
    embed_model: LocalEmbedding,
    quiet: bool = False,
) -> EvalRun:
    """Ingest ``docs`` incrementally into the settings' data folder, then answer every question.

    Raises:
        IngestInputError: the docs folder holds nothing to index.
    """
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        run_ingest(
            IngestOptions.from_settings(settings, docs, show_progress=not quiet),
            client=client,
            embed_model=embed_model,
        )
        book = read_book(
            docs,
            route_base_path=settings.route_base_path,
            trailing_slash=settings.trailing_slash,
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            count_tokens=embed_model.count_tokens,
        )
        qa = build_qa(settings, client=client, embed_model=embed_model)
        config = config_of(settings, qa)

        async def ask() -> list[Answered]:
            try:
                return await ask_all(
                    qa,
                    questions,
                    book,
                    quiet=quiet,
                    embed_model=embed_model,
                    min_coverage=settings.min_coverage,
                )
            finally:
                await qa.aclose()

        rows = asyncio.run(ask())
    finally:
        client.close()
    return EvalRun(rows=rows, book=book, config=config)
