"""The evaluation report: metrics from the answered questions, as JSON, Markdown and HTML."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.retrieval import QuestionResult, RetrievalReport
from rag.answers import AnswerResult
from rag.prompts import cited_indexes

WORST_LIMIT = 10
RATE_METRICS = ("hit@1", "hit@3", "hit@5", "mrr", "ndcg", "refusal_accuracy", "citation_validity")


@dataclass(frozen=True)
class Answered:
    """One golden question with what the pipeline answered and how long it took."""

    result: QuestionResult
    citations_ok: bool
    retrieval_ms: float
    generation_ms: float


def citations_valid(answer: AnswerResult) -> bool:
    """Every ``[n]`` names a given source, and every page source links to a route of the site.

    The pinned selection of a selected-text question is a source without a page (no
    ``source_path``); only its index is checked.
    """
    valid = {source.index for source in answer.sources}
    if any(n not in valid for n in cited_indexes(answer.answer)):
        return False
    pages = [source for source in answer.sources if source.source_path is not None]
    return all(source.url.startswith("/") for source in pages)


def answered(result: QuestionResult, answer: AnswerResult) -> Answered:
    """Bundle a scored question with its citation check and timings."""
    return Answered(
        result=result,
        citations_ok=citations_valid(answer),
        retrieval_ms=answer.retrieval_ms,
        generation_ms=answer.generation_ms,
    )


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _rates(rows: Sequence[Answered]) -> dict[str, float | None]:
    """Rate metrics of a group; None where the group has no question the metric applies to."""
    scored = RetrievalReport(results=[row.result for row in rows])
    has_answerable = bool(scored.answerable)
    has_unanswerable = len(scored.answerable) < len(rows)
    answers = [row for row in rows if row.result.answered]

    def rate(value: float, applies: bool) -> float | None:
        return round(value, 4) if applies else None

    return {
        "questions": len(rows),
        "hit@1": rate(scored.hit_at(1), has_answerable),
        "hit@3": rate(scored.hit_at(3), has_answerable),
        "hit@5": rate(scored.hit_at(5), has_answerable),
        "mrr": rate(scored.mrr, has_answerable),
        "ndcg": rate(scored.ndcg, has_answerable),
        "refusal_accuracy": rate(scored.refusal_accuracy, has_unanswerable),
        "citation_validity": rate(
            sum(row.citations_ok for row in answers) / max(1, len(answers)), bool(answers)
        ),
    }


def _latency(rows: Sequence[Answered]) -> dict[str, float]:
    retrieval = [row.retrieval_ms for row in rows]
    generation = [row.generation_ms for row in rows]
    return {
        "retrieval_p50": round(percentile(retrieval, 0.50), 1),
        "retrieval_p95": round(percentile(retrieval, 0.95), 1),
        "generation_p50": round(percentile(generation, 0.50), 1),
        "generation_p95": round(percentile(generation, 0.95), 1),
    }


def _worst(rows: Sequence[Answered]) -> list[dict[str, Any]]:
    """Answerable questions missed (first) or ranked lowest; a first-rank hit is never listed."""
    misses = [r.result for r in rows if r.result.question.answerable and r.result.rank != 1]
    misses.sort(key=lambda r: (r.rank is not None, -(r.rank or 0), r.question.id))
    return [
        {
            "id": r.question.id,
            "kind": r.question.kind,
            "question": r.question.question,
            "expected": sorted(r.question.expected_paths),
            "rank": r.rank,
            "got": [p or "(selection)" for p in r.ranked_paths],
            "answer": r.answer,
        }
        for r in misses[:WORST_LIMIT]
    ]


def build_report(dataset: str, docs: str, rows: Sequence[Answered]) -> dict[str, Any]:
    """The report.json document; its top-level keys are stable."""
    overall = _rates(rows)
    kinds = sorted({row.result.question.kind for row in rows})
    return {
        "dataset": dataset,
        "docs": docs,
        "questions": overall.pop("questions"),
        "metrics": {**overall, "latency_ms": _latency(rows)},
        "by_kind": {
            kind: _rates([row for row in rows if row.result.question.kind == kind])
            for kind in kinds
        },
        "worst": _worst(rows),
    }


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The by-kind table (plus an ``all`` row) as header and string cells."""
    header = ["kind", "n", *RATE_METRICS]
    rows = [
        [kind, str(m["questions"]), *(_fmt(m[name]) for name in RATE_METRICS)]
        for kind, m in report["by_kind"].items()
    ]
    overall = report["metrics"]
    rows.append(["all", str(report["questions"]), *(_fmt(overall[n]) for n in RATE_METRICS)])
    return header, rows


def render_terminal(report: dict[str, Any]) -> str:
    """A fixed-width table of the metrics by kind, then the latency percentiles."""
    header, rows = _table(report)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    lat = report["metrics"]["latency_ms"]
    out.append(
        f"latency ms: retrieval p50 {lat['retrieval_p50']} p95 {lat['retrieval_p95']}, "
        f"generation p50 {lat['generation_p50']} p95 {lat['generation_p95']}"
    )
    return "\n".join(out)


def one_line(report: dict[str, Any]) -> str:
    """The figures a commit message or CI log wants."""
    m = report["metrics"]
    return (
        f"{report['questions']} questions: hit@5 {_fmt(m['hit@5'])}, mrr {_fmt(m['mrr'])}, "
        f"refusal {_fmt(m['refusal_accuracy'])}, citations {_fmt(m['citation_validity'])}, "
        f"retrieval p95 {m['latency_ms']['retrieval_p95']} ms"
    )


