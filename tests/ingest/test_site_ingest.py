"""Ingesting a whole site into real Qdrant local mode: payloads, routes, incremental runs, CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from ingest import cli as ingest_cli
from ingest.pipeline import IngestOptions, IngestReport, run_ingest
from ingest.site import SiteConfig
from rag import cli as ask_cli
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.vector_store import SCOPES_KEY, active_collection, collection_metadata
from tests.ingest.test_cli import data_dir  # noqa: F401  (fixture)
from tests.ingest.versioned_build import SAMPLE, TRUTH_FILE

CONFIG = SiteConfig.from_json(SAMPLE / "site.json")
FR_CURRENT = "i18n/fr/docusaurus-plugin-content-docs/current"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture
def client(tmp_path: Path) -> Iterator[QdrantClient]:
    qdrant = QdrantClient(path=str(tmp_path / "qdrant"))
    yield qdrant
    qdrant.close()


def ingest(site: Path, client: QdrantClient, embed_model: LocalEmbedding) -> IngestReport:
    options = IngestOptions(docs_dir=site, collection="book", site=CONFIG, show_progress=False)
    return run_ingest(options, client=client, embed_model=embed_model)


def payloads(client: QdrantClient) -> list[dict[str, Any]]:
    records, _ = client.scroll("book", limit=10_000, with_payload=True)
    return [dict(record.payload or {}) for record in records]


def built_urls() -> dict[tuple[str, str], set[str]]:
    """(locale, version) -> every page route and route#anchor the real build published."""
    truth = json.loads(TRUTH_FILE.read_text(encoding="utf-8"))["locales"]
    urls: dict[tuple[str, str], set[str]] = {}
    for locale, pages in truth.items():
        for page in pages.values():
            found = urls.setdefault((locale, page["version"]), set())
            found.add(page["route"])
            found.update(f"{page['route']}#{anchor}" for _, anchor in page["anchors"])
    return urls


def test_every_chunk_is_tagged_and_links_to_its_own_version_and_locale(
    site: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    report = ingest(site, client, embed_model)
    assert report.published
    assert report.files_seen == 18  # 9 docs x 2 locales, as the build publishes
    expected = built_urls()
    seen: dict[tuple[str, str], set[str]] = {}
    for payload in payloads(client):
        scope = (payload["locale"], payload["version"])
        assert payload["url"] in expected[scope], payload
        seen.setdefault(scope, set()).add(payload["source_path"])
    assert set(seen) == set(expected)
    assert f"{FR_CURRENT}/intro.md" in seen[("fr", "current")]
    assert "docs/release-notes.mdx" in seen[("fr", "current")]  # untranslated: English text
    assert collection_metadata(client, active_collection(client, "book") or "")[SCOPES_KEY] == {
        "versions": ["current", "1.1", "1.0"],
        "locales": ["en", "fr"],
        "default_version": "1.1",
        "default_locale": "en",
    }
    hits = client.count(
        "book",
        count_filter=models.Filter(
            must=[
                models.FieldCondition(key="version", match=models.MatchValue(value="1.0")),
                models.FieldCondition(key="locale", match=models.MatchValue(value="fr")),
            ]
        ),
    ).count
    assert 0 < hits < report.chunks_total


def test_a_changed_translation_re_embeds_only_that_locale_and_version(
    site: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    first = ingest(site, client, embed_model)
    assert ingest(site, client, embed_model).published is False  # nothing changed

    intro = site / FR_CURRENT / "intro.md"
    intro.write_text(intro.read_text(encoding="utf-8") + "\nUne phrase de plus.\n", "utf-8")
    # a new translation replaces the English fallback of fr 1.0 only
    translated = site / "i18n/fr/docusaurus-plugin-content-docs/version-1.0/intro.md"
    translated.parent.mkdir(parents=True)
    translated.write_text("---\ntitle: Bienvenue\n---\n\nL'édition 1.0 a un compteur.\n", "utf-8")
    second = ingest(site, client, embed_model)
    assert second.published
    assert (second.files_indexed, second.files_unchanged) == (2, first.files_seen - 2)
    sources = {(p["locale"], p["version"], p["source_path"]) for p in payloads(client)}
    assert ("fr", "1.0", "i18n/fr/docusaurus-plugin-content-docs/version-1.0/intro.md") in sources
    assert ("fr", "1.0", "versioned_docs/version-1.0/intro.md") not in sources
    assert ("en", "1.0", "versioned_docs/version-1.0/intro.md") in sources


def test_a_new_release_moves_the_current_docs_to_next(
    site: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    """lastVersion changes: unchanged files whose routes moved are re-indexed, not reused."""
    shutil.rmtree(site / "versioned_docs")
    (site / "versions.json").unlink()
    ingest(site, client, embed_model)
    assert {p["url"].split("#")[0] for p in payloads(client) if p["locale"] == "en"} >= {
        "/docs/intro"
    }
    shutil.copytree(SAMPLE / "versioned_docs", site / "versioned_docs")
    shutil.copy2(SAMPLE / "versions.json", site / "versions.json")
    report = ingest(site, client, embed_model)
    assert report.files_unchanged == 0
    urls = {(p["version"], p["url"].split("#")[0]) for p in payloads(client) if p["locale"] == "en"}
    assert ("current", "/docs/next/intro") in urls
    assert ("current", "/docs/intro") not in urls
    assert ("1.1", "/docs/intro") in urls


def test_a_docs_folder_is_the_current_version_in_one_locale(
    client: QdrantClient, embed_model: LocalEmbedding
):
    options = IngestOptions(docs_dir=SAMPLE / "docs", collection="book", show_progress=False)
    run_ingest(options, client=client, embed_model=embed_model)
    found = {(p["version"], p["locale"], p["url"].split("#")[0]) for p in payloads(client)}
    assert ("current", "en", "/docs/intro") in found
    assert {(v, loc) for v, loc, _ in found} == {("current", "en")}
    assert collection_metadata(client, "book__v1")[SCOPES_KEY]["default_version"] == "current"


@pytest.mark.usefixtures("data_dir")
def test_cli_ingests_a_site_and_refuses_mixed_usage(site: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["--site", str(site), "--site-config", str(site / "site.json"), "--quiet"]
    assert ingest_cli.main(argv) == ingest_cli.EXIT_OK
    assert capsys.readouterr().out.startswith("published textbook__v1: 18 files (18 indexed")
    question = "How is Kelp Counter calibrated?"
    assert ask_cli.main([question, "--doc-version", "1.0", "--locale", "fr", "--json"]) == 0
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert sources
    assert all(s["url"].startswith("/fr/docs/1.0/") for s in sources)
    assert ask_cli.main([question, "--doc-version", "2.0"]) == 1
    assert "Unknown version '2.0'" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_info:
        ingest_cli.main([str(site / "docs"), "--site", str(site)])
    assert exit_info.value.code == ingest_cli.EXIT_USAGE
    assert "give either DOCS_DIR or --site SITE_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ingest_cli.main([str(site / "docs"), "--locales", "en,fr"])
    assert "need --site" in capsys.readouterr().err

    bad = site / "bad.json"
    bad.write_text('{"locales": ["fr"]}', encoding="utf-8")
    assert ingest_cli.main(["--site", str(site), "--site-config", str(bad)]) == 1
    assert "the default locale 'en' is not in locales (fr)" in capsys.readouterr().err
    assert ingest_cli.main(["--site", str(site), "--last-version", "7.0", "--quiet"]) == 1
    assert "lastVersion '7.0' is not one of" in capsys.readouterr().err
