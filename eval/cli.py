"""``rag-eval``: ask a golden question set through the pipeline and report how well it did.

    rag-eval --dataset sample_book/qa.jsonl --docs sample_book/docs \
        --baseline eval/baselines/sample_book.json

The docs folder is ingested (incrementally) into its own data folder, every question is answered
exactly as the API answers it (``RAG_*`` settings apply, e.g. ``RAG_RETRIEVAL_MODE=dense``),
Ragas scores the answers when the ``eval`` extra is installed (with ``RAG_EVAL_JUDGE_*`` also the
LLM-judged metrics), and report.json, report.md and report.html are written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from eval.dataset import DatasetError, GoldenQuestion, load_dataset
from eval.gate import TOLERANCES_FILE, TolerancesError, compare, load_tolerances
from eval.report.build import build_report
from eval.report.render import one_line, render_terminal, write_reports
from eval.runner import eval_settings, run_questions
from eval.scoring.judge import JudgeSettings
from eval.scoring.ragas_suite import sample_of, score_samples
from ingest.pipeline import IngestInputError
from rag.retrieval.embeddings import LocalEmbedding, build_embed_model

EXIT_OK, EXIT_BAD_INPUT, EXIT_GATE_FAILED = 0, 1, 3


class InputError(Exception):
    """A file or option the evaluation cannot use."""


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="rag-eval",
        description="Evaluate retrieval, answers, refusals and citations on a golden question set.",
        epilog="Exit codes: 0 done, 1 bad input, 2 bad usage, 3 a metric fell below the baseline. "
        "RAG_* settings choose the pipeline (e.g. RAG_RETRIEVAL_MODE=dense); "
        "RAG_EVAL_JUDGE_BASE_URL, RAG_EVAL_JUDGE_MODEL and RAG_EVAL_JUDGE_API_KEY add Ragas' "
        "LLM-judged faithfulness and answer relevancy.",
    )
    parser.add_argument("--dataset", type=Path, required=True, help="golden set (JSONL)")
    parser.add_argument("--docs", type=Path, required=True, help="Docusaurus docs folder")
    parser.add_argument("--out", type=Path, default=Path("reports/eval"), help="report folder")
    parser.add_argument("--baseline", type=Path, help="report.json to gate against")
    parser.add_argument(
        "--tolerances",
        type=Path,
        default=TOLERANCES_FILE,
        help="TOML file of allowed drops per metric (default: eval/tolerances.toml)",
    )
    parser.add_argument("--route-base-path", default="/docs", help="default: %(default)s")
    parser.add_argument(
        "--trailing-slash",
        choices=["true", "false"],
        default=None,
        help="the site's trailingSlash (default: unset, as Docusaurus)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="index folder (default: RAG_DATA_DIR/eval-<parent>-<docs folder>-<hash>)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _load_inputs(
    args: argparse.Namespace,
) -> tuple[list[GoldenQuestion], dict[str, Any] | None, dict[str, float], JudgeSettings]:
    if not args.dataset.is_file():
        raise InputError(f"dataset {args.dataset} is not a file")
    if not args.docs.is_dir():
        raise InputError(f"docs {args.docs} is not a folder")
    try:
        questions = load_dataset(args.dataset, args.docs)
    except DatasetError as exc:
        raise InputError(f"invalid dataset: {exc}") from exc
    baseline = None
    tolerances: dict[str, float] = {}
    if args.baseline is not None:
        try:
            baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"baseline {args.baseline}: {exc}") from exc
        if not isinstance(baseline, dict) or not isinstance(baseline.get("metrics"), dict):
            raise InputError(f"baseline {args.baseline} is not a rag-eval report.json")
        try:
            tolerances = load_tolerances(args.tolerances)
        except TolerancesError as exc:
            raise InputError(str(exc)) from exc
    judge = JudgeSettings()
    if judge.partly_configured:
        raise InputError(f"judge model partly configured: set {', '.join(judge.missing)} too")
    return questions, baseline, tolerances, judge


def main(argv: list[str] | None = None, *, embed_model: LocalEmbedding | None = None) -> int:
    """Entry point of ``rag-eval``.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        embed_model: An embedding model already loaded (default: load the configured one).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.quiet and embed_model is None:
        # transformers draws a bar while it loads the model's weights; it reads this switch
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    try:
        questions, baseline, tolerances, judge = _load_inputs(args)
        settings = eval_settings(
            args.docs,
            route_base_path=args.route_base_path,
            trailing_slash=None if args.trailing_slash is None else args.trailing_slash == "true",
            data_dir=args.data_dir,
        )
        embed = embed_model or build_embed_model(settings)
        run = run_questions(questions, args.docs, settings, embed_model=embed, quiet=args.quiet)
    except (InputError, IngestInputError) as exc:
        print(f"rag-eval: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    samples = [sample_of(row) for row in run.rows]
    ragas = asyncio.run(score_samples(samples, embed, judge, quiet=args.quiet))
    report = build_report(
        str(args.dataset),
        str(args.docs),
        run.rows,
        ragas=ragas.scores,
        ragas_status=ragas.status,
        config=run.config,
    )
    gate = None if baseline is None else compare(report, baseline, tolerances)
    write_reports(report, args.out, gate)
    print(render_terminal(report))
    for message in gate or []:
        print(f"rag-eval: gate: {message}", file=sys.stderr)
    verdict = "" if gate is None else (" gate FAILED;" if gate else " gate passed;")
    print(f"rag-eval: {one_line(report)};{verdict} reports in {args.out}")
    return EXIT_GATE_FAILED if gate else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