def render_markdown(report: dict[str, Any], gate: Sequence[str] | None = None) -> str:
    """report.md: the metric tables and the worst questions."""
    header, rows = _table(report)
    lat = report["metrics"]["latency_ms"]
    out = [
        "# Evaluation report",
        "",
        f"Dataset `{report['dataset']}`, docs `{report['docs']}`, {report['questions']} questions.",
        "",
        "## Metrics by kind",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        "## Latency (ms)",
        "",
        "| stage | p50 | p95 |",
        "|---|---|---|",
        f"| retrieval | {lat['retrieval_p50']} | {lat['retrieval_p95']} |",
        f"| generation | {lat['generation_p50']} | {lat['generation_p95']} |",
        "",
    ]
    if gate is not None:
        out += ["## Baseline gate", ""]
        out += [f"- FAILED: {msg}" for msg in gate] if gate else ["Passed."]
        out.append("")
    out += ["## Worst questions", ""]
    if not report["worst"]:
        out.append("Every answerable question had an expected page first.")
    for item in report["worst"]:
        rank = item["rank"] if item["rank"] is not None else "missed"
        answer = " ".join(item["answer"].split())
        out += [
            f"- **{item['id']}** ({item['kind']}, rank {rank}): {item['question']}",
            f"  - expected: {', '.join(item['expected'])}",
            f"  - got: {', '.join(item['got']) or '(no sources)'}",
            f"  - answer: {answer[:300]}",
        ]
    return "\n".join(out) + "\n"


def _bar_chart(values: dict[str, float]) -> str:
    """Horizontal bars, one per label, for values in 0..1."""
    row_h, label_w, bar_w = 26, 130, 300
    height = row_h * len(values) + 10
    parts = [
        f'<svg width="{label_w + bar_w + 60}" height="{height}" role="img" '
        'aria-label="hit@5 by kind">'
    ]
    for i, (label, value) in enumerate(values.items()):
        y = 5 + i * row_h
        parts += [
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{html.escape(label)}</text>',
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w * value:.1f}" height="{row_h - 8}" '
            'fill="#4c78a8"/>',
            f'<text x="{label_w + bar_w * value + 6:.1f}" y="{y + 16}">{value:.2f}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _histogram(latencies: Sequence[float], bins: int = 10) -> str:
    """Vertical bars counting questions per latency bucket (ms)."""
    width, height, pad = 460, 200, 30
    if not latencies:
        return f'<svg width="{width}" height="40"><text x="0" y="20">no data</text></svg>'
    low, high = min(latencies), max(latencies)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in latencies:
        counts[min(bins - 1, int((value - low) / step))] += 1
    top = max(counts)
    bar = (width - 2 * pad) / bins
    parts = [
        f'<svg width="{width}" height="{height + 2 * pad}" role="img" '
        'aria-label="latency histogram">'
    ]
    for i, count in enumerate(counts):
        h = (height - pad) * count / top
        x = pad + i * bar
        parts += [
            f'<rect x="{x:.1f}" y="{pad + height - pad - h:.1f}" width="{bar - 2:.1f}" '
            f'height="{h:.1f}" fill="#f58518"><title>{low + i * step:.0f}-'
            f"{low + (i + 1) * step:.0f} ms: {count}</title></rect>",
            f'<text x="{x + bar / 2:.1f}" y="{pad + height - pad - h - 4:.1f}" '
            f'text-anchor="middle">{count}</text>',
        ]
    parts += [
        f'<text x="{pad}" y="{height + 12}">{low:.0f} ms</text>',
        f'<text x="{width - pad}" y="{height + 12}" text-anchor="end">{high:.0f} ms</text>',
        "</svg>",
    ]
    return "".join(parts)


def render_html(
    report: dict[str, Any], latencies: Sequence[float], gate: Sequence[str] | None = None
) -> str:
    """report.html: self-contained (inline CSS and SVG, nothing fetched)."""
    header, rows = _table(report)
    hits = {k: m["hit@5"] for k, m in report["by_kind"].items() if m["hit@5"] is not None}
    esc = html.escape
    table = (
        "<table><tr>"
        + "".join(f"<th>{esc(h)}</th>" for h in header)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
        + "</table>"
    )
    worst = "".join(
        f"<tr><td>{esc(w['id'])}</td><td>{esc(w['kind'])}</td><td>{esc(w['question'])}</td>"
        f"<td>{esc(', '.join(w['expected']))}</td><td>{esc(', '.join(w['got']))}</td>"
        f"<td>{w['rank'] if w['rank'] is not None else 'missed'}</td>"
        f"<td>{esc(' '.join(w['answer'].split())[:300])}</td></tr>"
        for w in report["worst"]
    )
    gate_html = ""
    if gate is not None:
        items = "".join(f"<li>{esc(m)}</li>" for m in gate)
        gate_html = f"<h2>Baseline gate</h2>{f'<ul>{items}</ul>' if gate else '<p>Passed.</p>'}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
svg text {{ font-size: 12px; }}
</style></head><body>
<h1>Evaluation report</h1>
<p>Dataset <code>{esc(report["dataset"])}</code>, docs <code>{esc(report["docs"])}</code>,
{report["questions"]} questions.</p>
<h2>Metrics by kind</h2>{table}
<h2>hit@5 by kind</h2>{_bar_chart(hits)}
<h2>Latency per question (retrieval + generation)</h2>{_histogram(latencies)}
{gate_html}
<h2>Worst questions</h2>
<table><tr><th>id</th><th>kind</th><th>question</th><th>expected</th><th>got</th><th>rank</th>
<th>answer</th></tr>{worst}</table>
</body></html>
"""


def write_reports(
    report: dict[str, Any],
    latencies: Sequence[float],
    out: Path,
    gate: Sequence[str] | None = None,
) -> list[Path]:
    """Write report.json, report.md and report.html into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "report.md": render_markdown(report, gate),
        "report.html": render_html(report, latencies, gate),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]
