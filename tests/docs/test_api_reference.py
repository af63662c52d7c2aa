"""docs/openapi.json is what the app serves, and docs/api.md is rendered from it.

The app is built from test settings (defaults, a temporary data folder, no ``.env``). Nothing is
ignored in the comparison: the document holds no timestamp or host, and ``info.version`` is the
app's declared API version, which changes only in a commit that should regenerate the page too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import ServiceSettings
from tools.gen_api import API_MD, OPENAPI_JSON, dump_json, main, render_markdown

FIX = "regenerate with: python -m tools.gen_api"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = ServiceSettings(_env_file=None, data_dir=tmp_path_factory.mktemp("openapi"))
    return create_app(settings).openapi()


def test_committed_openapi_is_what_the_app_serves(served: dict):
    committed = json.loads(OPENAPI_JSON.read_text(encoding="utf-8"))
    assert committed == served, FIX
    assert OPENAPI_JSON.read_text(encoding="utf-8") == dump_json(served), FIX


def test_rendered_page_is_current(served: dict):
    assert API_MD.read_text(encoding="utf-8") == render_markdown(served), FIX


def test_page_has_a_section_per_operation_and_schema(served: dict):
    page = API_MD.read_text(encoding="utf-8")
    for path, item in served["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in page
    for name in served["components"]["schemas"]:
        assert f"\n### {name}\n" in page


def test_a_changed_route_makes_the_check_fail(served: dict, tmp_path: Path, monkeypatch):
    """The --check mode sees a drifted copy (the committed files are not touched)."""
    import tools.gen_api as gen

    drifted = json.loads(json.dumps(served))
    drifted["paths"]["/v1/chat"]["post"]["description"] = "something else"
    stale_json, stale_md = tmp_path / "openapi.json", tmp_path / "api.md"
    stale_json.write_text(dump_json(drifted), encoding="utf-8")
    stale_md.write_text(render_markdown(drifted), encoding="utf-8")
    monkeypatch.setattr(gen, "OPENAPI_JSON", stale_json)
    monkeypatch.setattr(gen, "API_MD", stale_md)
    monkeypatch.setattr(gen, "served_openapi", lambda: served)
    assert main(["--check"]) == 1
    assert main([]) == 0
    assert main(["--check"]) == 0
    assert json.loads(stale_json.read_text(encoding="utf-8")) == served
