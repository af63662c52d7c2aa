"""Find the Prometheus tools (Debian's ``prometheus`` and ``prometheus-alertmanager`` packages).

Where one is missing the test skips, naming the package, except in CI (``CI=true`` or
``RAG_REQUIRE_SERVICES=1``), where ``.ci/run`` installs them and a missing one is a failure.
"""

from __future__ import annotations

import shutil

from tests.utils.services import require_service

PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}


def require_binary(name: str) -> str:
    """The path of tool ``name``; skips (fails in CI) when it is not installed."""
    path = shutil.which(name)
    package = PACKAGES.get(name, name)
    require_service(path is not None, f"{name} not found: apt-get install {package}")
    assert path is not None
    return path
