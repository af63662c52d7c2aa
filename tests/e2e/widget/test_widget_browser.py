"""The reader's chat on the real Docusaurus build of the sample book, in headless Chromium.

Covers: open by button and by shortcut, ask and see tokens arrive before the answer ends, follow a
citation to its route and anchor (with a text fragment), ask about a selection (selection and
page_url reach the API), selection-only, stop mid-stream (stored as interrupted), navigate and
reload (the conversation stays), earlier conversations and delete, feedback with a comment, copy,
429 with its wait, 503/offline keeping the draft, dark mode, the 375 px layout, keyboard-only use
with the focus kept in the panel, an axe-core scan, and no console errors (checked after each test).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.utils.book_site import SESSION_LIMIT, SITE, Reader, Stack

pytestmark = pytest.mark.slow
PAGE = "/docs/humanoids/balance-and-walking"
QUESTION = "What is the zero moment point?"
LOADS = 5
ROOT_JS = "() => document.querySelector('textbook-chat').shadowRoot"


def answer_text(reader: Reader) -> str:
    return reader.page.evaluate(
        f"""() => {{
            const last = [...({ROOT_JS})().querySelectorAll('.message.assistant .answer')].pop();
            return last ? last.textContent : '';
        }}"""
    )


def wait_until(predicate: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def active_element(reader: Reader) -> str:
    """What has the focus in the widget: tag, id and class of its shadow root's activeElement."""
    return reader.page.evaluate(
        f"""() => {{
            const a = ({ROOT_JS})().activeElement;
            return a ? `${{a.tagName.toLowerCase()}}#${{a.id}}.${{a.className}}` : '';
        }}"""
    )


def test_time_to_interactive_and_the_launcher(reader: Reader, stack: Stack):
    reader.page.add_init_script(
        """
        window.__tc = {};
        window.addEventListener('textbook-chat:ready',
            () => { window.__tc.defined = performance.now(); });
        new MutationObserver((_, obs) => {
            const el = document.querySelector('textbook-chat[data-ready]');
            if (el) { window.__tc.ready = performance.now(); obs.disconnect(); }
        }).observe(document, {subtree: true, childList: true, attributes: true});
        """
    )
    samples = []
    for _ in range(LOADS):  # the first load fetches the widget, the others revalidate it
        reader.goto(PAGE)
        samples.append(
            reader.page.evaluate(
                """() => ({...window.__tc,
                    dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
                    script: performance.getEntriesByType('resource')
                        .filter(r => r.name.includes('/widget.js'))
                        .map(r => ({size: r.encodedBodySize}))[0]})"""
            )
        )
    for timing in samples:
        # The element is defined, then interactive once its stylesheet is in (the launcher shows).
        assert timing["ready"] >= timing["defined"] > 0
    stack.timings["time_to_interactive_ms"] = [round(t["ready"], 1) for t in samples]
    stack.timings["time_to_interactive_median_ms"] = round(
        statistics.median(t["ready"] for t in samples), 1
    )
    stack.timings["dom_content_loaded_median_ms"] = round(
        statistics.median(t["dcl"] for t in samples), 1
    )
    stack.timings["widget_js_transfer_bytes"] = samples[0]["script"]["size"]

    launcher = reader.widget(".launcher")
    assert launcher.is_visible()
    assert launcher.get_attribute("aria-expanded") == "false"
    assert "Ask the book" in launcher.get_attribute("aria-label")
    reader.screenshot("01-launcher")

    launcher.click()
    assert reader.widget(".panel").is_visible()
    assert reader.widget(".panel").get_attribute("role") == "dialog"
    assert active_element(reader).startswith("textarea#tc-input")
    assert reader.widget(".starter").count() == 2  # the site's configured starter questions
    reader.screenshot("02-panel-open")


def test_the_shortcut_opens_and_escape_closes(reader: Reader):
    reader.goto(PAGE)
    reader.page.keyboard.press("Control+/")
    reader.widget(".panel").wait_for(state="visible")
    assert active_element(reader).startswith("textarea#tc-input")

    reader.page.keyboard.press("Escape")
    reader.widget(".panel").wait_for(state="hidden")
    assert reader.widget(".launcher").is_visible()
    assert active_element(reader).startswith("button#.launcher")


