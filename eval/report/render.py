"""The report for people: a terminal summary, report.md and a self-contained report.html."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.report.build import ANSWER_METRICS, RETRIEVAL_METRICS, STAGES, fmt, metric_table
from eval.report.charts import grouped_bars, histogram, threshold_curve

#: The metrics drawn per kind in report.html (n/a where one does not apply).
CHART_METRICS = (
    "hit@5",
    "ndcg",
    "evidence_ndcg",
    "context_recall",
    "answer_similarity",
    "citation_validity",
    "refusal_accuracy",
)
STAGE_COLORS = {"retrieval": "#4c78a8", "generation": "#f58518", "total": "#54a24b"}

#: Short column names for the terminal.
_SHORT = {
    "evidence_hit@5": "ev_hit@5",
    "evidence_mrr": "ev_mrr",
    "evidence_ndcg": "ev_ndcg",
    "refusal_accuracy": "refusal",
    "answerable_answered": "ans_answered",
    "refusal_precision": "ref_prec",
    "fences_balanced": "fences",
    "whole_sentence_start": "whole_start",
    "citation_validity": "citations",
    "selection_grounding": "grounding",
    "context_precision": "ctx_prec",
    "context_recall": "ctx_rec",
    "string_similarity": "string",
    "answer_similarity": "semantic",
    "faithfulness": "faithful",
    "answer_relevancy": "relevancy",
}


def _fixed_width(header: list[str], rows: list[list[str]]) -> list[str]:
    header = [_SHORT.get(h, h) for h in header]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _latency_line(report: Mapping[str, Any]) -> str:
    lat = report["metrics"]["latency_ms"]
    return ", ".join(f"{s} {lat[f'{s}_p50']}/{lat[f'{s}_p95']}" for s in STAGES)


def render_terminal(report: Mapping[str, Any]) -> str:
    """The metrics by kind as two fixed-width tables, the latencies and Ragas' note."""
    out = ["retrieval", *_fixed_width(*metric_table(report, RETRIEVAL_METRICS)), ""]
    out += ["answers", *_fixed_width(*metric_table(report, ANSWER_METRICS)), ""]
    out.append(f"latency ms (p50/p95): {_latency_line(report)}")
    note = report.get("ragas", {}).get("note")
    if note:
        out.append(f"ragas: {note}")
    return "\n".join(out)


def one_line(report: Mapping[str, Any]) -> str:
    """The figures a commit message or CI log wants."""
    m = report["metrics"]
    return (
        f"{report['questions']} questions: hit@5 {fmt(m['hit@5'])}, mrr {fmt(m['mrr'])}, "
        f"ndcg {fmt(m['ndcg'])}, refusal {fmt(m['refusal_accuracy'])}, "
        f"citations {fmt(m['citation_validity'])}, "
        f"answer similarity {fmt(m['answer_similarity'])}, "
        f"retrieval p95 {m['latency_ms']['retrieval_p95']} ms"
    )


CURVE_LINES = {
    "recall": "unanswerable refused",
    "false_refusal_rate": "answerable refused",
}


def refusal_lines(report: Mapping[str, Any]) -> list[str]:
    """The refusal classifier in words: counts, precision, recall, and who was wrong."""
    section = report.get("refusals") or {}
    c = section.get("classifier")
    if not c:
        return []
    return [
        f"Unanswerable refused {c['unanswerable_refused']} of {c['unanswerable']}; "
        f"answerable refused {c['answerable_refused']} of {c['answerable']} "
        f"(false-refusal rate {fmt(c['false_refusal_rate'])}); precision {fmt(c['precision'])}, "
        f"recall {fmt(c['recall'])}.",
        f"Answerable refused: {', '.join(section.get('answerable_refused', [])) or 'none'}; "
        f"unanswerable answered: {', '.join(section.get('unanswerable_answered', [])) or 'none'}.",
    ]


def _curve_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    points = (report.get("refusals") or {}).get("curve") or []
    header = ["threshold", "unanswerable refused", "answerable refused", "precision"]
    rows = [
        [
            f"{p['threshold']:.2f}",
            f"{p['unanswerable_refused']}/{p['unanswerable']}",
            f"{p['answerable_refused']}/{p['answerable']}",
            fmt(p["precision"]),
        ]
        for p in points[::2]
    ]
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]


def _one_line_text(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _pages(paths: Sequence[str]) -> str:
    """Pages in rank order, each once."""
    return ", ".join(dict.fromkeys(paths))


def _config_text(report: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in report.get("config", {}).items())


def render_markdown(report: Mapping[str, Any], gate: Sequence[str] | None = None) -> str:
    """report.md: the metric tables, latencies, gate, citation problems and worst questions."""
    lat = report["metrics"]["latency_ms"]
    out = [
        "# Evaluation report",
        "",
        f"Dataset `{report['dataset']}`, docs `{report['docs']}`, {report['questions']} questions.",
        "",
    ]
    if report.get("config"):
        out += [f"Configuration: {_config_text(report)}.", ""]
    if report.get("ragas", {}).get("note"):
        out += [f"Ragas: {report['ragas']['note']}", ""]
    out += ["## Retrieval by kind", "", *_md_table(*metric_table(report, RETRIEVAL_METRICS))]
    out += ["## Answers by kind", "", *_md_table(*metric_table(report, ANSWER_METRICS))]
    out += ["## Latency (ms)", ""]
    out += _md_table(
        ["stage", "p50", "p95"],
        [[s, str(lat[f"{s}_p50"]), str(lat[f"{s}_p95"])] for s in STAGES],
    )
    if refusal_lines(report):
        out += ['## Refusals ("not covered" as a classifier)', "", *refusal_lines(report), ""]
        header, rows = _curve_rows(report)
        if rows:
            out += [
                "Threshold curve of the extractive gate (`RAG_MIN_SIMILARITY`), replayed over "
                "each question's passages:",
                "",
                *_md_table(header, rows),
            ]
    if gate is not None:
        out += ["## Baseline gate", ""]
        out += [f"- FAILED: {msg}" for msg in gate] if gate else ["Passed."]
        out.append("")
    if report.get("citation_problems"):
        out += ["## Citation problems", ""]
        out += [f"- {p['id']}: {'; '.join(p['problems'])}" for p in report["citation_problems"]]
        out.append("")
    out += ["## Worst questions", ""]
    if not report["worst"]:
        out.append("Every question scored 1.0.")
    for item in report["worst"]:
        rank = item["rank"] if item["rank"] is not None else "missed"
        out += [
            f"- **{item['id']}** ({item['kind']}, score {item['score']:.2f}, rank {rank}): "
            f"{item['question']}",
            f"  - expected: {_one_line_text(item['reference_answer'])} "
            f"({', '.join(item['expected']) or 'not in the book'})",
            f"  - got: {_one_line_text(item['answer'])} ({_pages(item['got']) or 'no sources'})",
        ]
    return "\n".join(out) + "\n"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h).replace('_', '_<wbr>')}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>'


