"""The committed widget is the build of ``widget/``: rebuilt here and compared byte for byte, and
the widget's own Node tests (the SSE reader against a server that splits every frame, Markdown and
citation links) pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.utils.node_tools import npm_ci, require_node

ROOT = Path(__file__).resolve().parents[3]
WIDGET = ROOT / "widget"
STATIC = ROOT / "api" / "static"


@pytest.fixture(scope="module")
def node() -> str:
    node, _ = require_node()
    npm_ci(WIDGET)
    return node


def test_the_committed_build_is_the_build_of_the_sources(node: str, tmp_path: Path):
    result = subprocess.run(
        [node, "build.mjs", "--out", str(tmp_path)],
        cwd=WIDGET,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    for name in ("widget.js", "widget.css"):
        built = (tmp_path / name).read_bytes()
        committed = (STATIC / name).read_bytes()
        assert built == committed, f"api/static/{name} is stale: run `cd widget && npm run build`"


def test_the_widget_node_tests_pass(node: str):
    result = subprocess.run(
        [node, "--test", "test/"],
        cwd=WIDGET,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
    assert "# pass 0" not in result.stdout
