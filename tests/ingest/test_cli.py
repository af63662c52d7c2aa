"""The ``rag-ingest`` and ``rag-ask`` entry points, run in-process on a real data folder."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from ingest import cli as ingest_cli
from rag import cli as ask_cli
from rag.answer.prompts import cited_indexes
from rag.retrieval.vector_store import active_collection
from rag.settings import get_settings

DOCS = {
    "intro.md": (
        "---\ntitle: Welcome\n---\n\nThis book teaches humanoid robotics from the ground up.\n"
    ),
    "balance.md": (
        "# Balance\n\n"
        "## Zero Moment Point\n\n"
        "The zero moment point keeps a walking robot upright. It is the point on the ground "
        "where the net moment of gravity and inertia is zero.\n"
    ),
}


def write_docs(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh RAG_DATA_DIR; no other RAG_* variable or .env file leaks in."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # Settings reads .env from the working directory
    data = tmp_path / "data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs", DOCS)


# qdrant-client's local mode leaves its .lock file open when the lock is taken by another client
# (QdrantLocal._load); that is not ours to fix, so the tests that hit it collect it on the spot.
LOCK_FILE_LEAK = pytest.mark.filterwarnings("ignore:unclosed file.*\\.lock:ResourceWarning")


def published_version(data_dir: Path, collection: str = "textbook") -> str | None:
    client = QdrantClient(path=str(data_dir / "qdrant"))
    try:
        return active_collection(client, collection)
    finally:
        client.close()


def test_help_exits_zero_and_explains_exit_codes(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as exit_info:
        ingest_cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: rag-ingest" in out
    assert "Exit codes: 0 done, 1 failed" in " ".join(out.split())
    assert "3 done but some files were skipped" in " ".join(out.split())


@pytest.mark.parametrize(
    "argv", [[], ["docs", "--trailing-slash", "maybe"], ["docs", "--no-such-flag"]]
)
def test_bad_usage_exits_2(data_dir: Path, argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        ingest_cli.main(argv)
    assert exit_info.value.code == ingest_cli.EXIT_USAGE == 2
    assert "rag-ingest: error:" in capsys.readouterr().err


def test_ingest_prints_a_one_line_summary_and_exits_0(
    data_dir: Path, docs: Path, capsys: pytest.CaptureFixture[str]
):
    assert ingest_cli.main([str(docs), "--quiet"]) == ingest_cli.EXIT_OK == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("published textbook__v1: 2 files (2 indexed, 0 unchanged")
    assert "0 skipped); 2 chunks embedded, 0 reused, 2 in the index;" in out[0]
    assert published_version(data_dir) == "textbook__v1"

    assert ingest_cli.main([str(docs), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("index already up to date: 2 files (0 indexed, 2 unchanged")
    assert published_version(data_dir) == "textbook__v1"


def test_collection_option_names_the_alias(data_dir: Path, docs: Path):
    assert ingest_cli.main([str(docs), "--quiet", "--collection", "handbook"]) == 0
    assert published_version(data_dir, "handbook") == "handbook__v1"
    assert published_version(data_dir, "textbook") is None


def test_missing_folder_exits_1(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert ingest_cli.main([str(tmp_path / "nope"), "--quiet"]) == ingest_cli.EXIT_FAILED == 1
    captured = capsys.readouterr()
    assert "is not a folder" in captured.err
    assert captured.out == ""


def test_folder_without_markdown_exits_1(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    empty = write_docs(tmp_path / "empty", {"notes.txt": "not a doc", "_partial.md": "# no\n"})
    assert ingest_cli.main([str(empty), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "no .md or .mdx files" in captured.err
    assert captured.out == ""
    assert published_version(data_dir) is None


def test_skipped_file_exits_3_and_is_listed_on_stderr(
    data_dir: Path, docs: Path, capsys: pytest.CaptureFixture[str]
):
    write_docs(docs, {"broken.md": "---\ntitle: [unclosed\n---\n# x\n"})
    assert ingest_cli.main([str(docs), "--quiet"]) == ingest_cli.EXIT_SKIPPED == 3
    captured = capsys.readouterr()
    assert "rag-ingest: skipped broken.md:" in captured.err
    assert "1 skipped" in captured.out
    assert published_version(data_dir) == "textbook__v1"
    # still reported (and still exit 3) when nothing changed
    assert ingest_cli.main([str(docs), "--quiet"]) == 3
    captured = capsys.readouterr()
    assert captured.out.startswith("index already up to date")
    assert "rag-ingest: skipped broken.md:" in captured.err


@LOCK_FILE_LEAK
def test_locked_index_exits_1_and_mentions_rag_serve(
    data_dir: Path, docs: Path, capsys: pytest.CaptureFixture[str]
):
    (data_dir / "qdrant").mkdir(parents=True)
    holder = QdrantClient(path=str(data_dir / "qdrant"))
    try:
        assert ingest_cli.main([str(docs), "--quiet"]) == 1
        assert active_collection(holder, "textbook") is None
    finally:
        holder.close()
        gc.collect()
    captured = capsys.readouterr()
    assert "rag-serve" in captured.err
    assert "open in another process" in captured.err
    assert captured.out == ""
    # once the other client is gone, the same command works
    assert ingest_cli.main([str(docs), "--quiet"]) == 0


def test_ask_answers_with_a_citation(
    data_dir: Path, docs: Path, capsys: pytest.CaptureFixture[str]
):
    assert ingest_cli.main([str(docs), "--quiet"]) == 0
    capsys.readouterr()

    assert ask_cli.main(["What is the zero moment point?"]) == 0
    out = capsys.readouterr().out.splitlines()
    answer = out[0]
    assert "zero moment point" in answer.lower()
    assert cited_indexes(answer)
    sources = [line for line in out if line.startswith("[")]
    assert sources
    assert any("/docs/balance#zero-moment-point" in line for line in sources)
    assert {int(line[1 : line.index("]")]) for line in sources} >= set(cited_indexes(answer))

    assert ask_cli.main(["What is the zero moment point?", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert cited_indexes(body["answer"])
    assert body["sources"][0]["url"] == "/docs/balance#zero-moment-point"
    assert body["sources"][0]["source_path"] == "docs/balance.md"


def test_ask_without_an_index_exits_1(data_dir: Path, capsys: pytest.CaptureFixture[str]):
    assert ask_cli.main(["What is the zero moment point?"]) == 1
    captured = capsys.readouterr()
    assert "no index yet" in captured.err
    assert "rag-ingest" in captured.err
    assert captured.out == ""


@LOCK_FILE_LEAK
def test_ask_on_a_locked_index_exits_1(data_dir: Path, capsys: pytest.CaptureFixture[str]):
    (data_dir / "qdrant").mkdir(parents=True)
    holder = QdrantClient(path=str(data_dir / "qdrant"))
    try:
        assert ask_cli.main(["What is the zero moment point?"]) == 1
    finally:
        holder.close()
        gc.collect()
    assert "rag-serve" in capsys.readouterr().err