def test_tokens_arrive_before_the_answer_ends_and_citations_link_to_the_page(
    reader: Reader, stack: Stack
):
    stack.sim.configure("primary", tps=12)
    try:
        reader.goto("/docs/intro")
        reader.open_panel()
        asked = time.monotonic()
        reader.ask(QUESTION)
        # While the answer still streams (aria-busy), text is already there.
        reader.page.wait_for_function(
            f"""() => {{
                const m = [...({ROOT_JS})().querySelectorAll('.message.assistant')].pop();
                return m && m.getAttribute('aria-busy') === 'true'
                    && m.querySelector('.answer').textContent.trim().length > 20
                    && !m.querySelector('.answer').textContent.includes('Thinking');
            }}""",
            timeout=30_000,
        )
        first_text_s = time.monotonic() - asked
        partial = answer_text(reader)
        reader.screenshot("03-streaming")
        reader.wait_answer_done()
        done_s = time.monotonic() - asked
    finally:
        stack.sim.configure("primary", tps=40)
    final = answer_text(reader)
    assert len(final) > len(partial)
    assert done_s > first_text_s + 0.5  # the answer went on after the first words were shown
    stack.timings["first_text_s"] = round(first_text_s, 2)
    assert reader.widget(".log").get_attribute("aria-live") == "polite"

    cites = reader.widget(".message.assistant a.cite")
    assert cites.count() >= 1
    reader.screenshot("04-answer")
    href = cites.first.get_attribute("href")
    messages = stack.messages(reader.session_id())
    source = next(
        s for s in messages[-1]["sources"] if s["index"] == int(cites.first.inner_text()[1:-1])
    )
    assert href.startswith(source["url"])
    assert ":~:text=" in href
    route, _, anchor = source["url"].partition("#")

    cites.first.click()
    reader.page.wait_for_url(f"**{route}*")
    location = urlsplit(reader.page.url)
    assert location.path == route
    if anchor:
        assert reader.page.evaluate("() => location.hash") == f"#{anchor}"
        assert reader.page.locator(f"[id='{anchor}']").count() == 1
    reader.page.wait_for_selector("textbook-chat[data-ready]", state="attached")
    # The panel and the conversation followed the reader to the cited page.
    assert reader.widget(".panel").is_visible()
    assert QUESTION in reader.widget(".message.user").first.inner_text()
    reader.screenshot("05-cited-page")


def select_paragraph(reader: Reader) -> str:
    return reader.page.evaluate(
        """() => {
            const p = document.querySelector('.theme-doc-markdown p');
            const range = document.createRange();
            range.selectNodeContents(p);
            const selection = document.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
            return selection.toString().trim();
        }"""
    )


def test_ask_about_a_selection_sends_it_with_the_page_url(reader: Reader, stack: Stack):
    reader.goto(PAGE)
    selected = select_paragraph(reader)
    button = reader.widget(".ask-selection")
    button.wait_for(state="visible")
    reader.screenshot("06-ask-about-this")
    button.click()
    reader.widget(".panel").wait_for(state="visible")
    assert reader.widget(".selection").is_visible()
    assert reader.widget(".selection-text").inner_text().strip() == selected
    reader.screenshot("07-selection-in-panel")
    reader.ask("Explain this passage")
    reader.wait_answer_done()

    user = stack.messages(reader.session_id())[0]
    assert user["role"] == "user"
    assert user["selected_text"] == selected
    assert user["page_url"] == PAGE
    assert reader.widget(".selection").is_hidden()  # a selection goes with one question


def test_selection_only_reaches_the_api(reader: Reader, stack: Stack):
    reader.goto(PAGE)
    selected = select_paragraph(reader)
    reader.widget(".ask-selection").click()
    reader.widget("#tc-selection-only").check()
    reader.ask("Summarise only this")
    reader.wait_answer_done()

    with sqlite3.connect(stack.database) as db:
        row = db.execute(
            "SELECT selected_text, selection_only, page_url FROM messages WHERE role = 'user' "
            "AND content = 'Summarise only this'"
        ).fetchone()
    assert row == (selected, 1, PAGE)


