"""Choose the refusal threshold across books, leaving each book out in turn.

    python -m eval.crossval reports/pai/report.json reports/trpc/report.json ...

Each report (``rag-eval``'s report.json, one per book) carries every question's gate score. For
each book, the threshold is chosen on the other books (the most unanswerable questions refused
with at most 5 % of answerable ones refused, see ``eval.refusals.best_threshold``) and then
scored on the book left out, so the figures say how the choice holds on a book it never saw.
Prints one row per book and the threshold chosen on all of them.
Exit codes: 0 done, 1 bad input, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eval.scoring.refusals import Decision, best_threshold, classifier


def decisions_of(report: dict[str, Any]) -> list[Decision]:
    """Each question's answerability and gate score from a report.json (unscored ones left out)."""
    return [
        Decision(
            answerable=q["kind"] != "unanswerable",
            refused=not q["answered"],
            score=q["gate_score"],
        )
        for q in report.get("per_question", [])
        if q.get("gate_score") is not None
    ]


def refused_at(decisions: list[Decision], threshold: float) -> list[Decision]:
    """The decisions the gate would make at ``threshold``."""
    return [Decision(d.answerable, (d.score or 0.0) < threshold, d.score) for d in decisions]


def leave_one_out(
    books: dict[str, list[Decision]], *, max_false_refusals: float = 0.05
) -> list[dict[str, Any]]:
    """Per book: the threshold chosen on the others, and the classifier on this book with it."""
    rows = []
    for name, own in books.items():
        others = [d for other, items in books.items() if other != name for d in items]
        threshold = best_threshold(others, max_false_refusals=max_false_refusals)
        rows.append(
            {"book": name, "threshold": threshold, **classifier(refused_at(own, threshold))}
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m eval.crossval``."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.crossval",
        description="Leave-one-book-out choice of the refusal threshold from rag-eval reports.",
        epilog="Exit codes: 0 done, 1 bad input, 2 bad usage.",
    )
    parser.add_argument("reports", type=Path, nargs="+", help="report.json of each book")
    parser.add_argument("--max-false-refusals", type=float, default=0.05)
    args = parser.parse_args(argv)
    books: dict[str, list[Decision]] = {}
    try:
        for path in args.reports:
            report = json.loads(path.read_text(encoding="utf-8"))
            books[path.parent.name or str(path)] = decisions_of(report)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        print(f"eval.crossval: error: {exc}", file=sys.stderr)
        return 1
    if len(books) < 2:
        print("eval.crossval: error: give the reports of at least two books", file=sys.stderr)
        return 1
    for row in leave_one_out(books, max_false_refusals=args.max_false_refusals):
        print(
            f"{row['book']:12} threshold {row['threshold']:.2f}: unanswerable refused "
            f"{row['unanswerable_refused']}/{row['unanswerable']}, answerable refused "
            f"{row['answerable_refused']}/{row['answerable']}"
        )
    every = [d for items in books.values() for d in items]
    chosen = best_threshold(every, max_false_refusals=args.max_false_refusals)
    print(f"all books: threshold {chosen:.2f}: {classifier(refused_at(every, chosen))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
