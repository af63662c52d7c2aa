"""A new metric in the evaluation: page precision@k, the share of sources from an expected page.

hit@k asks whether one expected page is among the first k sources; precision@k asks how many of
those sources are from expected pages, so it falls when an answer cites off-topic pages beside
the right one. It reads the rows ``eval.runner`` produces; to report it, add it to
``eval/report/build.py`` (``_rates`` and ``ANSWER_METRICS``) and, to gate on it, to
``eval/tolerances.toml``.
"""

from __future__ import annotations

from collections.abc import Sequence

from eval.scoring.answered import Answered


def page_precision_at_k(rows: Sequence[Answered], k: int = 5) -> float | None:
    """Mean over answered, answerable questions of (sources from an expected page) / sources.

    Returns None when no row applies (as the report does for a metric that does not apply). A
    pinned selection (no source path) is left out of the count.
    """
    shares = []
    for row in rows:
        expected = row.question.expected_paths
        paths = [p for p in row.result.ranked_paths[:k] if p is not None]
        if not expected or not row.result.answered or not paths:
            continue
        shares.append(sum(path in expected for path in paths) / len(paths))
    return round(sum(shares) / len(shares), 4) if shares else None