def test_stop_mid_stream_is_stored_as_interrupted(reader: Reader, stack: Stack):
    stack.sim.configure("primary", tps=6)
    try:
        reader.goto(PAGE)
        reader.open_panel()
        reader.ask("How does a robot keep its balance while walking?")
        reader.page.wait_for_function(
            f"""() => {{
                const a = [...({ROOT_JS})().querySelectorAll('.message.assistant .answer')].pop();
                return a && a.textContent.trim().length > 10 && !a.textContent.includes('Thinking');
            }}""",
            timeout=30_000,
        )
        stop = reader.widget("button.stop")
        assert stop.is_visible()
        assert stop.get_attribute("aria-label") == "Stop answering"
        stop.click()
        reader.wait_answer_done(timeout_ms=10_000)
    finally:
        stack.sim.configure("primary", tps=40)
    assert reader.widget(".message.assistant .note").inner_text() == "Stopped."
    reader.screenshot("08-stopped")
    session = reader.session_id()

    answer = wait_until(
        lambda: next((m for m in stack.messages(session) if m["role"] == "assistant"), None)
    )
    assert answer["interrupted"] is True
    assert 0 < len(answer["content"]) < 2000


def test_a_reload_mid_stream_shows_what_the_service_kept(reader: Reader, stack: Stack):
    # Asked before the service has stored the interrupted first exchange, the history is a 404.
    reader.allowed.append("status of 404")
    stack.sim.configure("primary", tps=6)
    try:
        reader.goto(PAGE)
        reader.open_panel()
        reader.ask("What does the capture point tell a walking robot?")
        reader.page.wait_for_function(
            f"""() => {{
                const a = [...({ROOT_JS})().querySelectorAll('.message.assistant .answer')].pop();
                return a && a.textContent.trim().length > 10 && !a.textContent.includes('Thinking');
            }}""",
            timeout=30_000,
        )
        session = reader.session_id()
        reader.page.reload()
        reader.page.wait_for_selector("textbook-chat[data-ready]", state="attached")
    finally:
        stack.sim.configure("primary", tps=40)
    stored = wait_until(
        lambda: next(
            (m for m in stack.messages(session) if m["role"] == "assistant" and m["content"]),
            None,
        )
    )
    assert stored["interrupted"] is True
    # The widget showed the answer as interrupted, then took the service's copy of it.
    reader.page.wait_for_function(
        f"""() => ({ROOT_JS})().querySelector('.message.assistant .note')?.textContent
            === 'This answer was interrupted.'""",
    )
    reader.page.wait_for_function(
        f"""() => {{
            const state = JSON.parse(localStorage.getItem('textbook-chat:v1'));
            return state.conversations[state.current].messages[1].content
                === {json.dumps(stored["content"])};
        }}""",
        timeout=15_000,
    )
    assert answer_text(reader).strip()
    assert reader.widget(".message.user").count() == 1


def test_the_conversation_follows_navigation_and_reload(reader: Reader, stack: Stack):
    reader.goto(PAGE)
    reader.open_panel()
    reader.ask(QUESTION)
    reader.wait_answer_done()
    session = reader.session_id()

    # A client-side navigation (the sidebar) keeps the same element and conversation.
    reader.page.locator("nav.menu a[href='/docs/intro']").first.click()
    reader.page.wait_for_url("**/docs/intro")
    assert reader.widget(".message.user").count() == 1

    reader.page.reload()
    reader.page.wait_for_selector("textbook-chat[data-ready]", state="attached")
    assert reader.widget(".panel").is_visible()  # it was open: it opens again
    assert QUESTION in reader.widget(".message.user").inner_text()
    assert reader.widget(".message.assistant a.cite").count() >= 1
    assert reader.session_id() == session

    reader.widget("textarea#tc-input").fill("And who described it first?")
    reader.widget("button.send").click()
    reader.wait_answer_done()
    assert [m["role"] for m in stack.messages(session)] == ["user", "assistant"] * 2
    reader.screenshot("09-after-reload")


