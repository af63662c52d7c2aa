"""Start the service and the LLM simulator as real processes on loopback, for benchmarks."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from eval.report.build import percentile


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of latencies in milliseconds."""
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "max_ms": round(max(values), 1),
    }


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout_s} s")


@contextmanager
def run_process(
    args: list[str], ready_url: str, env: dict[str, str], *, stderr: IO[bytes] | None = None
) -> Iterator[int]:
    """Run a process until the block ends; yields its pid once ``ready_url`` answers.

    Its stderr goes to ``stderr`` when given (e.g. an open file, to read its logs), else nowhere.
    """
    proc = subprocess.Popen(  # noqa: S603 - our own entry points
        args,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
    )
    try:
        _wait_ready(ready_url, proc)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


UNLIMITED_RATES = {
    "RAG_RATE_LIMIT_SESSION": "1000000/minute",
    "RAG_RATE_LIMIT_ADDRESS": "1000000000/day",
    "RAG_RATE_LIMIT_NEW_SESSIONS": "1000000/minute",
}


@contextmanager
def run_service(
    data_dir: Path, env: dict[str, str] | None = None, *, stderr: IO[bytes] | None = None
) -> Iterator[tuple[str, int]]:
    """``rag-serve`` on a free port over ``data_dir``; yields (base URL, pid).

    Its log lines (stderr) go to ``stderr`` when given, else nowhere. The rate limits are lifted
    (``UNLIMITED_RATES``: a benchmark measures the service, not its limiter) unless ``env`` sets
    them.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "api.cli", "--port", str(port)]
    service_env = {
        "RAG_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        **UNLIMITED_RATES,
        **(env or {}),
    }
    with run_process(args, f"{base}/readyz", service_env, stderr=stderr) as pid:
        yield base, pid


@contextmanager
def run_simulator(models: list[str]) -> Iterator[str]:
    """The LLM simulator on a free port with the given model specs; yields its /v1 URL."""
    port = free_port()
    args = [sys.executable, "-m", "perf.llm_simulator", "--port", str(port)]
    for spec in models:
        args += ["--model", spec]
    with run_process(args, f"http://127.0.0.1:{port}/v1/models", {}):
        yield f"http://127.0.0.1:{port}/v1"


def write_figures(results: dict[str, object], out: Path, prog: str) -> None:
    """Write a benchmark's figures as JSON and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"{prog}: figures written to {out}")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")
