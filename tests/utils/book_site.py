"""The browser tests' stack: the sample book's Docusaurus site served on loopback, the service
it talks to, and a reader (a Playwright page) with helpers for the chat widget."""

from __future__ import annotations

import http.server
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.utils.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "tests" / "e2e" / "site"
SCREENSHOTS = Path(os.environ.get("RAG_SCREENSHOTS_DIR", ROOT / "reports" / "screenshots"))
METRICS = ROOT / "reports" / "widget-metrics.json"
ADMIN_KEY = "widget-browser-test-admin-key"
SESSION_LIMIT = 3  # questions per session and minute: small, so the 429 test reaches it quickly
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Stack:
    """The running parts: the book's site, the service, its database, the simulator."""

    site: str
    api: str
    database: Path
    sim: Simulator
    build_s: float
    timings: dict[str, Any] = field(default_factory=dict)

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.api}/v1/sessions/{session_id}/messages", timeout=10)
        response.raise_for_status()
        return response.json()["messages"]

    def admin(self, path: str) -> dict[str, Any]:
        response = httpx.get(f"{self.api}{path}", headers={"X-API-Key": ADMIN_KEY}, timeout=10)
        response.raise_for_status()
        return response.json()


class CleanUrlHandler(http.server.SimpleHTTPRequestHandler):
    """Serve a Docusaurus build as its hosts do: ``/docs/x`` answers ``docs/x/index.html``."""

    def translate_path(self, path: str) -> str:
        local = Path(super().translate_path(path))
        if local.is_dir() and (local / "index.html").exists():
            return str(local / "index.html")
        if not local.exists() and local.with_suffix(".html").exists():
            return str(local.with_suffix(".html"))
        return str(local)

    def log_message(self, *_: Any) -> None:
        return


@dataclass
class Reader:
    """One browser context on the book: the page, its console errors, helpers for the widget."""

    page: Any
    stack: Stack
    errors: list[str]
    allowed: list[str] = field(default_factory=list)

    def goto(self, route: str) -> None:
        self.page.goto(f"{self.stack.site}{route}")
        self.page.wait_for_selector("textbook-chat[data-ready]", state="attached")

    def widget(self, selector: str) -> Any:
        """A locator inside the widget (Playwright's CSS pierces its open Shadow DOM)."""
        return self.page.locator(f"textbook-chat {selector}")

    def open_panel(self) -> None:
        self.widget(".launcher").click()
        self.widget(".panel").wait_for(state="visible")

    def ask(self, question: str) -> None:
        self.widget("textarea#tc-input").fill(question)
        self.widget("button.send").click()

    def wait_answer_done(self, timeout_ms: float = 60_000) -> None:
        self.page.wait_for_function(
            """() => {
                const root = document.querySelector('textbook-chat').shadowRoot;
                const last = [...root.querySelectorAll('.message.assistant')].pop();
                return last && !last.hasAttribute('aria-busy')
                    && !root.querySelector('.stop:not([hidden])');
            }""",
            timeout=timeout_ms,
        )

    def session_id(self) -> str:
        return self.page.evaluate(
            "() => JSON.parse(localStorage.getItem('textbook-chat:v1')).current"
        )

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]
