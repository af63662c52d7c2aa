"""Node and npm for the widget and browser tests: find them (skip, or fail under
``RAG_REQUIRE_SERVICES=1``), and install a package folder's locked dependencies once.

``npm ci`` runs only when ``node_modules`` is missing or older than ``package-lock.json`` (CI runs
it up front in ``.ci/run``), so reruns start at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("RAG_REQUIRE_SERVICES") == "1"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (RAG_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def require_node() -> tuple[str, str]:
    """Paths of ``node`` and ``npm``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("Node.js and npm are not installed (the widget build and browser tests need them)")
    assert node is not None
    assert npm is not None
    return node, npm


def require_chromium() -> str:
    """Debian's Chromium (package ``chromium``)."""
    for path in CHROMIUM_PATHS:
        if Path(path).exists():
            return path
    _missing("chromium is not installed (Debian package 'chromium')")
    raise AssertionError  # unreachable: _missing skips or fails


def npm_ci(folder: Path) -> None:
    """Install ``folder``'s locked packages unless ``node_modules`` is already up to date.

    ``npm install --no-save`` rather than ``npm ci``: the registry these machines reach serves only
    this platform's builds of optional native packages, which ``npm ci`` counts as missing from the
    lock (the same command as ``.ci/run``; the lock file is left as committed).
    """
    _, npm = require_node()
    modules = folder / "node_modules"
    lock = folder / "package-lock.json"
    stamp = modules / ".package-lock.json"  # npm writes it on every install
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    result = subprocess.run(
        [npm, "install", "--no-save", "--prefer-offline", "--no-audit", "--no-fund"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"npm install in {folder} failed:\n{result.stderr[-3000:]}")
