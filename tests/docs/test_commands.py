"""The guides' runnable commands run: every ``sh`` block marked ``<!-- runnable -->``.

Convention: put ``<!-- runnable -->`` on the line before a fenced ``sh`` block whose commands
need no cloud account. Each block runs with bash (``-euo pipefail``) from the repository root,
with the project's ``.venv/bin`` first on ``PATH``, a fresh ``RAG_DATA_DIR``, and
``RAG_URL`` / ``RAG_ADMIN_KEY`` naming a real ``rag-serve`` on a free loopback port that serves
the sample book (admin ingest allowed). A block fails the test when it exits non-zero.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.settings import ServiceSettings
from perf.serving import UNLIMITED_RATES, free_port
from tests.conftest import SAMPLE_BOOK
from tests.docs.markdown import ROOT, CodeBlock, pages, read_page

ADMIN_KEY = "docs-test-admin-key"


def _runnable() -> list[tuple[str, CodeBlock]]:
    found = []
    for path in pages():
        page = read_page(path)
        found.extend((f"{page.name}:{b.line + 1}", b) for b in page.blocks if b.runnable)
    return found


RUNNABLE = _runnable()


def test_runnable_blocks_exist_and_are_shell():
    assert len(RUNNABLE) >= 5, [where for where, _ in RUNNABLE]
    assert [where for where, block in RUNNABLE if block.info != "sh"] == []


def test_the_marker_is_read_only_right_before_a_block(tmp_path: Path):
    page = tmp_path / "p.md"
    page.write_text(
        "# P\n\n<!-- runnable -->\n```sh\necho yes\n```\n\n<!-- runnable -->\n\ntext\n\n"
        "```sh\necho no\n```\n",
        encoding="utf-8",
    )
    assert [b.content for b in read_page(page).blocks if b.runnable] == ["echo yes\n"]


@pytest.fixture(scope="module")
def service(
    sample_index: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``rag-serve`` over the sample index (start-up allowed 5 minutes on a busy machine)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **UNLIMITED_RATES,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "RAG_DATA_DIR": str(sample_index.data_dir),
        "RAG_ADMIN_API_KEYS": ADMIN_KEY,
        "RAG_DOCS_DIR": str(SAMPLE_BOOK),
    }
    log = (tmp_path_factory.mktemp("serve") / "stderr.log").open("wb")
    proc = subprocess.Popen(  # our own entry point
        [sys.executable, "-m", "api.cli", "--port", str(port)], env=env, stderr=log
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, f"rag-serve exited with {proc.returncode}"
            assert time.monotonic() < deadline, "rag-serve not ready in 300 s"
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


@pytest.mark.slow
@pytest.mark.parametrize(("where", "block"), RUNNABLE, ids=[w for w, _ in RUNNABLE])
def test_runnable_block_runs(where: str, block: CodeBlock, service: str, tmp_path: Path):
    bin_dir = Path(sys.executable).parent
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_URL": service,
        "RAG_ADMIN_KEY": ADMIN_KEY,
        "REINGEST_POLLS": "60",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.content],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{where}\n{block.content}\n{result.stdout}\n{result.stderr}"
