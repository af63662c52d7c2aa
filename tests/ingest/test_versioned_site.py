"""Versions and locales of a site: routes and anchors equal a real Docusaurus 3.10 build.

The truth (``data/versioned_site_truth.json``) comes from building ``data/versioned_site`` with
real Docusaurus (``versioned_build.py``); the slow test rebuilds it and checks it still holds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from ingest.docusaurus import read_page
from ingest.pipeline import source_files
from ingest.site import SiteConfig, SiteError, site_layout
from tests.ingest.versioned_build import SAMPLE, TRUTH_FILE, build_truth
from tests.utils.services import require_service

SITE_CONFIG = SiteConfig.from_json(SAMPLE / "site.json")


def truth() -> dict[str, dict[str, dict[str, Any]]]:
    return json.loads(TRUTH_FILE.read_text(encoding="utf-8"))["locales"]


def ours() -> dict[str, dict[str, dict[str, Any]]]:
    """What the reader computes for every doc of every scope, shaped like the truth."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for source in source_files(site_layout(SAMPLE, SITE_CONFIG), single=False):
        scope = source.scope
        page = read_page(
            source.path,
            source.folder,
            scope.route_base_path,
            source_prefix=scope.source_prefix(source.folder),
        )
        found.setdefault(scope.locale, {})[page.source_path] = {
            "route": page.url,
            "doc_id": page.doc_id,
            "title": page.title,
            "version": scope.version,
            "locale": scope.locale,
            "anchors": [[s.level, s.anchor] for s in page.sections if s.level > 1],
        }
    return found


def test_every_published_doc_of_every_version_and_locale_is_found():
    assert {loc: sorted(pages) for loc, pages in ours().items()} == {
        loc: sorted(pages) for loc, pages in truth().items()
    }


@pytest.mark.parametrize(
    ("locale", "source"),
    [(locale, source) for locale, pages in truth().items() for source in sorted(pages)],
)
def test_route_title_version_locale_and_anchors_match_the_build(locale: str, source: str):
    assert ours()[locale][source] == truth()[locale][source]


def test_the_truth_covers_what_this_feature_is_about():
    """Older version, last version, next, translated, untranslated fallback, explicit ids."""
    routes = {p["route"] for pages in truth().values() for p in pages.values()}
    assert {"/docs/1.0/intro", "/docs/intro", "/docs/next/intro", "/fr/docs/next/intro"} <= routes
    fr = truth()["fr"]
    assert fr["versioned_docs/version-1.0/intro.md"]["route"] == "/fr/docs/1.0/intro"
    translated = fr["i18n/fr/docusaurus-plugin-content-docs/current/guides/calibration.md"]
    assert translated["route"] == "/fr/docs/next/etalonner"  # the translation's own slug
    assert [2, "grey-card"] in translated["anchors"]


def test_site_defaults_follow_docusaurus_last_version():
    layout = site_layout(SAMPLE, SITE_CONFIG)
    assert layout.versions == ["current", "1.1", "1.0"]
    assert layout.locales == ["en", "fr"]
    assert (layout.default_version, layout.default_locale) == ("1.1", "en")


def test_last_version_current_serves_the_docs_folder_at_the_root():
    config = SiteConfig(locales=("en",), last_version="current", version_paths={"1.0": "old"})
    bases = {s.version: s.route_base_path for s in site_layout(SAMPLE, config).scopes}
    assert bases == {"current": "/docs", "1.1": "/docs/1.1", "1.0": "/docs/old"}


def test_locales_default_to_the_translated_folders(tmp_path: Path):
    assert site_layout(SAMPLE, SiteConfig()).locales == ["en", "fr"]
    shutil.copytree(SAMPLE / "docs", tmp_path / "docs")
    layout = site_layout(tmp_path, SiteConfig(default_locale="de", base_url="/book/"))
    assert layout.locales == ["de"]
    assert [s.route_base_path for s in layout.scopes] == ["/book/docs"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"locales": "fr"}, "locales must be a non-empty list"),
        ({"defaultLocale": 3}, "defaultLocale must be a string"),
        ({"lastVersion": "9.9"}, "lastVersion '9.9' is not one of: current, 1.1, 1.0"),
        ({"locales": ["fr"]}, "the default locale 'en' is not in locales"),
        ({"i18n": {}}, "unknown key(s) i18n"),
        ({"versions": {"1.0": "old"}}, "versions must map names"),
    ],
)
def test_a_wrong_site_config_is_refused_in_words(config: dict[str, Any], message: str):
    with pytest.raises(SiteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        site_layout(SAMPLE, SiteConfig.from_mapping(config))


def test_a_version_folder_missing_is_refused(tmp_path: Path):
    shutil.copytree(SAMPLE / "docs", tmp_path / "docs")
    (tmp_path / "versions.json").write_text('["2.0"]', encoding="utf-8")
    with pytest.raises(SiteError, match=r"version '2\.0': folder .* is missing"):
        site_layout(tmp_path, SiteConfig())
    (tmp_path / "versions.json").write_text('{"2.0": 1}', encoding="utf-8")
    with pytest.raises(SiteError, match="must be a JSON list of version names"):
        site_layout(tmp_path, SiteConfig())


def _npm_available() -> bool:
    return shutil.which("npx") is not None and shutil.which("npm") is not None


@pytest.mark.slow
def test_committed_truth_equals_a_fresh_docusaurus_build(tmp_path_factory: pytest.TempPathFactory):
    """Rebuild the sample with real Docusaurus; the committed truth must be what it yields."""
    require_service(_npm_available(), "Node/npm not installed: the Docusaurus build cannot run")
    work = Path(os.environ.get("RAG_DOCUSAURUS_WORK", tmp_path_factory.mktemp("docusaurus")))
    assert build_truth(work)["locales"] == truth()
