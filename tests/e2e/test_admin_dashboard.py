"""The admin dashboard in headless Chromium, over ``rag-serve`` with the simulator as LLM.

A scripted session (answers, a cached one, a fallback, a stream, feedback, a 404), then the page is
loaded with the key in the URL fragment: its DOM must show the figures ``/v1/admin/stats`` gives,
and a screenshot is kept as a test artifact (``reports/artifacts/admin-dashboard.png``).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import ServiceSettings
from perf.serving import run_service
from tests.utils.book_site import CHROMIUM_ARGS
from tests.utils.services import require_service
from tests.utils.simulator import Simulator

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "reports" / "artifacts" / "admin-dashboard.png"
KEY = "dashboard-test-admin-key"
PRICES = {"primary": [100.0, 400.0], "backup": [50.0, 200.0]}
CHROMIUM_FLAGS = [
    *CHROMIUM_ARGS,
    "--hide-scrollbars",
    "--virtual-time-budget=12000",  # the page polls at once, then every 5 s
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    require_service(path is not None, "chromium is not installed (Debian package 'chromium')")
    assert path is not None
    return path


class _Elements(HTMLParser):
    """Text and attributes of every element that has an id."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.tags: list[str] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        element_id = dict(attrs).get("id")
        if element_id:
            self.attrs[element_id] = dict(attrs)
            self.text.setdefault(element_id, "")
        if tag not in ("input", "meta", "link", "br", "img"):
            self._open.append((tag, element_id))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text[element_id] += data


def run_chromium(tmp_path: Path, url: str, *args: str) -> str:
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, url],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode()


@pytest.fixture(scope="module")
def service(
    sample_index: ServiceSettings, sim: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    sim.reset()
    database = tmp_path_factory.mktemp("dashboard") / "dashboard.sqlite3"
    env = {
        "RAG_DATABASE_URL": f"sqlite+aiosqlite:///{database.as_posix()}",
        "RAG_LLM_BASE_URL": sim.v1_url,
        "RAG_LLM_API_KEY": "test",
        "RAG_LLM_MODEL": "primary",
        "RAG_LLM_FALLBACK_MODELS": "backup",
        "RAG_LLM_MAX_ATTEMPTS": "1",
        "RAG_LLM_PRICES": json.dumps(PRICES),
        "RAG_DAILY_BUDGET_USD": "1.0",
        "RAG_ADMIN_API_KEYS": KEY,
        "TRANSFORMERS_OFFLINE": "1",
    }
    with run_service(sample_index.data_dir, env) as (base, _pid):
        yield base


@pytest.fixture(scope="module")
def stats(service: str, sim: Simulator) -> dict[str, Any]:
    """Run the scripted session; the stats it leaves."""
    with httpx.Client(base_url=service, timeout=60) as client:

        def ask(path: str, question: str) -> httpx.Response:
            response = client.post(path, json={"question": question})
            assert response.status_code == 200, response.text
            return response

        first = ask("/v1/chat", "What is the zero moment point?").json()
        assert ask("/v1/chat", "What is the zero moment point?").json()["cached"] is True
        sim.configure("primary", error_rate=1, error_kind="unavailable")
        assert ask("/v1/chat", "What does an encoder measure?").json()["model"] == "backup"
        sim.configure("primary", error_rate=0)
        stream = ask("/v1/chat/stream", "How does a series elastic actuator work?")
        assert "event: done" in stream.text
        rated = client.post(f"/v1/messages/{first['message_id']}/feedback", json={"rating": "up"})
        assert rated.status_code == 200
        assert client.get("/no/such/page").status_code == 404
        response = client.get("/v1/admin/stats", headers={"X-API-Key": KEY})
        assert response.status_code == 200
        return response.json()


def usd(value: float) -> str:
    """As the page writes dollars."""
    return f"${value:.4f}" if abs(value) < 1 else f"${value:.2f}"


def test_the_dashboard_draws_the_figures_of_the_stats(
    service: str, stats: dict[str, Any], tmp_path: Path
):
    dom = run_chromium(tmp_path, f"{service}/v1/admin/dashboard#key={KEY}", "--dump-dom")
    page = _Elements()
    page.feed(dom)
    text = {key: " ".join(value.split()) for key, value in page.text.items()}

    assert "hidden" in page.attrs["login"]
    assert "hidden" not in page.attrs["board"]
    assert text["ready"] == "ready"
    assert text["answers-total"] == str(stats["answers"]["total"]) == "4"
    assert text["answers-degraded"] == "0"
    assert text["cache-hits"] == "1"
    assert text["cache-hit-rate"] == "25.0%"  # 1 hit in 4 look-ups
    assert text["fallbacks-total"] == "1"
    assert text["rate-limited"] == "0"
    assert text["feedback-up"] == "1"
    assert text["feedback-down"] == "0"
    assert text["index-chunks"] == f"{stats['index']['chunks']:,}"
    assert text["index-version"] == f"v{stats['index']['version']}"
    assert int(text["requests-total"].replace(",", "")) >= stats["http"]["requests"]
    assert text["errors-total"] == "0"
    for percentile in ("latency-p50", "latency-p95", "latency-p99"):
        assert text[percentile].endswith(("ms", " s")), text[percentile]
    spend = stats["spend"]
    assert spend["today_usd"] > 0
    assert text["spend-today"] == usd(spend["today_usd"])
    assert text["budget"] == "$1.00"
    assert text["budget-used"] == f"({100 * spend['budget_used']:.1f}% used)"
    rows = text["spend-table"]
    for model in spend["today_by_model"]:
        assert model["model"] in rows
        assert f"{model['prompt_tokens']:,}" in rows
    assert {m["model"] for m in spend["today_by_model"]} == {"primary", "backup"}
    assert "primary" in text["models-table"]
    assert page.tags.count("polyline") >= 1  # the request-rate line: several polls were drawn
    assert page.tags.count("rect") >= 3  # budget bar, daily and token bars


def test_a_wrong_key_gets_the_key_form_back(service: str, tmp_path: Path):
    dom = run_chromium(tmp_path, f"{service}/v1/admin/dashboard#key=not-the-key", "--dump-dom")
    page = _Elements()
    page.feed(dom)

    assert "hidden" not in page.attrs["login"]
    assert "hidden" in page.attrs["board"]
    assert "not accepted" in page.text["login-error"]
    assert "requests-total" in page.text  # the figures' shell, never filled
    assert page.text["requests-total"] == "\u2013"  # the page's placeholder dash


def test_a_screenshot_of_the_dashboard_is_kept(service: str, stats: dict[str, Any], tmp_path: Path):
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.unlink(missing_ok=True)
    run_chromium(
        tmp_path,
        f"{service}/v1/admin/dashboard#key={KEY}",
        f"--screenshot={ARTIFACT}",
        "--window-size=1280,1500",
    )
    png = ARTIFACT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 1500)
    assert len(png) > 30_000  # a drawn page, not a blank one
