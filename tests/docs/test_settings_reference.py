"""docs/configuration.md documents exactly the ``RAG_*`` variables the settings classes read."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.docs.markdown import DOCS, ROOT, read_page
from tests.docs.settings_classes import render_default, setting_vars

REFERENCE = DOCS / "configuration.md"
_VAR = re.compile(r"`(RAG_[A-Z0-9_]+)`")
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Row:
    names: list[str]
    default: str
    meaning: str
    line: int


def _rows() -> list[Row]:
    """The rows of every table whose first header cell is ``variable``."""
    tokens = read_page(REFERENCE).tokens
    rows: list[Row] = []
    cells: list[str] = []
    header: list[str] = []
    in_head = False
    line = 0
    for index, token in enumerate(tokens):
        if token.type == "thead_open":
            in_head, header = True, []
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            cells, line = [], (token.map or [0])[0]
        elif token.type in {"th_open", "td_open"}:
            (header if in_head else cells).append(tokens[index + 1].content)
        elif token.type == "tr_close" and not in_head and header[:1] == ["variable"]:
            rows.append(Row(_VAR.findall(cells[0]), cells[1], cells[2], line + 1))
    return rows


@pytest.fixture(scope="module")
def code_vars():
    found = setting_vars()
    assert "RAG_DATA_DIR" in found, sorted(found)
    return found


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    found = _rows()
    assert found, f"no settings table in {REFERENCE}"
    return found


def test_every_setting_the_code_reads_is_documented(code_vars, rows):
    documented = {name for row in rows for name in row.names}
    assert sorted(set(code_vars) - documented) == []


def test_no_setting_is_documented_that_the_code_does_not_read(code_vars, rows):
    documented = [name for row in rows for name in row.names]
    assert sorted(set(documented) - set(code_vars)) == []
    assert sorted({n for n in documented if documented.count(n) > 1}) == []


def test_each_documented_default_is_the_code_default(code_vars, rows):
    wrong = []
    for row in rows:
        written = _CODE.findall(row.default)
        for name in row.names:
            expected = render_default(code_vars[name].default)
            if expected is not None and expected not in written:
                wrong.append(
                    f"line {row.line}: {name} defaults to {expected!r}, page says {written}"
                )
    assert wrong == []


def test_each_row_says_what_the_setting_means(rows):
    assert [row.line for row in rows if len(row.meaning.split()) < 3 or not row.default] == []


def test_other_pages_name_only_settings_the_code_reads(code_vars):
    """A ``RAG_*`` name anywhere in the docs or README must be one the code reads."""
    from tests.docs.markdown import pages

    allowed = _not_settings()
    unknown = set()
    for path in pages():
        for name in _NAME.findall(path.read_text(encoding="utf-8")):
            if name not in code_vars and name not in allowed:
                unknown.add(f"{path.name}: {name}")
    assert sorted(unknown) == []


# Environment variables named RAG_* that are not service settings: the test suite's own switches,
# the service URL and key the guides' runnable commands are given (tests/docs/test_commands.py),
# and those the container's start scripts read (deploy/container/*.sh).
_TEST_SWITCHES = {"RAG_REQUIRE_SERVICES", "RAG_SHARED_DIR", "RAG_URL", "RAG_ADMIN_KEY"}


def _not_settings() -> set[str]:
    scripts = (ROOT / "deploy" / "container").glob("*.sh")
    return _TEST_SWITCHES | {n for p in scripts for n in _NAME.findall(p.read_text("utf-8"))}


_NAME = re.compile(r"\bRAG_[A-Z0-9_]*[A-Z0-9]\b")
