"""The Grafana dashboard asks only for what the service exports, and shows what operators need.

The exported names come from a running app's /metrics page after a chat and a stream
(``tests/deploy/conftest.py``), not from a list kept by hand.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from rag.observer import LLM_OUTCOMES
from tests.deploy.binaries import require_binary
from tests.deploy.promql import BUILT_INS, label_literals, metric_names

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "textbook-rag.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"

# Labels whose values the dashboard names; their values must exist on the exported series.
CHECKED_LABELS = {"route", "stage", "outcome", "result", "kind", "scope", "model"}
# Values that only appear once something goes wrong (an LLM error code) count as exported.
KNOWN_VALUES = {("rag_llm_requests_total", "outcome"): set(LLM_OUTCOMES)}
# Grafana's interval variables, replaced by durations for promtool.
GRAFANA_INTERVALS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels() -> list[dict]:
    return [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]


def _queries() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in _panels() for target in panel["targets"]]


def _datasource_uid() -> str:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return source["uid"]


def test_dashboard_structure():
    dashboard = _dashboard()
    assert dashboard["uid"] == "textbook-rag"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    uid = _datasource_uid()
    for panel in _panels():
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == uid, panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]


def test_every_query_uses_only_exported_metrics(exported_metric_names: set[str]):
    allowed = exported_metric_names | BUILT_INS
    for title, expr in _queries():
        names = metric_names(expr)
        assert names, f"{title}: {expr} selects no metric"
        assert names <= allowed, f"{title}: {sorted(names - allowed)} not exported ({expr})"


def test_every_label_value_a_query_names_exists(
    exported_label_values: dict[tuple[str, str], set[str]],
):
    for title, expr in _queries():
        for metric, label, value in label_literals(expr):
            if label not in CHECKED_LABELS:
                continue
            seen = exported_label_values.get((metric, label), set())
            seen |= KNOWN_VALUES.get((metric, label), set())
            assert value in seen, f"{title}: {metric}{{{label}={value!r}}} not exported: {seen}"


def test_dashboard_shows_what_operators_need():
    queries = [expr for _, expr in _queries()]
    shown = set().union(*(metric_names(expr) for expr in queries))
    assert {
        "rag_http_requests_total",
        "rag_http_request_duration_seconds_bucket",
        "rag_answer_stage_duration_seconds_bucket",
        "rag_llm_time_to_first_token_seconds_bucket",
        "rag_llm_requests_total",
        "rag_llm_tokens_total",
        "rag_llm_cost_usd_total",
        "rag_llm_fallbacks_total",
        "rag_cache_requests_total",
        "rag_rate_limited_total",
        "rag_index_chunks",
        "rag_index_version",
        "rag_llm_spend_today_usd",
        "rag_daily_budget_usd",
        "rag_ready",
    } <= shown
    for stage in ("total", "retrieval", "generation"):
        stage_queries = [q for q in queries if f'stage="{stage}"' in q]
        quantiles = {re.search(r"histogram_quantile\(([\d.]+)", q).group(1) for q in stage_queries}
        assert quantiles == {"0.5", "0.95", "0.99"}, stage
    assert any("histogram_quantile(0.99" in q and "rag_http_request" in q for q in queries)
    by_model = [q for q in queries if "by (model" in q]
    assert any("rag_llm_tokens_total" in q for q in by_model)
    assert any("rag_llm_cost_usd_total" in q for q in by_model)


def test_every_query_parses(tmp_path: Path):
    promtool = require_binary("promtool")
    rules = []
    for number, (_, expr) in enumerate(_queries()):
        for variable, duration in GRAFANA_INTERVALS.items():
            expr = expr.replace(variable, duration)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_provisioning_points_at_the_compose_services():
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["type"] == "prometheus"
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in services
    mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


@pytest.mark.parametrize("path", [DATASOURCES, PROVIDERS], ids=["datasources", "dashboards"])
def test_provisioning_files_are_grafana_v1(path: Path):
    assert yaml.safe_load(path.read_text())["apiVersion"] == 1