def test_earlier_conversations_and_delete(reader: Reader, stack: Stack):
    reader.goto(PAGE)
    reader.open_panel()
    reader.ask(QUESTION)
    reader.wait_answer_done()
    first = reader.session_id()
    reader.widget("button[aria-label='New conversation']").click()
    assert reader.widget(".message").count() == 0
    reader.ask("What does an encoder measure?")
    reader.wait_answer_done()
    second = reader.session_id()
    assert second != first

    reader.widget("button[aria-label='Earlier conversations']").click()
    items = reader.widget(".conversations li")
    assert items.count() == 2
    assert "encoder" in items.first.inner_text()  # newest first
    reader.screenshot("10-conversations")

    reader.widget(".conversations li:nth-child(2) .open-conversation").click()
    reader.page.wait_for_function(
        f"() => ({ROOT_JS})().querySelector('.message.user')?.textContent.includes('zero moment')"
    )

    reader.widget("button[aria-label='Earlier conversations']").click()
    reader.widget(f"button[aria-label^='Delete conversation: {QUESTION}']").click()
    reader.page.wait_for_function(
        f"() => ({ROOT_JS})().querySelectorAll('.conversations li').length === 1"
    )
    gone = httpx.get(f"{stack.api}/v1/sessions/{first}/messages", timeout=10)
    assert gone.status_code == 404
    assert len(stack.messages(second)) == 2


def test_feedback_with_a_comment_is_stored_and_copy_copies(reader: Reader, stack: Stack):
    reader.goto(PAGE)
    reader.open_panel()
    reader.ask(QUESTION)
    reader.wait_answer_done()
    message_id = stack.messages(reader.session_id())[-1]["id"]

    reader.widget("button[aria-label='Copy answer']").click()
    reader.page.wait_for_function(
        f"() => ({ROOT_JS})().querySelector('.action-status').textContent === 'Copied'"
    )
    copied = reader.page.evaluate("() => navigator.clipboard.readText()")
    assert copied == stack.messages(reader.session_id())[-1]["content"]

    reader.widget("button[aria-label='Not helpful']").click()
    reader.widget(".comment-form").wait_for(state="visible")
    assert reader.widget("button[aria-label='Not helpful']").get_attribute("aria-pressed") == "true"
    reader.widget("textarea.comment").fill("The answer skipped the support polygon.")
    reader.screenshot("11-feedback")
    reader.widget(".comment-form button").click()
    reader.widget(".comment-form").wait_for(state="hidden")

    items = stack.admin("/v1/admin/feedback?limit=200")["items"]
    mine = next(item for item in items if item["message_id"] == message_id)
    assert mine["rating"] == "down"
    assert mine["comment"] == "The answer skipped the support polygon."


def test_429_says_when_to_ask_again_and_keeps_the_draft(reader: Reader):
    reader.allowed.append("status of 429")  # Chromium logs every refused fetch
    reader.goto(PAGE)
    reader.open_panel()
    for n in range(SESSION_LIMIT):
        reader.ask(f"Question {n + 1}: what is a series elastic actuator?")
        reader.wait_answer_done()
    reader.ask("One question too many about actuators")
    status = reader.widget(".status")
    status.wait_for(state="visible")
    text = status.inner_text()
    assert text.startswith("Too many questions right now. You can ask again in ")
    wait = int(text.split(" in ")[1].split(" s")[0])
    assert 1 <= wait <= 60
    assert (
        reader.widget("textarea#tc-input").input_value() == "One question too many about actuators"
    )
    assert reader.widget("button.send").is_disabled()
    assert reader.widget(".message.user").count() == SESSION_LIMIT
    reader.screenshot("12-rate-limited")


def test_unavailable_and_offline_keep_the_draft(reader: Reader, stack: Stack):
    reader.allowed.append("status of 503")
    reader.allowed.append("net::ERR_INTERNET_DISCONNECTED")
    reader.goto(PAGE)
    reader.open_panel()
    # The service's answer as a saturated instance gives it (the route only replays it).
    reader.page.route(
        f"{stack.api}/v1/chat/stream",
        lambda route: route.fulfill(
            status=503,
            headers={
                "Retry-After": "5",
                "Access-Control-Allow-Origin": stack.site,
                "Content-Type": "application/json",
            },
            body='{"error": {"code": "overloaded", "message": "Busy.", "request_id": "x"}}',
        ),
    )
    reader.ask("Will this be kept?")
    reader.widget(".status").wait_for(state="visible")
    assert "unavailable" in reader.widget(".status").inner_text()
    assert reader.widget("textarea#tc-input").input_value() == "Will this be kept?"
    reader.page.unroute(f"{stack.api}/v1/chat/stream")

    reader.page.context.set_offline(True)
    reader.widget("button.send").click()
    reader.page.wait_for_function(
        f"() => ({ROOT_JS})().querySelector('.status').textContent.includes('No connection')"
    )
    assert reader.widget("textarea#tc-input").input_value() == "Will this be kept?"
    reader.screenshot("13-offline")
    reader.page.context.set_offline(False)
    reader.widget("button.send").click()
    reader.wait_answer_done()
    assert reader.widget(".message.user").count() == 1


