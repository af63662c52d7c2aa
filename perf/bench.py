"""Benchmark: ingest throughput, re-ingest cost, retrieval quality, /v1/chat latency, server memory.

    python -m perf.bench [--corpora ../shared/corpora] [--requests 200] [--out reports/bench.json]

Each part prints its figures; the JSON file keeps them all. The server is started with ``rag-serve``
on a free loopback port, exactly as an operator would run it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from qdrant_client import QdrantClient

from eval.dataset import load_dataset
from eval.scoring.retrieval import evaluate_retrieval
from ingest.pipeline import IngestOptions, run_ingest
from perf.serving import rss_mb, run_service, summary_ms, write_figures
from rag.engine import build_qa
from rag.retrieval.embeddings import LocalEmbedding, build_embed_model
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def bench_ingest(
    docs: Path, data_dir: Path, base: str, embed: LocalEmbedding, trailing_slash: bool | None = None
) -> dict[str, Any]:
    """Full ingest, then a second run over the unchanged folder."""
    settings = Settings(_env_file=None, data_dir=data_dir)
    client = QdrantClient(path=str(settings.qdrant_path))
    options = IngestOptions(
        docs_dir=docs, collection="textbook", route_base_path=base, trailing_slash=trailing_slash
    )
    try:
        first = run_ingest(options, client=client, embed_model=embed)
        second = run_ingest(options, client=client, embed_model=embed)
    finally:
        client.close()
    figures = {
        "docs": str(docs),
        "files": first.files_seen,
        "chunks": first.chunks_total,
        "skipped": len(first.skipped),
        "first_run_s": round(first.seconds, 2),
        "chunks_per_s": round(first.chunks_embedded / first.seconds, 1),
        "second_run_s": round(second.seconds, 3),
        "second_run_embedded": second.chunks_embedded,
        "second_over_first": round(second.seconds / first.seconds, 4),
    }
    print(f"ingest {docs.name}: {json.dumps(figures)}")
    return figures


def bench_quality(qa_file: Path, data_dir: Path, embed: LocalEmbedding) -> dict[str, Any]:
    """hit@k, MRR and refusal accuracy of the default pipeline on a golden set."""
    settings = Settings(_env_file=None, data_dir=data_dir)
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        qa = build_qa(settings, client=client, embed_model=embed)
        report = asyncio.run(evaluate_retrieval(qa, load_dataset(qa_file)))
    finally:
        client.close()
    figures = {
        "dataset": str(qa_file),
        "questions": len(report.results),
        "hit@1": round(report.hit_at(1), 3),
        "hit@5": round(report.hit_at(5), 3),
        "mrr": round(report.mrr, 3),
        "refusal_accuracy": round(report.refusal_accuracy, 3),
        "false_refusals": [r.question.id for r in report.false_refusals],
        "misses@5": [r.question.id for r in report.answerable if not r.rank or r.rank > 5],
    }
    print(f"quality {qa_file.parent.name}: {json.dumps(figures)}")
    return figures


def bench_latency(data_dir: Path, questions: list[str], requests: int) -> dict[str, Any]:
    """Sequential /v1/chat requests against ``rag-serve``; latency percentiles and server RSS."""
    with run_service(data_dir, {"RAG_CACHE_MAX_ENTRIES": "0"}) as (base, pid):
        with httpx.Client(base_url=base, timeout=30) as http:
            http.post("/v1/chat", json={"question": questions[0]})  # warm-up
            latencies = []
            for i in range(requests):
                started = time.perf_counter()
                response = http.post("/v1/chat", json={"question": questions[i % len(questions)]})
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
        figures = {"requests": requests, **summary_ms(latencies), "server_rss_mb": rss_mb(pid)}
    print(f"latency /v1/chat: {json.dumps(figures)}")
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark and write the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m perf.bench", description=__doc__)
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.json")
    args = parser.parse_args(argv)
    physical, redux = args.corpora / "physical-ai", args.corpora / "redux-docs"
    if not (physical / "qa.jsonl").is_file() or not (redux / "docs").is_dir():
        print(f"bench: error: corpora not found under {args.corpora}", file=sys.stderr)
        return 1
    embed = build_embed_model(Settings(_env_file=None))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["ingest_redux"] = bench_ingest(redux / "docs", work / "redux", "/", embed)
        results["ingest_physical_ai"] = bench_ingest(
            physical / "docs", work / "pai", "/docs", embed
        )
        results["quality_physical_ai"] = bench_quality(physical / "qa.jsonl", work / "pai", embed)
        results["ingest_sample"] = bench_ingest(
            ROOT / "sample_book" / "docs", work / "sample", "/docs", embed
        )
        results["quality_sample"] = bench_quality(
            ROOT / "sample_book" / "qa.jsonl", work / "sample", embed
        )
        questions = [q.question for q in load_dataset(physical / "qa.jsonl")]
        results["latency_physical_ai"] = bench_latency(work / "pai", questions, args.requests)
    write_figures(results, args.out, "bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
