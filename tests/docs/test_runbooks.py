"""docs/runbooks.md: a section per alert rule, with the rule's own PromQL, and the incidents."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.docs.markdown import DOCS, ROOT, read_page

RUNBOOKS = DOCS / "runbooks.md"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
PARTS = ("**What it means.**", "**Confirm.**", "**Fix.**", "**Roll back.**")
INCIDENTS = {
    "Model provider down or out of quota",
    "Database down",
    "Qdrant down",
    "A bad ingest",
    "A bad release",
    "A leaked key",
}


def _rules() -> dict[str, str]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return {r["alert"]: r["expr"] for g in groups for r in g["rules"] if "alert" in r}


def _sections(parent: str) -> dict[str, str]:
    page = read_page(RUNBOOKS)
    top = next(h for h in page.headings if h.level == 2 and h.text == parent)
    below = [h for h in page.headings if h.line > top.line]
    end = next((h.line for h in below if h.level <= 2), None)
    return {
        h.text: page.section_text(h)
        for h in below
        if h.level == 3 and (end is None or h.line < end)
    }


def _normal(promql: str) -> str:
    return " ".join(promql.split())


def _panel_titles() -> set[str]:
    titles: set[str] = set()

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            titles.add(panel.get("title", ""))
            walk(panel.get("panels", []))

    for path in DASHBOARDS:
        walk(json.loads(path.read_text(encoding="utf-8")).get("panels", []))
    return titles


def test_every_alert_has_a_section_and_every_section_an_alert():
    assert sorted(_sections("Alerts")) == sorted(_rules())


@pytest.mark.parametrize("alert", sorted(_rules()))
def test_alert_section_says_what_how_to_confirm_fix_and_roll_back(alert: str):
    text = _sections("Alerts")[alert]
    assert [part for part in PARTS if part not in text] == []
    blocks = re.findall(r"```promql\n(.*?)```", text, flags=re.DOTALL)
    assert [_normal(b) for b in blocks] == [_normal(_rules()[alert])], (
        "the section's PromQL must be the rule's expr in deploy/prometheus/alerts.yml"
    )


def test_common_incidents_have_sections():
    assert sorted(INCIDENTS - set(_sections("Incidents"))) == []


def test_named_dashboard_panels_exist():
    text = RUNBOOKS.read_text(encoding="utf-8")
    named = {" ".join(t.split()) for t in re.findall(r"(?<!\*)\*([A-Z][^*]+)\*(?!\*)", text)}
    named -= {"Textbook QA service"}  # the dashboard's own title
    titles = _panel_titles()
    assert titles, "no Grafana dashboard found"
    assert sorted(named - titles) == []
