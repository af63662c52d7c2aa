"""Find the Prometheus tools (Debian's ``prometheus`` and ``prometheus-alertmanager`` packages).

Where one is missing the test skips, naming the package, except in CI (``CI=true`` or
``RAG_REQUIRE_SERVICES=1``), where ``.ci/run`` installs them and a missing one is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}


def required_in_ci() -> bool:
    """True where missing tools or services must fail the run rather than skip."""
    return os.environ.get("CI") == "true" or os.environ.get("RAG_REQUIRE_SERVICES") == "1"


def require_binary(name: str) -> str:
    """The path of tool ``name``; skips (fails in CI) when it is not installed."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} not found: apt-get install {PACKAGES.get(name, name)}"
    if required_in_ci():
        pytest.fail(reason)
    pytest.skip(reason)
