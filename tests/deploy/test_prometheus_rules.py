"""The Prometheus and Alertmanager files in deploy/ pass their own tools' checks and unit tests.

``promtool test rules`` runs the rule unit tests in deploy/prometheus/tests/, which prove that each
alert fires where it should and stays silent where it should; the mutants below prove those unit
tests catch a rule that drifts (429s counted as errors, a dropped ``for:``, a missing guard).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from rag.observer import LLM_OUTCOMES
from tests.deploy.binaries import require_binary
from tests.deploy.promql import BUILT_INS, label_literals, metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

# The alerts of the metrics contract (METRICS.md / issue 7).
CONTRACT_ALERTS = {
    "RagHighErrorRate",
    "RagLLMHighErrorRate",
    "RagHighLatencyP95",
    "RagLLMQuotaExceeded",
    "RagDailyCostHigh",
    "RagNotReady",
}


def _run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_prometheus_config_is_valid():
    promtool = require_binary("promtool")
    result = _run(promtool, "check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_alert_rules_are_valid():
    promtool = require_binary("promtool")
    result = _run(promtool, "check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alert_rules())} rules found" in result.stdout


def test_alert_rule_unit_tests_pass():
    promtool = require_binary("promtool")
    assert RULE_TESTS, "no rule unit tests in deploy/prometheus/tests"
    result = _run(promtool, "test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_contract_alerts_are_all_there_labelled_and_annotated():
    rules = _alert_rules()
    assert {rule["alert"] for rule in rules} == CONTRACT_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_each_alert_is_unit_tested_firing_and_silent():
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert firing == CONTRACT_ALERTS, f"never shown firing: {CONTRACT_ALERTS - firing}"
    assert silent == CONTRACT_ALERTS, f"never shown silent: {CONTRACT_ALERTS - silent}"


def test_alert_rules_use_only_what_the_service_exports(
    exported_metric_names: set[str], exported_label_values: dict[tuple[str, str], set[str]]
):
    known = {("rag_llm_requests_total", "outcome"): set(LLM_OUTCOMES)}
    for rule in _alert_rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported_metric_names | BUILT_INS, (rule["alert"], names)
        for metric, label, value in label_literals(rule["expr"]):
            if label in {"job", "status"}:  # set by Prometheus / any HTTP status
                continue
            seen = exported_label_values.get((metric, label), set()) | known.get(
                (metric, label), set()
            )
            assert value in seen, f"{rule['alert']}: {metric}{{{label}={value!r}}} never exported"


def test_scrape_job_is_the_one_the_rules_select():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    selected = set(re.findall(r'job="([^"]+)"', ALERTS.read_text()))
    assert selected == {"rag"} <= jobs


# Each mutant changes one thing in alerts.yml that the unit tests must notice.
MUTANTS = {
    "429 counted as an error": ('status=~"5.."', 'status=~"5..|429"'),
    "error rate without its for": ("for: 5m\n", "for: 0s\n"),
    "latency of every route": ('{route=~"/v1/chat|/v1/chat/stream"}', ""),
    "latency for 5m instead of 10m": ("for: 10m\n", "for: 5m\n"),
    "quota blind to a new series": ("offset 10m", "offset 1m"),
    "cost alert without a budget": ("max by (job) (rag_daily_budget_usd) > 0", "vector(1)"),
    "cost at the line rather than above it": ("\n            > max by", "\n            >= max by"),
    "not ready when any instance is": (
        "max by (job) (rag_ready) == 0",
        "min by (job) (rag_ready) == 0",
    ),
    "readiness without its for": (
        "for: 2m\n        labels:\n          severity: critical",
        "for: 0s\n        labels:\n          severity: critical",
    ),
}


@pytest.mark.parametrize("mutant", MUTANTS, ids=list(MUTANTS))
def test_rule_unit_tests_catch_a_mutated_rule(mutant: str, tmp_path: Path):
    promtool = require_binary("promtool")
    before, after = MUTANTS[mutant]
    text = ALERTS.read_text()
    assert text.count(before) >= 1, f"mutant {mutant!r} no longer applies to alerts.yml"
    (tmp_path / "alerts.yml").write_text(text.replace(before, after, 1))
    (tmp_path / "tests").mkdir()
    for path in RULE_TESTS:
        (tmp_path / "tests" / path.name).write_text(path.read_text())
    result = _run(promtool, "test", "rules", *sorted((tmp_path / "tests").glob("*.yml")))
    assert result.returncode != 0, f"the rule unit tests pass with the mutant {mutant!r}"


def test_alertmanager_config_is_valid():
    amtool = require_binary("amtool")
    result = _run(amtool, "check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 receivers" in result.stdout


def test_alertmanager_slack_example_is_valid_once_uncommented(tmp_path: Path):
    amtool = require_binary("amtool")
    text = ALERTMANAGER_CONFIG.read_text()
    assert "    # slack_configs:" in text
    uncommented = text.replace("    # slack_configs:", "    slack_configs:").replace(
        "\n    #   ", "\n      "
    )
    config = yaml.safe_load(uncommented)
    assert config["receivers"][0]["slack_configs"][0]["api_url_file"]
    (tmp_path / "alertmanager.yml").write_text(uncommented)
    result = _run(amtool, "check-config", tmp_path / "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("severity", ["critical", "warning"])
def test_every_alert_reaches_the_webhook_grouped_by_name(severity: str):
    amtool = require_binary("amtool")
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    assert config["route"]["group_by"] == ["alertname"]
    result = _run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"severity={severity}",
        "alertname=RagHighErrorRate",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "team-webhook"
    webhooks = config["receivers"][0]["webhook_configs"]
    assert webhooks[0]["url"].startswith("http")
