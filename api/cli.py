"""``rag-serve``: run the HTTP API with uvicorn."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from api.logs import configure_logging
from rag.settings import get_settings


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
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.workers > 1 and not settings.qdrant_url:
        print(
            "rag-serve: error: several workers need a Qdrant server (set RAG_QDRANT_URL); "
            "the embedded index admits one process",
            file=sys.stderr,
        )
        return 1
    configure_logging()
    print(f"rag-serve: serving on http://{args.host}:{args.port} (API docs at /docs)")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        log_config=None,  # keep the JSON handlers configured above
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
