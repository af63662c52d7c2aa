"""Turn a draft question set that quotes the book into one that keeps only locators.

    python -m eval.author --docs ../shared/corpora/redux-docs/docs draft.jsonl eval/datasets/x.jsonl

A draft line is a golden question whose evidence is given as ``"quote"`` and whose selection
(selected-text questions) as ``"selection_quote"``: exact spans of the page's source file. Each is
replaced by a locator (``evidence_at`` / ``selection_at``, see ``eval.locators``), so the written
set holds no text of the book. The draft stays with its author; it is not meant to be kept.
Exit codes: 0 written, 1 a quote did not resolve, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.dataset import GoldenQuestion
from eval.locators import LocatorError, locate, read_source

_QUOTES = {"quote": "evidence_at", "selection_quote": "selection_at"}


def convert(draft: dict[str, object], docs_dir: Path) -> dict[str, object]:
    """One draft question with its quotes replaced by locators (validated as a golden question).

    Raises:
        LocatorError: a quote is not found exactly once in its page.
    """
    out = dict(draft)
    for key, field in _QUOTES.items():
        quote = out.pop(key, None)
        if quote is None:
            continue
        text = read_source(docs_dir, str(out.get("source_path") or ""))
        try:
            out[field] = locate(text, str(quote)).model_dump()
        except LocatorError as exc:
            raise LocatorError(f"{out.get('id')}: {key}: {exc}") from exc
    GoldenQuestion.model_validate(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m eval.author``."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.author",
        description="Replace the quotes of a draft question set by evidence locators.",
        epilog="Exit codes: 0 written, 1 a quote did not resolve, 2 bad usage.",
    )
    parser.add_argument("--docs", type=Path, required=True, help="Docusaurus docs folder")
    parser.add_argument("draft", type=Path, help="draft JSONL with quote / selection_quote")
    parser.add_argument("out", type=Path, help="question set to write (JSONL)")
    args = parser.parse_args(argv)
    try:
        lines = [json.loads(x) for x in args.draft.read_text(encoding="utf-8").splitlines() if x]
        converted = [convert(line, args.docs) for line in lines]
    except (OSError, json.JSONDecodeError, LocatorError, ValueError) as exc:
        print(f"eval.author: error: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in converted), encoding="utf-8"
    )
    print(f"eval.author: {len(converted)} questions written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
