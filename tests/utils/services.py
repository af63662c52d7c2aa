"""What a test needs from outside Python (a server, a tool, a browser): skip, or fail in CI.

A missing service skips the test, naming it and how to get it, except where services are
required (``RAG_REQUIRE_SERVICES=1``, which CI sets, or ``CI=true``): there it fails the run.
"""

from __future__ import annotations

import os

import pytest


def services_required() -> bool:
    """True where a missing service must fail the run rather than skip."""
    return os.environ.get("RAG_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


def require_service(available: bool, reason: str) -> None:
    """Go on when ``available``; else skip with ``reason`` (fail where services are required)."""
    if available:
        return
    if services_required():
        pytest.fail(f"{reason} (RAG_REQUIRE_SERVICES=1)")
    pytest.skip(reason)
