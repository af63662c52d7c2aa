"""Run the locust readers (``perf/locustfile.py``) headless against rag-serve; CSV and HTML out.

    python -m perf.load [--host URL | --data-dir DIR] [--users 100] [--spawn-rate 10]
                        [--duration 10m] [--out reports/locust]

Without ``--host`` a ``rag-serve`` is started on a free loopback port over ``--data-dir`` (an
ingested data folder; default: the sample book, ingested into a temporary folder), answer cache
off, trusting 127.0.0.1 as a proxy, rate limits lifted. Writes ``<out>_stats.csv`` (and locust's
other CSV files) and ``<out>.html``; prints the summary. Exit codes: 0 no failures, 1 failures or
locust failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from perf.serving import run_service

ROOT = Path(__file__).resolve().parents[1]
SERVICE_ENV = {
    "RAG_CACHE_MAX_ENTRIES": "0",
    "RAG_TRUSTED_PROXIES": "127.0.0.1",
    "RAG_LOG_LEVEL": "WARNING",
}


def run_locust(
    host: str,
    *,
    users: int,
    spawn_rate: float,
    duration: str,
    out: Path,
    questions: Path | None = None,
) -> list[dict[str, Any]]:
    """Run locust headless; the rows of its ``_stats.csv`` (one per request name, and Aggregated).

    Raises:
        RuntimeError: locust itself failed (not: some requests failed).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "perf" / "locustfile.py"),
        "--headless",
        "--host",
        host,
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "-t",
        duration,
        "--csv",
        str(out),
        "--html",
        str(out.with_suffix(".html")),
        "--only-summary",
        "--stop-timeout",
        "30",
        "--exit-code-on-error",
        "0",
    ]
    env = dict(os.environ)
    if questions is not None:
        env["RAG_LOCUST_QUESTIONS"] = str(questions)
    done = subprocess.run(args, env=env, check=False)  # noqa: S603 - our own locustfile
    stats = Path(f"{out}_stats.csv")
    if done.returncode != 0 or not stats.is_file():
        raise RuntimeError(f"locust exited with {done.returncode}")
    with stats.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _sample_data(tmp: Path) -> Path:
    data = tmp / "data"
    env = {**os.environ, "RAG_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    docs = ROOT / "sample_book" / "docs"
    subprocess.run([sys.executable, "-m", "ingest.cli", str(docs), "--quiet"], env=env, check=True)  # noqa: S603
    return data


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, start the service if need be, run locust, report failures."""
    parser = argparse.ArgumentParser(
        prog="python -m perf.load", description=__doc__.splitlines()[0]
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--host", help="a running service's base URL")
    where.add_argument("--data-dir", type=Path, help="an ingested data folder to serve")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--duration", default="10m", help="locust's -t (e.g. 20s, 10m)")
    parser.add_argument("--questions", type=Path, help="a qa.jsonl (default: the sample book's)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "locust")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        host = args.host
        if host is None:
            data = args.data_dir
            if data is None:
                data = _sample_data(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            host, _ = stack.enter_context(run_service(data, SERVICE_ENV))
        try:
            rows = run_locust(
                host,
                users=args.users,
                spawn_rate=args.spawn_rate,
                duration=args.duration,
                out=args.out,
                questions=args.questions,
            )
        except RuntimeError as exc:
            print(f"load: error: {exc}", file=sys.stderr)
            return 1
    failures = sum(int(row["Failure Count"]) for row in rows if row["Name"] != "Aggregated")
    for row in rows:
        print(
            f"{row['Type']:5} {row['Name']:18} n={row['Request Count']:>6} "
            f"failures={row['Failure Count']:>4} p50={row['50%']} p95={row['95%']} "
            f"p99={row['99%']} ms"
        )
    print(
        f"load: {failures} failures; CSV {args.out}_stats.csv, HTML {args.out.with_suffix('.html')}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
