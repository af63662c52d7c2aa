"""The sample book as a real Docusaurus 3.10 site with the chat plugin, served on loopback next to
``rag-serve`` (the LLM simulator as its model), and Debian's Chromium driven by Playwright.

One service, one site build and one browser per test module, all stopped when the module ends:
Playwright's sync API runs an event loop on the main thread and the service holds the sample
index's folder, so neither may outlive these tests. Each test gets a fresh browser context (empty
localStorage), and fails on any console error it did not expect. Screenshots go to
``reports/screenshots/`` (``make widget-screenshots`` regenerates them).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.settings import ServiceSettings
from perf.serving import free_port, run_service
from tests.utils.book_site import (
    ADMIN_KEY,
    CHROMIUM_ARGS,
    METRICS,
    SESSION_LIMIT,
    SITE,
    CleanUrlHandler,
    Reader,
    Stack,
)
from tests.utils.node_tools import npm_ci, require_chromium, require_node
from tests.utils.simulator import ModelKnobs, Simulator, run_simulator


@pytest.fixture(scope="module")
def site_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def widget_sim() -> Iterator[Simulator]:
    """The model answers at 40 tokens a second: streaming shows, and a stop lands mid-answer."""
    with run_simulator({"primary": ModelKnobs(ttft_ms=150, tps=40)}) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def api_service(
    sample_index: ServiceSettings,
    widget_sim: Simulator,
    site_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    database = tmp_path_factory.mktemp("widget-db") / "chat.sqlite3"
    env = {
        "RAG_DATABASE_URL": f"sqlite+aiosqlite:///{database.as_posix()}",
        "RAG_CORS_ORIGINS": f"http://127.0.0.1:{site_port}",
        "RAG_LLM_BASE_URL": widget_sim.v1_url,
        "RAG_LLM_API_KEY": "test",
        "RAG_LLM_MODEL": "primary",
        "RAG_LLM_MAX_ATTEMPTS": "1",
        "RAG_CACHE_MAX_ENTRIES": "0",
        "RAG_ADMIN_API_KEYS": ADMIN_KEY,
        "RAG_RATE_LIMIT_SESSION": f"{SESSION_LIMIT}/minute",
        "RAG_RATE_LIMIT_ADDRESS": "5000/day",
        "RAG_RATE_LIMIT_NEW_SESSIONS": "120/hour",
        "TRANSFORMERS_OFFLINE": "1",
    }
    with run_service(sample_index.data_dir, env) as (base, _pid):
        yield base, database


@pytest.fixture(scope="module")
def site_build(api_service: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``docusaurus build`` of the sample book with the plugin pointing at the running service."""
    require_node()
    npm_ci(SITE)
    out = tmp_path_factory.mktemp("site-build")
    started = time.monotonic()
    result = subprocess.run(
        [str(SITE / "node_modules" / ".bin" / "docusaurus"), "build", "--out-dir", str(out)],
        cwd=SITE,
        env={**os.environ, "TEXTBOOK_CHAT_API_URL": api_service[0]},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (out / ".build-seconds").write_text(f"{time.monotonic() - started:.1f}")
    return out


@pytest.fixture(scope="module")
def stack(
    site_build: Path, site_port: int, api_service: tuple[str, Path], widget_sim: Simulator
) -> Iterator[Stack]:
    handler = functools.partial(CleanUrlHandler, directory=str(site_build))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    running = Stack(
        site=f"http://127.0.0.1:{site_port}",
        api=api_service[0],
        database=api_service[1],
        sim=widget_sim,
        build_s=float((site_build / ".build-seconds").read_text()),
    )
    try:
        yield running
    finally:
        server.shutdown()
        server.server_close()
        if running.timings:
            METRICS.parent.mkdir(parents=True, exist_ok=True)
            METRICS.write_text(json.dumps({"site_build_s": running.build_s, **running.timings}))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def reader_factory(browser: Any, stack: Stack) -> Iterator[Callable[..., Reader]]:
    contexts: list[Any] = []
    readers: list[Reader] = []

    def make(**context_options: Any) -> Reader:
        context = browser.new_context(
            **{"viewport": {"width": 1280, "height": 860}, **context_options}
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.site)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda m: (
                errors.append(f"{m.text} ({m.location.get('url')})") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        reader = Reader(page=page, stack=stack, errors=errors)
        readers.append(reader)
        return reader

    yield make
    for context in contexts:
        context.close()
    for reader in readers:
        assert reader.unexpected_errors() == [], "console errors on the book's page"


@pytest.fixture
def reader(reader_factory: Callable[..., Reader]) -> Reader:
    return reader_factory()
