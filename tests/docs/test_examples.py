"""The developer guide's examples (docs/examples/) run against real parts.

The sample book's real local Qdrant index, the real embedding model, the LLM simulator over
HTTP, the evaluation runner, and promtool for the example alert. The guide shows each file by
reference, and ``test_guide_shows_the_example_files`` checks every file it names exists.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from llama_index.core.schema import NodeWithScore, TextNode
from qdrant_client import QdrantClient

from eval.dataset import load_dataset
from eval.runner import run_questions
from ingest.pipeline import IngestOptions, run_ingest
from rag.answer.result import AnswerResult
from rag.engine import build_qa
from rag.retrieval.book_index import BookIndex
from rag.retrieval.embeddings import LocalEmbedding, build_embed_model
from rag.settings import Settings
from tests.conftest import SAMPLE_BOOK, SAMPLE_QA
from tests.deploy.binaries import require_binary
from tests.docs.markdown import DOCS, ROOT, read_page
from tests.utils.simulator import Simulator

EXAMPLES = DOCS / "examples"
QUESTION = "How does a series elastic actuator measure torque?"


def _load(name: str) -> ModuleType:
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_examples.{name}", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def client(sample_index: Settings) -> Iterator[QdrantClient]:
    opened = QdrantClient(path=str(sample_index.qdrant_path))
    yield opened
    opened.close()


def _node(url: str, score: float, **meta: object) -> NodeWithScore:
    return NodeWithScore(
        node=TextNode(text=f"text {url} {score}", metadata={"url": url, **meta}), score=score
    )


def test_one_source_per_page_postprocessor_keeps_the_best_chunk_of_each_page():
    example = _load("one_source_per_page")
    nodes = [
        _node("/docs/a#x", 0.9),
        _node("/docs/a#y", 0.8),
        _node("/docs/b", 0.7),
        _node("/docs/a#z", 0.6, selection=True),
    ]
    kept = example.OnePerPagePostprocessor().postprocess_nodes(nodes)
    assert [(n.node.metadata["url"], n.score) for n in kept] == [
        ("/docs/a#x", 0.9),
        ("/docs/b", 0.7),
        ("/docs/a#z", 0.6),
    ]


@pytest.mark.slow
def test_one_source_per_page_qa_cites_distinct_pages(sample_index, embed_model, client):
    wiring, example = _load("wiring"), _load("one_source_per_page")
    default = wiring.assemble(sample_index, client=client, embed_model=embed_model)
    diverse = wiring.assemble(
        sample_index, client=client, embed_model=embed_model, qa_class=example.OnePerPageQA
    )
    before = asyncio.run(default.retrieve(QUESTION))
    after = asyncio.run(diverse.retrieve(QUESTION))
    pages = [example.page_of(n) for n in after]
    assert len(pages) == len(set(pages)) >= 1
    assert len({example.page_of(n) for n in before}) < len(before), "the question should need it"
    result = asyncio.run(diverse.answer(QUESTION))
    assert result.sources
    assert len({s.url.split("#")[0] for s in result.sources}) == len(result.sources)


@pytest.mark.slow
def test_stock_llamaindex_retriever_answers_with_citations(sample_index, embed_model, client):
    wiring, example = _load("wiring"), _load("llamaindex_retriever")
    index = BookIndex(client, sample_index.collection, local=True)
    retriever = example.build_stock_retriever(
        client,
        sample_index.collection,
        embed_model=embed_model,
        top_k=sample_index.candidate_k,
        index=index,
    )
    qa = wiring.assemble(
        sample_index, client=client, embed_model=embed_model, retriever=retriever, index=index
    )
    result = asyncio.run(qa.answer(QUESTION))
    assert result.sources, result.answer
    assert all(s.url.startswith("/docs/") for s in result.sources)
    assert "[1]" in result.answer


@pytest.mark.slow
def test_openai_compatible_provider_by_settings_and_as_an_object(
    sample_index, embed_model, client, sim: Simulator
):
    wiring, example = _load("wiring"), _load("openai_compatible_provider")
    sim.reset()
    settings = example.provider_settings(
        sample_index, base_url=sim.v1_url, api_key="test", model="primary"
    ).model_copy(update={"llm_timeout_s": 60.0, "llm_total_budget_s": 120.0})  # a busy machine
    llm = example.build_provider_llm(
        base_url=sim.v1_url, api_key="test", model="backup", timeout_s=60.0
    )

    async def ask_both() -> tuple[AnswerResult, AnswerResult]:
        qa = build_qa(settings, client=client, embed_model=embed_model)
        direct = wiring.assemble(sample_index, client=client, embed_model=embed_model, llm=llm)
        try:
            return await qa.answer(QUESTION), await direct.answer(QUESTION)
        finally:  # the clients belong to this event loop: close them in it
            await qa.aclose()
            aclient = getattr(llm, "_aclient", None)  # OpenAILike's cached AsyncOpenAI
            if aclient is not None:
                await aclient.close()

    by_settings, as_object = asyncio.run(ask_both())
    assert (by_settings.model, by_settings.degraded) == ("primary", False)
    assert as_object.sources
    assert "[1]" in as_object.answer
    assert sim.requests("primary") >= 1
    assert sim.requests("backup") >= 1


@pytest.mark.slow
def test_another_embedding_model_reembeds_the_whole_book(
    tmp_path: Path, sample_index: Settings, embed_model: LocalEmbedding
):
    example = _load("embedding_model")
    folder = example.save_variant(
        sample_index.resolved_embed_model_path, tmp_path / "model", max_seq_length=128
    )
    settings = example.embedding_settings(
        sample_index.model_copy(update={"data_dir": tmp_path / "data"}), folder
    )
    other = build_embed_model(settings)
    assert other.model_name != embed_model.model_name  # a different fingerprint
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        options = IngestOptions(docs_dir=SAMPLE_BOOK, collection="book", show_progress=False)
        first = run_ingest(options, client=client, embed_model=embed_model)
        switched = run_ingest(options, client=client, embed_model=other)
        assert first.chunks_embedded > 0
        assert switched.chunks_embedded == first.chunks_embedded  # nothing copied over
        assert switched.chunks_copied == 0
        qa = build_qa(
            settings.model_copy(update={"collection": "book"}), client=client, embed_model=other
        )
        assert asyncio.run(qa.answer(QUESTION)).sources
    finally:
        client.close()


@pytest.mark.slow
def test_page_precision_metric_on_the_sample_golden_set(sample_index, embed_model):
    example = _load("eval_metric")
    questions = load_dataset(SAMPLE_QA)[:12]
    run = run_questions(questions, SAMPLE_BOOK, sample_index, embed_model=embed_model, quiet=True)
    value = example.page_precision_at_k(run.rows, k=5)
    assert value is not None
    assert 0 < value <= 1
    shares = []
    for row in run.rows:
        paths = [p for p in row.result.ranked_paths[:5] if p]
        if row.result.answered and paths and row.question.expected_paths:
            shares.append(sum(p in row.question.expected_paths for p in paths) / len(paths))
    assert value == round(sum(shares) / len(shares), 4)
    assert example.page_precision_at_k([]) is None


def test_example_alert_rule_is_valid_and_its_unit_tests_pass():
    promtool = require_binary("promtool")
    folder = EXAMPLES / "alerts"
    for args in (
        ["check", "rules", "example_rules.yml"],
        ["test", "rules", "example_rules_test.yml"],
    ):
        result = subprocess.run(
            [promtool, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_example_alert_uses_only_metrics_the_service_defines():
    import yaml

    from tests.deploy.promql import BUILT_INS, metric_names

    rules = yaml.safe_load((EXAMPLES / "alerts" / "example_rules.yml").read_text())["groups"]
    names = {n for g in rules for r in g["rules"] for n in metric_names(r["expr"])} - BUILT_INS
    source = (ROOT / "api" / "monitoring" / "metrics.py").read_text(encoding="utf-8")
    assert names
    assert [n for n in names if f'"{n.removesuffix("_total")}' not in source] == []


def test_every_example_file_is_linked_from_a_guide():
    linked = set()
    for path in DOCS.glob("*.md"):
        for link in read_page(path).links:
            linked.add((path.parent / link.href.partition("#")[0]).resolve())
    files = [p for p in EXAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert files
    assert [p.relative_to(DOCS).as_posix() for p in files if p.resolve() not in linked] == []
