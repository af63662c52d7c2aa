"""``rag-ask``: one answer on the terminal, for checking an index."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from rag.engine import IndexNotReadyError, UnknownScopeError, build_qa
from rag.retrieval.embeddings import build_embed_model
from rag.retrieval.vector_store import IndexUnavailableError, build_qdrant_client
from rag.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rag-ask``."""
    parser = argparse.ArgumentParser(
        prog="rag-ask",
        description="Answer one question from the indexed book and list its sources.",
        epilog="Exit codes: 0 answered, 1 failed (no index, index busy), 2 bad usage.",
    )
    parser.add_argument("question")
    parser.add_argument("--selected-text", default=None, help="a passage the question is about")
    parser.add_argument(
        "--selection-only", action="store_true", help="answer from the selected text alone"
    )
    parser.add_argument(
        "--doc-version",
        help="the book version to answer from: a versions.json name or 'current' "
        "(default: the site's last version)",
    )
    parser.add_argument("--locale", help="the locale to answer from (default: the site's default)")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    if args.selection_only and not args.selected_text:
        parser.error("--selection-only needs --selected-text")
    settings = get_settings()
    try:
        client = build_qdrant_client(settings)
    except IndexUnavailableError as exc:
        print(f"rag-ask: error: {exc}", file=sys.stderr)
        return 1
    try:
        qa = build_qa(settings, client=client, embed_model=build_embed_model(settings))
        scope = qa.resolve_scope(args.doc_version, args.locale)
        result = asyncio.run(
            qa.answer(
                args.question,
                selected_text=args.selected_text,
                selection_only=args.selection_only,
                scope=scope,
            )
        )
    except UnknownScopeError as exc:
        print(f"rag-ask: error: {exc}", file=sys.stderr)
        return 1
    except IndexNotReadyError:
        print("rag-ask: error: no index yet; run rag-ingest DOCS_DIR first", file=sys.stderr)
        return 1
    finally:
        client.close()
    if args.json:
        print(json.dumps({"answer": result.answer, "sources": result.sources_json()}, indent=2))
        return 0
    print(result.answer)
    if result.sources:
        print()
    for source in result.sources:
        print(f"[{source.index}] {source.title} > {source.section}  {source.url}  ({source.score})")
    timing = f"retrieval {result.retrieval_ms:.0f} ms, generation {result.generation_ms:.0f} ms"
    print(f"\n{len(result.sources)} sources; {timing}; model {result.model}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
