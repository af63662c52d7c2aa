"""Retrieval alone, fast: where each golden question's passages come from, without answering.

    python -m eval.probe --dataset FILE.jsonl --docs DOCS_DIR [--data-dir DIR] [--json OUT]

For trying retrieval changes: each question is retrieved exactly as the API retrieves it (the
same ``RAG_*`` settings, selection and page), but no answer is written, so a run takes seconds
once the index exists. Ranks count over the passages retrieved (a question the answerer would
refuse still has them); ``rag-eval`` gives the strict figures. Prints hit@1, hit@5 and MRR by
kind, and writes each question's ranked pages with ``--json``.
Exit codes: 0 done, 1 bad input, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient

from eval.book import read_book
from eval.dataset import DatasetError, load_dataset
from eval.runner import eval_settings
from ingest.pipeline import IngestInputError, IngestOptions, run_ingest
from rag.engine import build_qa
from rag.retrieval.embeddings import build_embed_model


def _rates(rows: list[dict[str, Any]]) -> dict[str, float | int]:
    ranks = [row["rank"] for row in rows]
    n = max(1, len(ranks))
    return {
        "n": len(ranks),
        "hit@1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "hit@5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 3),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """hit@1, hit@5 and MRR of answerable questions, by kind and over all."""
    answerable = [row for row in rows if row["kind"] != "unanswerable"]
    kinds = sorted({row["kind"] for row in answerable})
    out = {kind: _rates([r for r in answerable if r["kind"] == kind]) for kind in kinds}
    out["all"] = _rates(answerable)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m eval.probe``."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.probe",
        description="Retrieval-only hit@1, hit@5 and MRR of a golden set (no answers written).",
        epilog="Exit codes: 0 done, 1 bad input, 2 bad usage.",
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--docs", type=Path, required=True)
    parser.add_argument("--route-base-path", default="/docs")
    parser.add_argument("--trailing-slash", choices=["true", "false"], default=None)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--json", type=Path, help="write per-question ranks here")
    args = parser.parse_args(argv)
    try:
        questions = load_dataset(args.dataset, args.docs)
    except (DatasetError, OSError) as exc:
        print(f"eval.probe: error: {exc}", file=sys.stderr)
        return 1
    settings = eval_settings(
        args.docs,
        route_base_path=args.route_base_path,
        trailing_slash=None if args.trailing_slash is None else args.trailing_slash == "true",
        data_dir=args.data_dir,
    )
    embed = build_embed_model(settings)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        run_ingest(
            IngestOptions.from_settings(settings, args.docs, show_progress=False),
            client=client,
            embed_model=embed,
        )
        book = read_book(
            args.docs,
            route_base_path=settings.route_base_path,
            trailing_slash=settings.trailing_slash,
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            count_tokens=embed.count_tokens,
        )
        qa = build_qa(settings, client=client, embed_model=embed)

        async def probe() -> list[dict[str, Any]]:
            rows = []
            for item in questions:
                page_url = None
                if item.selected_text and item.source_path:
                    page_url = book.page_urls.get(item.source_path)
                nodes = await qa.retrieve(
                    item.question, selected_text=item.selected_text, page_url=page_url
                )
                paths = [n.node.metadata.get("source_path") for n in nodes]
                rank = next(
                    (i for i, p in enumerate(paths, start=1) if p in item.expected_paths), None
                )
                rows.append({"id": item.id, "kind": item.kind, "rank": rank, "paths": paths})
            return rows

        rows = asyncio.run(probe())
    except IngestInputError as exc:
        print(f"eval.probe: error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    result = {"dataset": str(args.dataset), "summary": summary(rows), "questions": rows}
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps({"dataset": str(args.dataset), **result["summary"]["all"]}))
    for kind, values in result["summary"].items():
        print(f"  {kind:14} {values}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
