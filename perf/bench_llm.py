"""Benchmark of the LLM layer against the simulator, over real HTTP.

    python -m perf.bench_llm [--requests 200] [--out reports/bench_llm.json]

- the FallbackLLM wrapper's own overhead per call (vs the same OpenAILike model called directly);
- ``/v1/chat`` p50/p95 with the simulator at fixed latency, healthy and with 50 % primary errors;
- cache-hit latency;
- ``/v1/chat/stream`` time to the first token event vs the whole answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from llama_index.llms.openai_like import OpenAILike
from pydantic import SecretStr
from qdrant_client import QdrantClient

from eval.dataset import load_dataset
from ingest.pipeline import IngestOptions, run_ingest
from perf.serving import run_service, run_simulator, summary_ms, write_figures
from rag.answer.prompts import Passage, build_messages
from rag.llm.models import build_llm
from rag.retrieval.embeddings import build_embed_model
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MODEL_SPEC = "primary:ttft_ms=200,tps=100"
BACKUP_SPEC = "backup:ttft_ms=200,tps=100"


async def _overhead(v1_url: str, calls: int) -> dict[str, Any]:
    settings = Settings(
        _env_file=None, llm_base_url=v1_url, llm_api_key=SecretStr("x"), llm_model="fast"
    )
    wrapped = build_llm(settings)
    direct = OpenAILike(
        model="fast", api_base=v1_url, api_key="x", is_chat_model=True, max_retries=0
    )
    passages = [Passage(index=1, title="T", section="S", text="The ZMP must stay in the polygon.")]
    messages = build_messages("Where must the ZMP stay?", passages)
    timings: dict[str, list[float]] = {"direct": [], "wrapped": []}
    for _ in range(calls):  # interleaved, so drift on the machine hits both alike
        for name, llm in (("direct", direct), ("wrapped", wrapped)):
            started = time.perf_counter()
            await llm.achat(messages)
            timings[name].append((time.perf_counter() - started) * 1000)
    await wrapped.aclose()  # type: ignore[attr-defined]  # the LLM interface has no aclose
    direct_p50 = statistics.median(timings["direct"])
    wrapped_p50 = statistics.median(timings["wrapped"])
    return {
        "calls": calls,
        "direct_p50_ms": round(direct_p50, 2),
        "wrapped_p50_ms": round(wrapped_p50, 2),
        "overhead_p50_ms": round(wrapped_p50 - direct_p50, 2),
    }


def _chat_run(base: str, questions: list[str], requests: int) -> dict[str, Any]:
    latencies, degraded, errors, models = [], 0, 0, {}
    with httpx.Client(base_url=base, timeout=60) as http:
        for i in range(requests):
            started = time.perf_counter()
            response = http.post("/v1/chat", json={"question": questions[i % len(questions)]})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors += 1
                continue
            body = response.json()
            degraded += body["degraded"]
            models[body["model"]] = models.get(body["model"], 0) + 1
    return {
        "requests": requests,
        **summary_ms(latencies),
        "errors": errors,
        "degraded": degraded,
        "models": models,
    }


def _stream_run(base: str, questions: list[str], requests: int) -> dict[str, Any]:
    first, total = [], []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i in range(requests):
            started = time.perf_counter()
            seen_token = False
            body = {"question": questions[i % len(questions)]}
            with http.stream("POST", "/v1/chat/stream", json=body) as response:
                for line in response.iter_lines():
                    if line == "event: token" and not seen_token:
                        first.append((time.perf_counter() - started) * 1000)
                        seen_token = True
            total.append((time.perf_counter() - started) * 1000)
    return {
        "requests": requests,
        "first_token": summary_ms(first),
        "complete": summary_ms(total),
    }


def _cache_run(base: str, questions: list[str]) -> dict[str, Any]:
    misses, hits = [], []
    with httpx.Client(base_url=base, timeout=60) as http:
        for bucket in (misses, hits):
            for question in questions:
                started = time.perf_counter()
                body = http.post("/v1/chat", json={"question": question}).json()
                bucket.append((time.perf_counter() - started) * 1000)
                assert body["cached"] is (bucket is hits)  # noqa: S101 - the figure means nothing otherwise
    return {"questions": len(questions), "miss": summary_ms(misses), "hit": summary_ms(hits)}


def main(argv: list[str] | None = None) -> int:
    """Run the LLM-layer benchmarks and write the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m perf.bench_llm", description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_llm.json")
    args = parser.parse_args(argv)
    questions = [
        q.question for q in load_dataset(ROOT / "sample_book" / "qa.jsonl") if q.answerable
    ]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = Settings(_env_file=None, data_dir=data_dir)
        client = QdrantClient(path=str(settings.qdrant_path))
        try:
            options = IngestOptions(docs_dir=ROOT / "sample_book" / "docs", collection="textbook")
            run_ingest(options, client=client, embed_model=build_embed_model(settings))
        finally:
            client.close()
        with run_simulator([MODEL_SPEC, BACKUP_SPEC, "fast:ttft_ms=0,tps=0"]) as v1_url:
            results["wrapper_overhead"] = asyncio.run(_overhead(v1_url, 300))
            print(f"wrapper overhead: {json.dumps(results['wrapper_overhead'])}")
            llm_env = {
                "RAG_LLM_BASE_URL": v1_url,
                "RAG_LLM_API_KEY": "x",
                "RAG_LLM_MODEL": "primary",
                "RAG_LLM_FALLBACK_MODELS": "backup",
            }
            with run_service(data_dir, {**llm_env, "RAG_CACHE_MAX_ENTRIES": "0"}) as (base, _):
                results["chat_healthy"] = _chat_run(base, questions, args.requests)
                print(f"/v1/chat healthy: {json.dumps(results['chat_healthy'])}")
                results["stream_healthy"] = _stream_run(base, questions, 50)
                print(f"/v1/chat/stream: {json.dumps(results['stream_healthy'])}")
                control = v1_url.removesuffix("/v1")
                httpx.put(
                    f"{control}/_sim/models/primary",
                    json={"error_rate": 0.5, "error_kind": "unavailable"},
                ).raise_for_status()
                results["chat_primary_50pct_503"] = _chat_run(base, questions, args.requests)
                print(f"/v1/chat 50% primary 503: {json.dumps(results['chat_primary_50pct_503'])}")
                httpx.put(
                    f"{control}/_sim/models/primary", json={"error_rate": 0}
                ).raise_for_status()
            with run_service(data_dir, llm_env) as (base, _):
                results["cache"] = _cache_run(base, questions[:20])
                print(f"cache: {json.dumps(results['cache'])}")
    write_figures(results, args.out, "bench_llm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
