"""``rag-ingest``: index a Docusaurus docs folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.pipeline import IngestInputError, IngestOptions, run_ingest
from rag.logs import configure_json_logging
from rag.retrieval.embeddings import build_embed_model
from rag.retrieval.vector_store import IndexUnavailableError, build_qdrant_client
from rag.safety.redaction import settings_secrets
from rag.settings import Settings, get_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 2, 3


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """Command-line options; defaults come from the settings."""
    parser = argparse.ArgumentParser(
        prog="rag-ingest",
        description="Index a Docusaurus docs folder (the folder holding the .md/.mdx pages). "
        "Unchanged files are reused, changed ones re-embedded, deleted ones purged; the previous "
        "index keeps serving until the new one is complete.",
        epilog="Exit codes: 0 done, 1 failed (nothing changed), 2 bad usage, "
        "3 done but some files were skipped (listed on stderr).",
    )
    parser.add_argument("docs_dir", type=Path, metavar="DOCS_DIR")
    parser.add_argument(
        "--route-base-path",
        default=settings.route_base_path,
        help="the docs plugin's routeBasePath (default: %(default)s)",
    )
    parser.add_argument(
        "--trailing-slash",
        choices=["true", "false"],
        default=None if settings.trailing_slash is None else str(settings.trailing_slash).lower(),
        help="the site's trailingSlash option (default: unset, as Docusaurus: folder pages "
        "such as foo/index.md end in '/')",
    )
    parser.add_argument(
        "--collection", default=settings.collection, help="index name (default: %(default)s)"
    )
    parser.add_argument("--full", action="store_true", help="re-embed every file")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (none either when stderr is not a terminal)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rag-ingest``."""
    settings = get_settings()
    args = build_parser(settings).parse_args(argv)
    configure_json_logging(settings.log_level, secrets=settings_secrets(settings))
    settings = settings.model_copy(
        update={
            "collection": args.collection,
            "route_base_path": args.route_base_path,
            "trailing_slash": None
            if args.trailing_slash is None
            else args.trailing_slash == "true",
        }
    )
    options = IngestOptions(
        docs_dir=args.docs_dir,
        collection=settings.collection,
        route_base_path=settings.route_base_path,
        trailing_slash=settings.trailing_slash,
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
        full=args.full,
        # the bars redraw in place: only on a terminal, never into a log file or pipe
        show_progress=not args.quiet and sys.stderr.isatty(),
    )
    if not args.docs_dir.is_dir():
        print(f"rag-ingest: error: {args.docs_dir} is not a folder", file=sys.stderr)
        return EXIT_FAILED
    try:
        client = build_qdrant_client(settings)
    except IndexUnavailableError as exc:
        print(f"rag-ingest: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        report = run_ingest(options, client=client, embed_model=build_embed_model(settings))
    except IngestInputError as exc:
        print(f"rag-ingest: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("rag-ingest: interrupted; the previous index is still serving", file=sys.stderr)
        return EXIT_FAILED
    finally:
        client.close()
    for path, reason in report.skipped:
        print(f"rag-ingest: skipped {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return EXIT_SKIPPED if report.skipped else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
