"""The load benchmark's HTML report: latency against readers (log scale), errors, the knee."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.report.charts import PALETTE


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    label: str,
    y_unit: str = "ms",
    marker_x: float | None = None,
) -> str:
    """Lines of (readers, value) on a log x axis, with a dashed line at ``marker_x`` (the knee)."""
    width, height, left, bottom, top, right = 560, 260, 60, 36, 14, 130
    xs = [x for points in series.values() for x, _ in points if x > 0]
    ys = [y for points in series.values() for _, y in points]
    if not xs or not ys:
        return "<p>no data</p>"
    x_lo, x_hi = math.log10(min(xs)), math.log10(max(xs)) or 1.0
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    y_hi = max(ys) * 1.1 or 1.0

    def px(x: float) -> float:
        return left + (math.log10(x) - x_lo) / (x_hi - x_lo) * (width - left - right)

    def py(y: float) -> float:
        return top + (1 - y / y_hi) * (height - top - bottom)

    esc = html.escape
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{esc(label)}">']
    parts.append(
        f'<line x1="{left}" y1="{py(0)}" x2="{width - right}" y2="{py(0)}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{py(0)}" stroke="#999"/>'
    )
    for x in sorted(set(xs)):
        parts.append(
            f'<text x="{px(x):.1f}" y="{height - bottom + 16}" font-size="10" '
            f'text-anchor="middle">{x:g}</text>'
        )
    for i in range(5):
        y = y_hi * i / 4
        parts.append(
            f'<text x="{left - 6}" y="{py(y) + 3:.1f}" font-size="10" text-anchor="end">'
            f"{y:,.0f}</text>"
        )
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 4}" font-size="11" '
        f'text-anchor="middle">readers (log scale)</text>'
        f'<text x="12" y="{top + 6}" font-size="11">{esc(y_unit)}</text>'
    )
    if marker_x:
        parts.append(
            f'<line x1="{px(marker_x):.1f}" y1="{top}" x2="{px(marker_x):.1f}" y2="{py(0)}" '
            f'stroke="#e45756" stroke-dasharray="4 3"/><text x="{px(marker_x) + 4:.1f}" '
            f'y="{top + 10}" font-size="10" fill="#e45756">knee</text>'
        )
    for i, (name, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points if x > 0)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for x, y in points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 14 * i + 6
        parts.append(
            f'<rect x="{width - right + 10}" y="{ly - 8}" width="10" height="10" '
            f'fill="{colour}"/><text x="{width - right + 24}" y="{ly + 1}" font-size="11">'
            f"{esc(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _series(steps: list[dict[str, Any]], stage: str, q: str) -> list[tuple[float, float]]:
    return [(s["readers"], s[stage][q]) for s in steps if s.get(stage)]


def write_report(figures: Mapping[str, Any], path: Path) -> None:
    """The report: one section per answer mode with its charts and its table of steps."""
    sections = []
    for mode in ("extractive", "model"):
        run = figures.get(mode)
        if not run:
            continue
        steps = run["steps"]
        latency = {
            "total p50": _series(steps, "total_ms", "p50"),
            "total p95": _series(steps, "total_ms", "p95"),
            "total p99": _series(steps, "total_ms", "p99"),
            "retrieval p95": _series(steps, "retrieval_ms", "p95"),
            "first token p95": _series(steps, "ttft_ms", "p95"),
        }
        errors = {"errors %": [(s["readers"], 100 * s["error_rate"]) for s in steps]}
        rows = "".join(
            f"<tr><td>{s['readers']}</td><td>{s['offered_per_s']}</td><td>{s['answers_per_s']}"
            f"</td><td>{(s['total_ms'] or {}).get('p50', '')}</td>"
            f"<td>{(s['total_ms'] or {}).get('p95', '')}</td>"
            f"<td>{(s['total_ms'] or {}).get('p99', '')}</td>"
            f"<td>{(s['retrieval_ms'] or {}).get('p95', '')}</td>"
            f"<td>{(s['ttft_ms'] or {}).get('p95', '')}</td>"
            f"<td>{(s.get('overhead_ms') or {}).get('p95', '')}</td>"
            f"<td>{100 * s['error_rate']:.2f}</td><td>{s['rss_mb']}</td>"
            f"<td>{s['load_avg_1m']}</td></tr>"
            for s in steps
        )
        sections.append(
            f"<h2>{html.escape(mode)}</h2><p>knee: {run['knee_readers']} readers "
            f"(the most readers with at most 1 % errors)</p>"
            + line_chart(latency, label=f"{mode} latency", marker_x=run["knee_readers"] or None)
            + line_chart(errors, label=f"{mode} errors", y_unit="% errors")
            + "<table><tr><th>readers</th><th>offered/s</th><th>answers/s</th><th>p50</th>"
            "<th>p95</th><th>p99</th><th>retrieval p95</th><th>TTFT p95</th>"
            "<th>overhead p95</th><th>errors %</th><th>RSS MB</th><th>load 1m</th></tr>"
            + rows
            + "</table>"
        )
    page = (
        "<!doctype html><meta charset='utf-8'><title>Load benchmark</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "td,th{padding:2px 8px;text-align:right}table{border-collapse:collapse}</style>"
        "<h1>Load benchmark</h1><p>All latencies in ms, over HTTP, as the readers saw them.</p>"
        + "".join(sections)
        + "<h2>Figures</h2><pre>"
        + html.escape(json.dumps(figures, indent=1))
        + "</pre>"
    )
    path.write_text(page, encoding="utf-8")