def _latency_charts(report: Mapping[str, Any]) -> str:
    lat = report["metrics"]["latency_ms"]
    rows = report.get("per_question", [])
    charts = [
        histogram(
            [q[f"{stage}_ms"] for q in rows],
            title=f"{stage} (ms)",
            markers={"p50": lat[f"{stage}_p50"], "p95": lat[f"{stage}_p95"]},
            color=STAGE_COLORS[stage],
        )
        for stage in STAGES
    ]
    return '<div class="charts">' + "".join(charts) + "</div>"


def _kind_chart(report: Mapping[str, Any]) -> str:
    groups = {
        kind: {name: values.get(name) for name in CHART_METRICS}
        for kind, values in report["by_kind"].items()
    }
    groups["all"] = {name: report["metrics"].get(name) for name in CHART_METRICS}
    return grouped_bars(groups, label="metrics by kind")


def render_html(report: Mapping[str, Any], gate: Sequence[str] | None = None) -> str:
    """report.html: self-contained (inline CSS and SVG, nothing fetched)."""
    esc = html.escape
    lat = report["metrics"]["latency_ms"]
    latency_table = _html_table(
        ["stage", "p50", "p95"], [[s, str(lat[f"{s}_p50"]), str(lat[f"{s}_p95"])] for s in STAGES]
    )
    worst = _html_table(
        ["id", "kind", "score", "question", "expected", "got", "rank"],
        [
            [
                w["id"],
                w["kind"],
                f"{w['score']:.2f}",
                w["question"],
                f"{_one_line_text(w['reference_answer'])} "
                f"({', '.join(w['expected']) or 'not in the book'})",
                f"{_one_line_text(w['answer'])} ({_pages(w['got']) or 'no sources'})",
                str(w["rank"]) if w["rank"] is not None else "missed",
            ]
            for w in report["worst"]
        ],
        css="worst",
    )
    extra = ""
    if gate is not None:
        items = "".join(f"<li>{esc(m)}</li>" for m in gate)
        extra += f"<h2>Baseline gate</h2>{f'<ul>{items}</ul>' if gate else '<p>Passed.</p>'}"
    if report.get("citation_problems"):
        items = "".join(
            f"<li>{esc(p['id'])}: {esc('; '.join(p['problems']))}</li>"
            for p in report["citation_problems"]
        )
        extra += f"<h2>Citation problems</h2><ul>{items}</ul>"
    refusals = "".join(f"<p>{esc(line)}</p>" for line in refusal_lines(report))
    section = report.get("refusals") or {}
    if section.get("curve"):
        refusals += threshold_curve(
            section["curve"],
            lines=CURVE_LINES,
            marker=section.get("threshold"),
            title="refusal threshold curve (RAG_MIN_SIMILARITY)",
        )
        refusals += _html_table(*_curve_rows(report))
    note = report.get("ragas", {}).get("note")
    config = _config_text(report)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }}
svg text {{ font-size: 12px; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.note {{ background: #fff8e1; padding: 0.5em 1em; border-left: 4px solid #eeca3b; }}
table.worst td:nth-child(4) {{ width: 18%; }}
table.worst td:nth-child(5) {{ width: 27%; }}
table.worst td:nth-child(6) {{ width: 38%; }}
</style></head><body>
<h1>Evaluation report</h1>
<p>Dataset <code>{esc(report["dataset"])}</code>, docs <code>{esc(report["docs"])}</code>,
{report["questions"]} questions.</p>
{f"<p>Configuration: {esc(config)}.</p>" if config else ""}
{f'<p class="note">Ragas: {esc(note)}</p>' if note else ""}
<h2>Retrieval by kind</h2>{_html_table(*metric_table(report, RETRIEVAL_METRICS))}
<h2>Answers by kind</h2>{_html_table(*metric_table(report, ANSWER_METRICS))}
<h2>Metrics by kind</h2>{_kind_chart(report)}
<h2>Refusals</h2>{refusals or "<p>No refusal data.</p>"}
<h2>Latency per question</h2>{latency_table}{_latency_charts(report)}
{extra}
<h2>Worst questions</h2>{worst}
</body></html>
"""


def write_reports(
    report: dict[str, Any], out: Path, gate: Sequence[str] | None = None
) -> list[Path]:
    """Write report.json, report.md and report.html into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "report.md": render_markdown(report, gate),
        "report.html": render_html(report, gate),
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]
