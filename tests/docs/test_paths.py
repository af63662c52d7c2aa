"""Every repository path a page names (``api/routes/chat.py``, ``deploy/prometheus/``) exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, pages

TOP = ("rag", "api", "ingest", "eval", "perf", "deploy", "tools", "tests", "docs", "sample_book")
# `rag/safety/answer_guard.py`, `api/db/migrations/`, `tests/{a,b}.py`, `docs/examples/*.py`
_PATH = re.compile(r"`((?:%s)/[A-Za-z0-9_./{},*:-]*)`" % "|".join(TOP))  # noqa: UP031
_BRACES = re.compile(r"\{([^{}]*)\}")


def _expand(path: str) -> list[str]:
    match = _BRACES.search(path)
    if not match:
        return [path]
    head, tail = path[: match.start()], path[match.end() :]
    return [e for option in match.group(1).split(",") for e in _expand(head + option + tail)]


def named_paths(text: str) -> list[str]:
    """Repository paths written in backticks in a page (brace lists expanded)."""
    return [p for raw in _PATH.findall(text) for p in _expand(raw.split("::")[0].rstrip(".,:"))]


def _missing(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        name
        for name in dict.fromkeys(named_paths(text))
        if not (any(ROOT.glob(name)) if "*" in name else (ROOT / name).exists())
    ]


@pytest.mark.parametrize("path", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_named_path_exists(path: Path):
    assert _missing(path) == []


def test_paths_are_found_in_backticks():
    text = "see `api/routes/{chat,health}.py`, `rag/settings.py:`, `docs/*.md` and api/not-code"
    assert named_paths(text) == [
        "api/routes/chat.py",
        "api/routes/health.py",
        "rag/settings.py",
        "docs/*.md",
    ]
