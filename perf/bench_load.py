"""Load benchmark over HTTP: latency percentiles against readers, the knee, throughput and memory.

    python -m perf.bench_load [--data-dir DIR] [--readers 1,10,50,100,200,500,1000]
                              [--step-s 60] [--modes extractive,model] [--out reports/bench_load]

``rag-serve`` runs as an operator runs it (its own process on a free loopback port, SQLite in the
data folder), answer cache off (``RAG_CACHE_MAX_ENTRIES=0``), trusting 127.0.0.1 as a proxy so
that each reader's ``X-Forwarded-For`` address is its own, rate limits lifted (they would count a
benchmark, not the service). Model mode answers through the LLM simulator (time to first token
500 ms, 50 tokens/s) with ``RAG_LLM_MAX_IN_FLIGHT`` raised to the admission limit.

Per mode: one reader back to back (the floor), 32 readers closed loop (throughput), then the ramp
of open-loop readers (10 questions a minute each; follow-ups, selected text and streams in the
mix) until errors pass 1 %. Writes ``<out>.json`` and ``<out>.html`` (charts). Exit codes: 0 done,
1 failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from eval.dataset import load_dataset
from eval.report.build import percentile
from perf.bench_report import write_report
from perf.readers import Sample, closed_loop, open_loop
from perf.serving import rss_mb, run_service, run_simulator

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "physical-ai"
TTFT_S, TPS = 0.5, 50
MODEL = "bench-model"
ERROR_LIMIT = 0.01


def _pcts(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "p50": round(percentile(list(values), 0.50), 1),
        "p95": round(percentile(list(values), 0.95), 1),
        "p99": round(percentile(list(values), 0.99), 1),
        "n": len(values),
    }


def summarise(samples: Sequence[Sample], seconds: float, *, model_mode: bool) -> dict[str, Any]:
    """Percentiles of each stage, errors by code, and throughput, of one run."""
    ok = [s for s in samples if s.status == 200]
    errors = Counter(f"{s.status} {s.error}" for s in samples if s.status != 200)
    refused = [s.total_ms for s in samples if s.status == 503]
    figures: dict[str, Any] = {
        "requests": len(samples),
        "ok": len(ok),
        "errors": dict(errors),
        "error_rate": round(1 - len(ok) / len(samples), 4) if samples else 0.0,
        "answers_per_s": round(len(ok) / seconds, 2) if seconds else 0.0,
        "total_ms": _pcts([s.total_ms for s in ok]),
        "retrieval_ms": _pcts([s.retrieval_ms for s in ok if s.retrieval_ms is not None]),
        "generation_ms": _pcts([s.generation_ms for s in ok if s.generation_ms is not None]),
        "ttft_ms": _pcts([s.ttft_ms for s in ok if s.ttft_ms is not None]),
        "refused_ms": _pcts(refused),
        "max_ms": round(max((s.total_ms for s in samples), default=0.0), 1),
    }
    if model_mode:  # the model's own time is known: TTFT plus its tokens at TPS
        plain = [s for s in ok if not s.follow_up and s.completion_tokens]
        figures["overhead_ms"] = _pcts(
            [s.total_ms - 1000 * (TTFT_S + s.completion_tokens / TPS) for s in plain]
        )
        figures["first_token_overhead_ms"] = _pcts(
            [s.ttft_ms - 1000 * TTFT_S for s in plain if s.ttft_ms is not None]
        )
    return figures


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def run_mode(
    mode: str,
    data_dir: Path,
    questions: list[str],
    readers: list[int],
    step_s: float,
    closed_s: float,
    interval_s: float,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Every run of one answer mode against one ``rag-serve``."""
    env = {
        "RAG_CACHE_MAX_ENTRIES": "0",
        "RAG_TRUSTED_PROXIES": "127.0.0.1",
        "RAG_LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["RAG_DATABASE_URL"] = database_url
    model_mode = mode == "model"
    results: dict[str, Any] = {"mode": mode, "steps": []}
    with ExitStack() as stack:
        if model_mode:
            url = stack.enter_context(
                run_simulator([f"{MODEL}:ttft_ms={int(TTFT_S * 1000)},tps={TPS}"])
            )
            env |= {
                "RAG_LLM_BASE_URL": url,
                "RAG_LLM_API_KEY": "bench",
                "RAG_LLM_MODEL": MODEL,
                "RAG_LLM_MAX_IN_FLIGHT": "1024",
                "RAG_LLM_TIMEOUT_S": "20",
            }
        base, pid = stack.enter_context(run_service(data_dir, env))
        results["rss_start_mb"] = rss_mb(pid)
        asyncio.run(closed_loop(base, questions, readers=2, duration_s=5))  # warm-up
        started, load = time.perf_counter(), _load()
        samples, secs = asyncio.run(closed_loop(base, questions, readers=1, duration_s=closed_s))
        results["one_reader_back_to_back"] = {
            **summarise(samples, secs, model_mode=model_mode),
            "load_avg_1m": load,
        }
        print(f"[{mode}] 1 reader: {json.dumps(results['one_reader_back_to_back'])}", flush=True)
        if not model_mode:
            load = _load()
            samples, secs = asyncio.run(
                closed_loop(base, questions, readers=32, duration_s=closed_s)
            )
            results["closed_loop_32"] = {
                **summarise(samples, secs, model_mode=False),
                "load_avg_1m": load,
            }
            print(f"[{mode}] 32 closed loop: {json.dumps(results['closed_loop_32'])}", flush=True)
        for count in readers:
            load = _load()
            started = time.perf_counter()
            samples = asyncio.run(
                open_loop(base, questions, readers=count, duration_s=step_s, interval_s=interval_s)
            )
            secs = time.perf_counter() - started
            step = {
                "readers": count,
                "offered_per_s": round(count / interval_s, 2),
                **summarise(samples, secs, model_mode=model_mode),
                "rss_mb": rss_mb(pid),
                "load_avg_1m": load,
                "load_avg_1m_after": _load(),
            }
            results["steps"].append(step)
            print(f"[{mode}] {count} readers: {json.dumps(step)}", flush=True)
            if step["error_rate"] > ERROR_LIMIT:
                break
    good = [s["readers"] for s in results["steps"] if s["error_rate"] <= ERROR_LIMIT]
    results["knee_readers"] = max(good, default=0)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write JSON and the HTML report."""
    parser = argparse.ArgumentParser(
        prog="python -m perf.bench_load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder with docs/, qa.jsonl")
    parser.add_argument("--data-dir", type=Path, help="an ingested data folder (else ingested)")
    parser.add_argument("--readers", default="1,10,50,100,200,500,1000")
    parser.add_argument("--step-s", type=float, default=60.0, help="seconds per ramp step")
    parser.add_argument("--closed-s", type=float, default=30.0, help="seconds per closed loop")
    parser.add_argument("--interval-s", type=float, default=6.0, help="seconds between questions")
    parser.add_argument("--modes", default="extractive,model")
    parser.add_argument("--database-url", help="RAG_DATABASE_URL (default: SQLite in the data dir)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench_load")
    args = parser.parse_args(argv)
    try:
        readers = [int(n) for n in args.readers.split(",") if n.strip()]
    except ValueError:
        parser.error("--readers takes comma-separated integers")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"extractive", "model"}:
        parser.error("--modes takes extractive and/or model")
    if not (args.corpus / "qa.jsonl").is_file():
        print(f"bench_load: error: no qa.jsonl in {args.corpus}", file=sys.stderr)
        return 1
    questions = [q.question for q in load_dataset(args.corpus / "qa.jsonl") if q.answerable]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or _ingest(args.corpus / "docs", Path(tmp))
        figures: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
            "settings": {
                "readers": readers,
                "step_s": args.step_s,
                "closed_s": args.closed_s,
                "interval_s": args.interval_s,
                "database": "PostgreSQL" if args.database_url else "SQLite",
                "model": {"ttft_s": TTFT_S, "tokens_per_s": TPS},
            },
        }
        for mode in modes:
            figures[mode] = run_mode(
                mode,
                data_dir,
                questions,
                readers,
                args.step_s,
                args.closed_s,
                args.interval_s,
                database_url=args.database_url,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(figures, indent=2))
    write_report(figures, args.out.with_suffix(".html"))
    print(f"bench_load: figures in {args.out.with_suffix('.json')}, report in .html")
    return 0


def _ingest(docs: Path, tmp: Path) -> Path:
    data = tmp / "data"
    env = {**os.environ, "RAG_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "ingest.cli", str(docs), "--trailing-slash", "false", "--quiet"],
        env=env,
        check=True,
    )
    return data


if __name__ == "__main__":
    sys.exit(main())
