"""Alerts end to end: a fault in the service's world reaches a webhook through the real stack.

Everything is real and on loopback: ``rag-serve`` over the sample book with the LLM simulator as
its models, Prometheus scraping ``/metrics`` every second with the rules of
``deploy/prometheus/alerts.yml`` (the expressions unchanged, only each ``for:`` shortened from N
minutes to N seconds), Alertmanager with ``deploy/alertmanager/alertmanager.yml`` (its routing
unchanged, only the timings shortened and the webhook URL pointed here) and a small HTTP server
in this test standing in for the chat webhook.

- The primary model starts failing: answers keep arriving from the backup model (every response
  200) and ``RagLLMHighErrorRate`` reaches the webhook; ``RagHighErrorRate`` stays silent.
- The database (PostgreSQL behind a TCP proxy) goes away: questions get 503 and
  ``RagHighErrorRate`` and ``RagNotReady`` reach the webhook.

Prometheus and Alertmanager come from Debian's ``prometheus`` and ``prometheus-alertmanager``
packages; the tests skip where they are missing, except in CI (``.ci/run`` installs them).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from api.settings import ServiceSettings
from perf.serving import free_port, run_service
from tests.deploy.binaries import require_binary
from tests.utils.postgres_service import (
    POSTGRES_URL,
    create_database,
    drop_database,
    require_postgres,
)
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator
from tests.utils.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
logger = logging.getLogger(__name__)
SAMPLE_QA = ROOT / "sample_book" / "qa.jsonl"

ALERT_WITHIN_S = 90.0  # from the fault to the webhook: rules fire in seconds, the rest is slack
START_S = 30.0
SERVICE_ENV = {
    "RAG_LLM_API_KEY": "test",
    "RAG_LLM_MODEL": "primary",
    "RAG_LLM_FALLBACK_MODELS": "backup",
    "RAG_LLM_MAX_ATTEMPTS": "1",
    "RAG_CACHE_MAX_ENTRIES": "0",  # every question reaches the models
    "RAG_RATE_LIMIT_NEW_SESSIONS": "100000/hour",
    "RAG_RATE_LIMIT_ADDRESS": "100000/day",
}


@pytest.fixture(scope="session")
def alerting_tools() -> dict[str, str]:
    """Prometheus and Alertmanager; checked first, so a skip comes before the book is indexed."""
    return {name: require_binary(name) for name in ("prometheus", "prometheus-alertmanager")}


# --- the rules and configurations under test, shortened for a test run -----------------------


def fast_rules(rules: str) -> str:
    """``alerts.yml`` with each ``for: Nm`` turned into ``for: Ns``; nothing else changes."""
    return re.sub(r"^(\s+for:\s*)(\d+)m\s*$", r"\g<1>\2s", rules, flags=re.MULTILINE)


def test_fast_rules_change_only_the_for_windows():
    real = yaml.safe_load(ALERT_RULES.read_text())
    fast = yaml.safe_load(fast_rules(ALERT_RULES.read_text()))
    real_rules = [rule for group in real["groups"] for rule in group["rules"]]
    fast_rules_ = [rule for group in fast["groups"] for rule in group["rules"]]
    assert len(real_rules) == len(fast_rules_) == 6
    for before, after in zip(real_rules, fast_rules_, strict=True):
        assert {k: v for k, v in before.items() if k != "for"} == {
            k: v for k, v in after.items() if k != "for"
        }
        if "for" in before:
            assert after["for"] == before["for"].replace("m", "s")


def _prometheus_config(rules: Path, *, target: str, alertmanager: str) -> dict[str, Any]:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(rules)]
    (manager,) = config["alerting"]["alertmanagers"]
    manager["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target]}]
    return config


def _alertmanager_config(webhook_url: str) -> dict[str, Any]:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
    hooks = [hook for receiver in config["receivers"] for hook in receiver["webhook_configs"]]
    assert hooks, "the Alertmanager config has no webhook receiver"
    for hook in hooks:
        hook["url"] = webhook_url
    return config


# --- the stack --------------------------------------------------------------------------------


@dataclass
class Notification:
    """One webhook call from Alertmanager and when it arrived (``time.monotonic()``)."""

    at: float
    payload: dict[str, Any]


class WebhookReceiver:
    """A loopback HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    receiver.notifications.append(Notification(time.monotonic(), json.loads(body)))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return None  # quiet: the test reads the notifications, not a log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alertmanager"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def firing(self, alertname: str) -> list[tuple[Notification, dict[str, Any]]]:
        """Every firing alert named ``alertname`` received so far, with its notification."""
        with self._changed:
            return [
                (note, alert)
                for note in self.notifications
                for alert in note.payload["alerts"]
                if alert["labels"]["alertname"] == alertname and alert["status"] == "firing"
            ]

    def wait_firing(self, alertname: str, timeout_s: float) -> tuple[Notification, dict[str, Any]]:
        """The first firing ``alertname`` to arrive; fails after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not (found := self.firing(alertname)):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [
                        a["labels"]["alertname"]
                        for n in self.notifications
                        for a in n.payload["alerts"]
                    ]
                    pytest.fail(f"{alertname} did not reach the webhook in {timeout_s} s: {names}")
                self._changed.wait(left)
        return found[0]


@contextmanager
def _process(args: list[str], ready_url: str, log: Path) -> Iterator[None]:
    """Run a tool until the block ends, once ``ready_url`` answers 200; output goes to ``log``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{args[0]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{args[0]} not ready in {START_S} s: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class AlertingStack:
    """Prometheus and Alertmanager watching one service, and the webhook they report to."""

    webhook: WebhookReceiver
    prometheus_url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": promql})
        reply.raise_for_status()
        return reply.json()["data"]["result"]

    def active_alerts(self) -> dict[str, str]:
        """alertname -> state ("pending" or "firing") of the alerts Prometheus holds now."""
        reply = httpx.get(f"{self.prometheus_url}/api/v1/alerts")
        reply.raise_for_status()
        return {a["labels"]["alertname"]: a["state"] for a in reply.json()["data"]["alerts"]}

    def wait_for(self, promql: str, timeout_s: float = 60) -> None:
        """Until ``promql`` returns a result (the series Prometheus has scraped are in)."""
        deadline = time.monotonic() + timeout_s
        while not self.query(promql):
            if time.monotonic() > deadline:
                pytest.fail(f"Prometheus never returned {promql!r} within {timeout_s} s")
            time.sleep(0.5)


@contextmanager
def alerting_stack(
    tools: dict[str, str], tmp_path: Path, service_url: str
) -> Iterator[AlertingStack]:
    """Alertmanager, then Prometheus scraping ``service_url`` with the shortened rules."""
    prometheus, alertmanager = tools["prometheus"], tools["prometheus-alertmanager"]
    prom_port, am_port = free_port(), free_port()
    rules = tmp_path / "alerts.yml"
    rules.write_text(fast_rules(ALERT_RULES.read_text()))
    am_config, prom_config = tmp_path / "alertmanager.yml", tmp_path / "prometheus.yml"
    target = service_url.removeprefix("http://")
    with ExitStack() as stack:
        webhook = stack.enter_context(WebhookReceiver())
        am_config.write_text(yaml.safe_dump(_alertmanager_config(webhook.url)))
        stack.enter_context(
            _process(
                [
                    alertmanager,
                    f"--config.file={am_config}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",  # no gossip port: a single instance
                ],
                f"http://127.0.0.1:{am_port}/-/ready",
                tmp_path / "alertmanager.log",
            )
        )
        config = _prometheus_config(rules, target=target, alertmanager=f"127.0.0.1:{am_port}")
        prom_config.write_text(yaml.safe_dump(config))
        stack.enter_context(
            _process(
                [
                    prometheus,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                f"http://127.0.0.1:{prom_port}/-/ready",
                tmp_path / "prometheus.log",
            )
        )
        yield AlertingStack(webhook=webhook, prometheus_url=f"http://127.0.0.1:{prom_port}")


# --- traffic ------------------------------------------------------------------------------------


@dataclass
class ChatTraffic:
    """Readers asking the sample questions one after another, in a thread, until stopped."""

    base_url: str
    replies: list[tuple[float, int, str]] = field(default_factory=list)  # (at, status, model)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> ChatTraffic:
        lines = SAMPLE_QA.read_text(encoding="utf-8").splitlines()
        questions = [json.loads(line)["question"] for line in lines if line.strip()]
        self._thread = threading.Thread(target=self._run, args=(questions,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self, questions: list[str]) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            for question in itertools.cycle(questions):
                if self._stop.is_set():
                    return
                try:
                    reply = client.post("/v1/chat", json={"question": question})
                except httpx.HTTPError:
                    self.replies.append((time.monotonic(), 0, ""))
                    time.sleep(0.2)
                    continue
                model = reply.json().get("model", "") if reply.status_code == 200 else ""
                self.replies.append((time.monotonic(), reply.status_code, model))

    def since(self, at: float) -> list[tuple[float, int, str]]:
        return [reply for reply in list(self.replies) if reply[0] >= at]


@contextmanager
def _service(tmp_path: Path, data_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """``rag-serve`` as a process; its log goes to ``rag-serve.log``, shown if it cannot start."""
    log = tmp_path / "rag-serve.log"
    with log.open("wb") as stderr, ExitStack() as stack:
        try:
            base, _pid = stack.enter_context(run_service(data_dir, env, stderr=stderr))
        except RuntimeError as exc:
            pytest.fail(f"{exc}: {log.read_text(errors='replace')[-3000:]}")
        yield base


def _report(what: str, seconds: float) -> None:
    """Log the delay (``-o log_cli=true --log-cli-level=INFO`` shows it)."""
    logger.info("alerting e2e: %s reached the webhook %.1f s after the fault", what, seconds)


# --- the LLM failing ------------------------------------------------------------------------------


@pytest.fixture
def llm() -> Iterator[Simulator]:
    fast = ModelKnobs(ttft_ms=0, tps=0)
    with run_simulator({"primary": fast, "backup": fast}) as simulator:
        yield simulator


@pytest.mark.usefixtures("alerting_tools")
def test_llm_errors_page_through_alertmanager(
    alerting_tools: dict[str, str], sample_index: ServiceSettings, llm: Simulator, tmp_path: Path
):
    env = {**SERVICE_ENV, "RAG_LLM_BASE_URL": llm.v1_url}
    with (
        _service(tmp_path, sample_index.data_dir, env) as base,
        alerting_stack(alerting_tools, tmp_path, base) as stack,
        ChatTraffic(base) as traffic,
    ):
        # healthy first: Prometheus has a rate of good attempts and no alert
        stack.wait_for('sum(rate(rag_llm_requests_total{outcome="ok"}[5m])) > 0')
        assert "RagLLMHighErrorRate" not in stack.active_alerts()

        llm.configure("primary", error_rate=1.0, error_kind="server_error")
        fault_at = time.monotonic()
        note, alert = stack.webhook.wait_firing("RagLLMHighErrorRate", ALERT_WITHIN_S)
        _report("RagLLMHighErrorRate", note.at - fault_at)

        assert note.payload["receiver"] == "team-webhook"
        assert note.payload["groupLabels"] == {"alertname": "RagLLMHighErrorRate"}
        assert alert["labels"]["job"] == "rag"
        assert alert["labels"]["severity"] == "warning"
        assert alert["annotations"]["summary"].endswith("of LLM attempts fail")
        # readers were still answered, by the backup model, and no HTTP error alert
        after = traffic.since(fault_at)
        assert after, "no question was answered after the fault"
        assert {status for _, status, _ in traffic.replies} == {200}
        assert {model for _, _, model in after[1:]} == {"backup"}
        assert "RagHighErrorRate" not in stack.active_alerts()
    assert llm.model_stats("primary")["errors"]["server_error"] > 0
    # the service stayed ready and served every request: neither of those alerts went off
    assert not stack.webhook.firing("RagHighErrorRate")
    assert not stack.webhook.firing("RagNotReady")


# --- the database going away ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> None:
    """Skip (fail in CI) where PostgreSQL does not answer; checked before the book is indexed."""
    asyncio.run(require_postgres())


@pytest.fixture
def database(postgres_server: None) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = asyncio.run(create_database("rag_alerting"))
    try:
        yield name
    finally:
        asyncio.run(drop_database(name))


@pytest.mark.postgres
@pytest.mark.usefixtures("alerting_tools", "postgres_server")
def test_database_outage_pages_for_errors_and_readiness(
    alerting_tools: dict[str, str],
    sample_index: ServiceSettings,
    llm: Simulator,
    database: str,
    tmp_path: Path,
):
    url = make_url(POSTGRES_URL)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    dsn = url.set(host="127.0.0.1", port=proxy.port, database=database)
    env = {
        **SERVICE_ENV,
        "RAG_LLM_BASE_URL": llm.v1_url,
        "RAG_DATABASE_URL": dsn.render_as_string(hide_password=False),
        "RAG_DB_CONNECT_TIMEOUT_S": "1",
        "RAG_DB_POOL_TIMEOUT_S": "1",
    }
    try:
        with (
            _service(tmp_path, sample_index.data_dir, env) as base,
            alerting_stack(alerting_tools, tmp_path, base) as stack,
            ChatTraffic(base) as traffic,
        ):
            stack.wait_for('sum(rate(rag_http_requests_total{route="/v1/chat"}[5m])) > 0')
            assert not {"RagHighErrorRate", "RagNotReady"} & set(stack.active_alerts())

            proxy.stop()
            fault_at = time.monotonic()
            note, alert = stack.webhook.wait_firing("RagHighErrorRate", ALERT_WITHIN_S)
            _report("RagHighErrorRate", note.at - fault_at)
            ready_note, _ = stack.webhook.wait_firing("RagNotReady", ALERT_WITHIN_S)
            _report("RagNotReady", ready_note.at - fault_at)

            assert note.payload["groupLabels"] == {"alertname": "RagHighErrorRate"}
            assert alert["labels"]["severity"] == "critical"
            assert alert["annotations"]["summary"].endswith("of responses are 5xx")
            assert 503 in {status for _, status, _ in traffic.since(fault_at)}
    finally:
        proxy.stop()
