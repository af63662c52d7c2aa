"""Inline SVG charts for report.html: drawn here, so the report opens without a network."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

#: One colour per metric of the grouped bar chart (Tableau 10).
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b")


def grouped_bars(
    groups: Mapping[str, Mapping[str, float | None]], *, label: str = "metrics by kind"
) -> str:
    """Horizontal bars for values in 0..1: one block per group, one bar per metric, a legend.

    A None value (the metric does not apply to the group) is drawn as ``n/a``.
    """
    metrics = list(dict.fromkeys(name for values in groups.values() for name in values))
    bar_h, gap, label_w, bar_w = 13, 12, 120, 360
    legend_h = 22 * math.ceil(len(metrics) / 4) + 6
    block = bar_h * len(metrics) + gap
    height = legend_h + block * len(groups) + 10
    esc = html.escape
    parts = [
        f'<svg width="{label_w + bar_w + 70}" height="{height}" role="img" '
        f'aria-label="{esc(label)}">'
    ]
    for i, name in enumerate(metrics):
        x, y = 10 + (i % 4) * 135, 6 + 22 * (i // 4)
        parts += [
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>',
            f'<text x="{x + 17}" y="{y + 11}">{esc(name)}</text>',
        ]
    for g, (group, values) in enumerate(groups.items()):
        top = legend_h + g * block
        parts.append(
            f'<text x="{label_w - 8}" y="{top + block / 2}" text-anchor="end" '
            f'font-weight="bold">{esc(group)}</text>'
        )
        for m, name in enumerate(metrics):
            y = top + m * bar_h
            value = values.get(name)
            if value is None:
                parts.append(f'<text x="{label_w + 4}" y="{y + 10}" fill="#999">n/a</text>')
                continue
            width = bar_w * max(0.0, min(1.0, value))
            parts += [
                f'<rect x="{label_w}" y="{y + 1}" width="{width:.1f}" height="{bar_h - 2}" '
                f'fill="{PALETTE[m % len(PALETTE)]}"><title>{esc(group)} {esc(name)}: '
                f"{value:.3f}</title></rect>",
                f'<text x="{label_w + width + 4:.1f}" y="{y + 10}">{value:.2f}</text>',
            ]
        parts.append(
            f'<line x1="{label_w}" x2="{label_w}" y1="{top}" y2="{top + block - gap}" '
            'stroke="#999"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float],
    *,
    title: str,
    markers: Mapping[str, float] | None = None,
    bins: int = 12,
    color: str = "#f58518",
) -> str:
    """Vertical bars counting values per bucket (ms), with dashed lines at the ``markers``."""
    width, height, pad = 340, 170, 30
    esc = html.escape
    if not values:
        empty = f'<text x="0" y="20">{esc(title)}: no data</text>'
        return f'<svg width="{width}" height="40">{empty}</svg>'
    low, high = min(values), max(values)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / step))] += 1
    top = max(counts)
    bar = (width - 2 * pad) / bins
    base = pad + height - pad
    parts = [
        f'<svg width="{width}" height="{height + 2 * pad}" role="img" aria-label="{esc(title)}">',
        f'<text x="{pad}" y="16" font-weight="bold">{esc(title)}</text>',
    ]
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        x = pad + i * bar
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
            f'fill="{color}"><title>{low + i * step:.0f}-{low + (i + 1) * step:.0f} ms: '
            f"{count}</title></rect>"
        )
        if count:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{base - h - 3:.1f}" text-anchor="middle">'
                f"{count}</text>"
            )
    for i, (name, value) in enumerate((markers or {}).items()):
        x = pad + (value - low) / step * bar
        right = x > width - pad - 70
        parts += [
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad}" y2="{base}" stroke="#333" '
            'stroke-dasharray="4 3"/>',
            f'<text x="{x - 3 if right else x + 3:.1f}" y="{pad + 10 + 13 * i}" '
            f'text-anchor="{"end" if right else "start"}">{esc(name)} {value:.0f}</text>',
        ]
    parts += [
        f'<line x1="{pad}" x2="{width - pad}" y1="{base}" y2="{base}" stroke="#999"/>',
        f'<text x="{pad}" y="{base + 16}">{low:.0f} ms</text>',
        f'<text x="{width - pad}" y="{base + 16}" text-anchor="end">{high:.0f} ms</text>',
        "</svg>",
    ]
    return "".join(parts)


def threshold_curve(
    points: Sequence[Mapping[str, float | int | None]],
    *,
    lines: Mapping[str, str],
    x: str = "threshold",
    marker: float | None = None,
    title: str = "refusals by threshold",
) -> str:
    """Lines of rates in 0..1 against a threshold, one per key of ``lines`` (key -> label).

    ``marker`` draws a dashed vertical line at the threshold in force.
    """
    width, height, pad, legend = 420, 220, 36, 18
    esc = html.escape
    xs = [float(p[x] or 0.0) for p in points]
    if not xs:
        empty = f'<text x="0" y="20">{esc(title)}: no data</text>'
        return f'<svg width="{width}" height="40">{empty}</svg>'
    low, high = min(xs), max(xs)
    span = (high - low) or 1.0
    plot_w, plot_h = width - 2 * pad, height - 2 * pad
    base = pad + legend + plot_h

    def px(value: float) -> float:
        return pad + (value - low) / span * plot_w

    def py(value: float) -> float:
        return base - max(0.0, min(1.0, value)) * plot_h

    parts = [
        f'<svg width="{width}" height="{height + legend + 10}" role="img" '
        f'aria-label="{esc(title)}">',
        f'<text x="{pad}" y="14" font-weight="bold">{esc(title)}</text>',
    ]
    for i, (key, label) in enumerate(lines.items()):
        color = PALETTE[i % len(PALETTE)]
        lx = pad + i * 190
        parts += [
            f'<rect x="{lx}" y="{20}" width="12" height="3" fill="{color}"/>',
            f'<text x="{lx + 16}" y="{26}">{esc(label)}</text>',
        ]
        coords = [
            (px(float(p[x] or 0.0)), py(float(p[key]))) for p in points if p.get(key) is not None
        ]
        if coords:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
            parts += [
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{color}"/>' for cx, cy in coords
            ]
    if marker is not None and low <= marker <= high:
        mx = px(marker)
        parts += [
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{base - plot_h}" y2="{base}" stroke="#333" '
            'stroke-dasharray="4 3"/>',
            f'<text x="{mx + 3:.1f}" y="{base - plot_h + 10}">in force {marker:.2f}</text>',
        ]
    parts += [
        f'<line x1="{pad}" x2="{pad + plot_w}" y1="{base}" y2="{base}" stroke="#999"/>',
        f'<line x1="{pad}" x2="{pad}" y1="{base - plot_h}" y2="{base}" stroke="#999"/>',
        f'<text x="{pad - 4}" y="{base - plot_h + 4}" text-anchor="end">1</text>',
        f'<text x="{pad - 4}" y="{base + 4}" text-anchor="end">0</text>',
        f'<text x="{pad}" y="{base + 16}">{low:.2f}</text>',
        f'<text x="{pad + plot_w}" y="{base + 16}" text-anchor="end">{high:.2f} ({esc(x)})</text>',
        "</svg>",
    ]
    return "".join(parts)