def test_dark_mode_follows_the_site(reader: Reader):
    reader.goto(PAGE)
    reader.open_panel()
    light = reader.widget(".panel").evaluate("el => getComputedStyle(el).backgroundColor")
    # Docusaurus 3.10's toggle cycles system, light and dark.
    toggle = reader.page.locator("button[aria-label*='dark and light mode']")
    for _ in range(3):
        if reader.page.evaluate("() => document.documentElement.dataset.theme") == "dark":
            break
        toggle.click()
    assert reader.page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    reader.page.wait_for_function(
        "() => document.querySelector('textbook-chat').getAttribute('data-theme') === 'dark'"
    )
    dark = reader.widget(".panel").evaluate("el => getComputedStyle(el).backgroundColor")
    assert light == "rgb(255, 255, 255)"
    assert dark == "rgb(31, 32, 35)"
    reader.screenshot("14-dark")


def test_the_panel_is_full_screen_on_a_375px_screen(reader_factory: Callable[..., Reader]):
    reader = reader_factory(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    reader.goto(PAGE)
    reader.screenshot("15-mobile-launcher")
    reader.open_panel()
    box = reader.widget(".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 740}
    reader.ask(QUESTION)
    reader.wait_answer_done()
    reader.screenshot("16-mobile-answer")


def test_keyboard_only_use_keeps_the_focus_in_the_panel(reader: Reader):
    reader.goto(PAGE)
    reader.widget(".launcher").focus()
    reader.page.keyboard.press("Enter")
    reader.widget(".panel").wait_for(state="visible")
    reader.page.keyboard.type(QUESTION)
    reader.page.keyboard.press("Enter")
    reader.wait_answer_done()

    seen = set()
    for _ in range(40):
        reader.page.keyboard.press("Tab")
        focused = active_element(reader)
        assert focused, "the focus left the panel"
        seen.add(focused)
    assert any("Earlier conversations" in s or "icon" in s for s in seen)
    assert any(s.startswith("textarea#tc-input") for s in seen)
    assert any("cite" in s for s in seen)  # citations are reachable by keyboard
    for _ in range(5):
        reader.page.keyboard.press("Shift+Tab")
        assert active_element(reader)

    unlabelled = reader.page.evaluate(
        f"""() => [...({ROOT_JS})().querySelectorAll('button, textarea, input')]
            .filter(el => !(el.getAttribute('aria-label') || el.textContent.trim()
                || el.labels?.length))
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []


def test_axe_finds_no_serious_violation_in_the_widget(reader: Reader):
    reader.goto(PAGE)
    reader.open_panel()
    reader.ask(QUESTION)
    reader.wait_answer_done()
    reader.page.add_script_tag(path=str(SITE / "node_modules" / "axe-core" / "axe.min.js"))
    for theme in ("light", "dark"):
        reader.page.evaluate(
            f"() => document.documentElement.setAttribute('data-theme', '{theme}')"
        )
        results = reader.page.evaluate(
            """async () => {
                const r = await axe.run({include: [['textbook-chat']]});
                return {passes: r.passes.map(p => p.id),
                    violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))};
            }"""
        )
        # The scan reached into the Shadow DOM: its buttons and text were checked.
        assert {"button-name", "color-contrast"} <= set(results["passes"]), theme
        serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], theme


def test_the_service_home_page_carries_a_working_chat(reader: Reader, stack: Stack):
    """``GET /`` on the service itself: the widget loads under the service's own CSP, asks the
    service as its own origin and shows a cited answer; no console error (the fixture checks)."""
    reader.page.goto(f"{stack.api}/")
    reader.page.wait_for_selector("textbook-chat[data-ready]", state="attached")
    assert reader.page.title() == "Ask the book"
    reader.page.keyboard.press("Control+/")
    reader.widget(".panel").wait_for(state="visible")
    reader.ask(QUESTION)
    reader.wait_answer_done()
    assert "zero moment point" in answer_text(reader).lower()
    assert reader.widget(".message.assistant a.cite").count() >= 1
    assert reader.session_id()
