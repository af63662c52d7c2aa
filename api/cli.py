"""``rag-serve``: run the HTTP API with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from typing import Any

import uvicorn
from pydantic import ValidationError

from api.monitoring.logs import configure_logging
from api.monitoring.metrics import MULTIPROC_ENV, clear_multiprocess_dir
from api.settings import get_service_settings

logger = logging.getLogger("api.cli")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rag-serve``."""
    parser = argparse.ArgumentParser(
        prog="rag-serve",
        description="Serve the question-answering API (POST /v1/chat, /healthz, /readyz, /docs).",
        epilog="Exit codes: 0 stopped cleanly, 1 failed to start, 2 bad usage.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: RAG_WORKERS, 1)"
    )
    args = parser.parse_args(argv)
    try:
        settings = get_service_settings()
        settings = settings.with_workers(args.workers or settings.workers)
    except ValidationError as exc:
        # the settings are unknown: outside development (as RAG_ENV says) the line is JSON too
        json_lines = os.environ.get("RAG_ENV", "development").strip() not in ("", "development")
        _error(f"rag-serve: error: {settings_errors(exc)}", json_lines=json_lines)
        return 1
    except ValueError as exc:  # --workers refused by the production guard (deployed only)
        _error(f"rag-serve: error: {exc}", json_lines=True)
        return 1
    args.workers = settings.workers
    if args.workers > 1 and not settings.qdrant_url:
        _error(
            "rag-serve: error: several workers need a Qdrant server (set RAG_QDRANT_URL); "
            "the embedded index admits one process",
            json_lines=settings.is_deployed,
        )
        return 1
    configure_logging(settings)
    metrics_dir, created = prepare_metrics_dir(args.workers)
    say = logger.info if settings.is_deployed else print  # a platform wants JSON lines only
    say(f"rag-serve: serving on http://{args.host}:{args.port} (API docs at /docs)")
    if metrics_dir:
        say(f"rag-serve: metrics of {args.workers} worker(s) kept in {metrics_dir}")
    try:
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=settings.log_level.lower(),
            log_config=WORKER_LOG_CONFIG,  # JSON lines in every worker process too
            access_log=False,  # api.middleware.observability writes the one access line per request
            # a worker importing torch and loading the embedding model can miss uvicorn's
            # 5 s ping, and be killed and restarted forever on a busy machine
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            proxy_headers=False,  # the client address comes from api.security.client_address
            # SIGTERM: stop accepting, let streamed answers finish for this long, then cancel
            # them (each is stored as interrupted) and run the lifespan's shutdown
            timeout_graceful_shutdown=settings.shutdown_drain_s,
        )
    finally:
        if created:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _error(line: str, *, json_lines: bool) -> None:
    """A start-up failure on stderr: plain text in development, a JSON log line elsewhere."""
    if json_lines:
        configure_logging()
        logger.error(line)
    else:
        print(line, file=sys.stderr)


def prepare_metrics_dir(workers: int) -> tuple[str | None, bool]:
    """The Prometheus multiprocess directory for this run, emptied; and whether we created it.

    ``PROMETHEUS_MULTIPROC_DIR`` when set; else, for several workers, a new temporary directory
    (removed when the server stops); else None (one process keeps its metrics in memory).
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        clear_multiprocess_dir(given)  # values of an earlier run must not add up with ours
        return given, False
    if workers <= 1:
        return None, False
    path = tempfile.mkdtemp(prefix="rag-metrics-")
    os.environ[MULTIPROC_ENV] = path  # the workers inherit it, before they import the client
    return path, True


def worker_log_handler() -> logging.Handler:
    """The JSON log handler, set up again in each worker process uvicorn starts."""
    configure_logging(get_service_settings())
    return logging.getLogger().handlers[0]


WORKER_HEALTHCHECK_S = 60
WORKER_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"json": {"()": "api.cli.worker_log_handler"}},
    "root": {"handlers": ["json"]},
}


def settings_errors(exc: ValidationError) -> str:
    """What is wrong with the settings, without echoing their values (they may hold secrets)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        name = f"RAG_{where.upper()}: " if where else ""
        problems.append(f"{name}{message}")
    return "; ".join(problems) or "invalid settings"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
