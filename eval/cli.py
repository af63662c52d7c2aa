"""``rag-eval``: ask a golden question set through the pipeline and report retrieval quality.

    rag-eval --dataset sample_book/qa.jsonl --docs sample_book/docs \
        --baseline eval/baselines/sample_book.json

The docs folder is ingested (incrementally) into its own data folder, every question is answered
exactly as the API answers it, and report.json, report.md and report.html are written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient
from tqdm import tqdm

from eval.dataset import DatasetError, GoldenQuestion, load_dataset
from eval.gate import DEFAULT_TOLERANCES, compare
from eval.report import Answered, answered, build_report, one_line, render_terminal, write_reports
from eval.retrieval import score_answer
from ingest.pipeline import IngestInputError, IngestOptions, run_ingest
from rag.embeddings import build_embed_model
from rag.engine import build_qa
from rag.settings import Settings

EXIT_OK, EXIT_BAD_INPUT, EXIT_GATE_FAILED = 0, 1, 3


class InputError(Exception):
    """A file or option the evaluation cannot use."""


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="rag-eval",
        description="Evaluate retrieval, refusals and citations on a golden question set.",
        epilog="Exit codes: 0 done, 1 bad input, 2 bad usage, 3 a metric fell below the baseline.",
    )
    parser.add_argument("--dataset", type=Path, required=True, help="golden set (JSONL)")
    parser.add_argument("--docs", type=Path, required=True, help="Docusaurus docs folder")
    parser.add_argument("--out", type=Path, default=Path("reports/eval"), help="report folder")
    parser.add_argument("--baseline", type=Path, help="report.json to gate against")
    parser.add_argument("--route-base-path", default="/docs", help="default: %(default)s")
    parser.add_argument("--trailing-slash", choices=["true", "false"], default=None)
    parser.add_argument(
        "--data-dir", type=Path, help="index folder (default: RAG_DATA_DIR/eval-<docs folder>)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _load_inputs(args: argparse.Namespace) -> tuple[list[GoldenQuestion], dict[str, Any] | None]:
    if not args.dataset.is_file():
        raise InputError(f"dataset {args.dataset} is not a file")
    if not args.docs.is_dir():
        raise InputError(f"docs {args.docs} is not a folder")
    try:
        questions = load_dataset(args.dataset)
    except DatasetError as exc:
        raise InputError(f"invalid dataset: {exc}") from exc
    baseline = None
    if args.baseline is not None:
        try:
            baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"baseline {args.baseline}: {exc}") from exc
        if not isinstance(baseline, dict) or not isinstance(baseline.get("metrics"), dict):
            raise InputError(f"baseline {args.baseline} is not a rag-eval report.json")
    return questions, baseline


async def ask_all(qa: Any, questions: list[GoldenQuestion], *, quiet: bool) -> list[Answered]:
    """Answer every question as the API would; selected-text questions carry their selection."""
    rows = []
    try:
        for item in tqdm(questions, desc="ask", unit="q", disable=quiet):
            result = await qa.answer(item.question, selected_text=item.selected_text)
            rows.append(answered(score_answer(item, result), result))
    finally:
        await qa.aclose()
    return rows


def evaluate(
    questions: list[GoldenQuestion], args: argparse.Namespace
) -> tuple[list[Answered], Settings]:
    """Ingest (or reuse) the docs folder's index, then answer every question."""
    overrides: dict[str, Any] = {
        "route_base_path": args.route_base_path,
        "trailing_slash": None if args.trailing_slash is None else args.trailing_slash == "true",
        "cache_max_entries": 0,
    }
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    settings = Settings(**overrides)
    if args.data_dir is None:
        folder = f"eval-{args.docs.resolve().name}"
        settings = Settings(**overrides, data_dir=settings.data_dir / folder)
    embed = build_embed_model(settings)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    client = QdrantClient(path=str(settings.qdrant_path))
    try:
        run_ingest(
            IngestOptions(
                docs_dir=args.docs,
                collection=settings.collection,
                route_base_path=settings.route_base_path,
                trailing_slash=settings.trailing_slash,
                chunk_tokens=settings.chunk_tokens,
                overlap_tokens=settings.chunk_overlap_tokens,
                show_progress=not args.quiet,
            ),
            client=client,
            embed_model=embed,
        )
        qa = build_qa(settings, client=client, embed_model=embed)
        rows = asyncio.run(ask_all(qa, questions, quiet=args.quiet))
    finally:
        client.close()
    return rows, settings


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rag-eval``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        questions, baseline = _load_inputs(args)
        rows, _ = evaluate(questions, args)
    except (InputError, IngestInputError) as exc:
        print(f"rag-eval: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = build_report(str(args.dataset), str(args.docs), rows)
    gate = None if baseline is None else compare(report, baseline, DEFAULT_TOLERANCES)
    latencies = [row.retrieval_ms + row.generation_ms for row in rows]
    write_reports(report, latencies, args.out, gate)
    print(render_terminal(report))
    for message in gate or []:
        print(f"rag-eval: gate: {message}", file=sys.stderr)
    verdict = "" if gate is None else (" gate FAILED;" if gate else " gate passed;")
    print(f"rag-eval: {one_line(report)};{verdict} reports in {args.out}")
    return EXIT_GATE_FAILED if gate else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
