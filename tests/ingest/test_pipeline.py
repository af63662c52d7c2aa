"""Incremental ingest into versioned collections, on a real local Qdrant and the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import PrivateAttr
from qdrant_client import QdrantClient, models

from ingest.pipeline import IngestInputError, IngestOptions, IngestReport, run_ingest
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.retriever import QdrantRetriever, RetrievalMode
from rag.retrieval.sparse import encode_query
from rag.retrieval.vector_store import (
    SPARSE_VECTOR,
    active_collection,
    build_vector_store,
    create_version,
)

DOCS = {
    "intro.md": (
        "---\ntitle: Welcome\n---\n\n"
        "This book teaches humanoid robotics from the ground up.\n\n"
        "## Getting Started\n\n"
        "Install the simulator first. Then run the walking demo.\n"
    ),
    "humanoids/balance.md": (
        "# Balance\n\n"
        "## Zero Moment Point\n\n"
        "The zero moment point keeps a walking robot upright. It is the point on the ground "
        "where the net moment of gravity and inertia is zero.\n\n"
        "## Capture Point\n\n"
        "The capture point is where the robot must step to come to a stop.\n"
    ),
    "sensors/lidar.md": (
        "# Lidar\n\n"
        "Lidar measures distance with pulses of laser light.\n\n"
        "## Calibration\n\n"
        "Every lidar needs a quokkaflux alignment before its first scan.\n"
    ),
}
# Hard-coded from the routes and heading anchors Docusaurus gives these files.
EXPECTED = {
    ("docs/intro.md", "/docs/intro", "Welcome", "Welcome", "Welcome"),
    (
        "docs/intro.md",
        "/docs/intro#getting-started",
        "Welcome",
        "Getting Started",
        "Welcome > Getting Started",
    ),
    (
        "docs/humanoids/balance.md",
        "/docs/humanoids/balance#zero-moment-point",
        "Balance",
        "Zero Moment Point",
        "Balance > Zero Moment Point",
    ),
    (
        "docs/humanoids/balance.md",
        "/docs/humanoids/balance#capture-point",
        "Balance",
        "Capture Point",
        "Balance > Capture Point",
    ),
    ("docs/sensors/lidar.md", "/docs/sensors/lidar", "Lidar", "Lidar", "Lidar"),
    (
        "docs/sensors/lidar.md",
        "/docs/sensors/lidar#calibration",
        "Lidar",
        "Calibration",
        "Lidar > Calibration",
    ),
}
BROKEN_YAML = "---\ntitle: [unclosed\n---\n# x\n"
NOT_UTF8 = b"# Motors\n\nTorque \xff\xfe density.\n"


def write_docs(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs", DOCS)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[QdrantClient]:
    qdrant = QdrantClient(path=str(tmp_path / "qdrant"))
    yield qdrant
    qdrant.close()


def ingest(
    docs: Path,
    client: QdrantClient,
    embed_model: LocalEmbedding,
    collection: str = "textbook",
    **options: Any,
) -> IngestReport:
    return run_ingest(
        IngestOptions(docs_dir=docs, collection=collection, show_progress=False, **options),
        client=client,
        embed_model=embed_model,
    )


def all_points(client: QdrantClient, collection: str) -> list[models.Record]:
    records, next_page = client.scroll(collection, limit=1000, with_payload=True)
    assert next_page is None
    return records


def ids_by_file(client: QdrantClient, collection: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for record in all_points(client, collection):
        assert record.payload is not None
        found.setdefault(record.payload["source_path"], set()).add(str(record.id))
    return found


def collection_names(client: QdrantClient) -> list[str]:
    return sorted(c.name for c in client.get_collections().collections)


class FailingEmbedding(LocalEmbedding):
    """The real model, but its batch call raises after ``fail_after`` successful calls."""

    _calls: int = PrivateAttr(default=0)
    _fail_after: int = PrivateAttr(default=0)
    _error: BaseException = PrivateAttr(default_factory=lambda: RuntimeError("backend crashed"))

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._calls += 1
        if self._calls > self._fail_after:
            raise self._error
        return super()._get_text_embeddings(texts)


def failing_model(
    embed_model: LocalEmbedding, fail_after: int, error: BaseException
) -> FailingEmbedding:
    model = FailingEmbedding(embed_model.model_path, embed_batch_size=1)
    model._model = embed_model.load()  # share the loaded weights instead of loading them again
    model._fail_after = fail_after
    model._error = error
    return model


@pytest.mark.parametrize("collection", ["textbook", "handbook"])
def test_first_ingest_publishes_a_version_behind_the_alias(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding, collection: str
):
    assert active_collection(client, collection) is None
    report = ingest(docs, client, embed_model, collection=collection)

    assert report.published
    assert report.version == f"{collection}__v1"
    assert active_collection(client, collection) == report.version
    assert collection_names(client) == [report.version]
    assert (report.files_seen, report.files_indexed, report.files_unchanged) == (3, 3, 0)
    assert report.skipped == []
    assert report.chunks_embedded == report.chunks_total == 6
    assert report.chunks_copied == 0
    assert client.count(collection, exact=True).count == report.chunks_total
    assert report.summary().startswith(f"published {collection}__v1: 3 files (3 indexed")

    points = all_points(client, collection)
    assert len(points) == report.chunks_total
    seen = set()
    for point in points:
        payload = point.payload
        assert payload is not None
        seen.add(
            (
                payload["source_path"],
                payload["url"],
                payload["title"],
                payload["section"],
                payload["heading_path"],
            )
        )
        anchor = payload["anchor"]
        assert payload["url"] == (
            f"{payload['page_url']}#{anchor}" if anchor else payload["page_url"]
        )
    assert seen == EXPECTED


def test_second_run_on_unchanged_folder_publishes_nothing(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    first = ingest(docs, client, embed_model)
    before = ids_by_file(client, "textbook")

    again = ingest(docs, client, embed_model)

    assert again.version is None
    assert not again.published
    assert again.chunks_embedded == again.chunks_copied == 0
    assert again.chunks_total == first.chunks_total
    assert again.files_unchanged == 3
    assert again.files_indexed == 0
    assert again.summary().startswith("index already up to date: 3 files")
    assert active_collection(client, "textbook") == first.version
    assert collection_names(client) == [first.version]
    assert ids_by_file(client, "textbook") == before


def test_editing_one_file_reembeds_only_that_file(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    first = ingest(docs, client, embed_model)
    before = ids_by_file(client, "textbook")
    (docs / "humanoids" / "balance.md").write_text(
        DOCS["humanoids/balance.md"] + "\n## Stepping\n\nA stepping strategy widens the base.\n",
        encoding="utf-8",
    )

    report = ingest(docs, client, embed_model)

    assert report.version == "textbook__v2"
    assert active_collection(client, "textbook") == "textbook__v2"
    assert collection_names(client) == ["textbook__v2"]  # the old version is dropped
    after = ids_by_file(client, "textbook")
    edited = after["docs/humanoids/balance.md"]
    assert len(edited) == 3
    assert report.chunks_embedded == len(edited)
    assert report.chunks_copied == first.chunks_total - len(before["docs/humanoids/balance.md"])
    assert report.chunks_total == report.chunks_embedded + report.chunks_copied == 7
    assert client.count("textbook", exact=True).count == 7
    assert (report.files_indexed, report.files_unchanged, report.files_deleted) == (1, 2, 0)
    for untouched in ("docs/intro.md", "docs/sensors/lidar.md"):
        assert after[untouched] == before[untouched]
    # the edited page's sections keep their text, but ids are per (file, ordinal, text)
    assert len(edited & before["docs/humanoids/balance.md"]) == 2
    urls = {p.payload["url"] for p in all_points(client, "textbook") if p.payload}
    assert "/docs/humanoids/balance#stepping" in urls


def test_copied_points_keep_their_vectors(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    def vectors() -> dict[str, object]:
        records = client.scroll("textbook", limit=100, with_payload=True, with_vectors=True)[0]
        return {
            str(p.id): p.vector
            for p in records
            if p.payload and p.payload["source_path"] != "docs/intro.md"
        }

    ingest(docs, client, embed_model)
    old = vectors()
    (docs / "intro.md").write_text(DOCS["intro.md"] + "\nMore text.\n", encoding="utf-8")
    assert ingest(docs, client, embed_model).chunks_copied == 4
    new = vectors()
    assert len(old) == 4  # balance.md and lidar.md
    assert new == old  # same ids, dense and keyword vectors copied as they were


def test_deleting_a_file_purges_its_points_and_adding_one_adds_them(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    ingest(docs, client, embed_model)
    before = ids_by_file(client, "textbook")

    (docs / "sensors" / "lidar.md").unlink()
    removed = ingest(docs, client, embed_model)

    assert removed.published
    assert removed.files_deleted == 1
    assert removed.chunks_embedded == 0
    assert removed.chunks_total == 4
    after = ids_by_file(client, "textbook")
    assert "docs/sensors/lidar.md" not in after
    assert after == {k: v for k, v in before.items() if k != "docs/sensors/lidar.md"}
    assert client.count("textbook", exact=True).count == 4

    write_docs(docs, {"sensors/imu.md": "# IMU\n\n## Drift\n\nGyroscopes drift over time.\n"})
    added = ingest(docs, client, embed_model)

    assert added.published
    assert (added.files_indexed, added.files_unchanged, added.files_deleted) == (1, 2, 0)
    assert added.chunks_embedded == 1
    assert added.chunks_copied == 4
    final = ids_by_file(client, "textbook")
    assert len(final["docs/sensors/imu.md"]) == 1
    assert {k: v for k, v in final.items() if k != "docs/sensors/imu.md"} == after
    assert collection_names(client) == [added.version]


@pytest.mark.parametrize("bad", [BROKEN_YAML, NOT_UTF8], ids=["yaml", "utf8"])
def test_malformed_file_is_skipped_and_the_rest_indexed(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding, bad: str | bytes
):
    write_docs(docs, {"broken.md": bad})

    report = ingest(docs, client, embed_model)

    assert report.published
    assert report.files_seen == 4
    assert report.files_indexed == 3
    assert [path for path, _ in report.skipped] == ["broken.md"]
    reason = report.skipped[0][1]
    assert ("YAML" in reason) if isinstance(bad, str) else ("UTF-8" in reason)
    assert set(ids_by_file(client, "textbook")) == {
        "docs/intro.md",
        "docs/humanoids/balance.md",
        "docs/sensors/lidar.md",
    }
    assert report.chunks_total == client.count("textbook", exact=True).count == 6

    again = ingest(docs, client, embed_model)

    assert again.version is None
    assert again.skipped == report.skipped
    assert active_collection(client, "textbook") == report.version

    # fixing the file indexes it, and it is no longer reported
    write_docs(docs, {"broken.md": "# Motors\n\nTorque density matters.\n"})
    fixed = ingest(docs, client, embed_model)
    assert fixed.published
    assert fixed.skipped == []
    assert fixed.chunks_embedded == 1
    assert "docs/broken.md" in ids_by_file(client, "textbook")


def test_previously_good_file_that_breaks_keeps_serving_its_old_points(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    ingest(docs, client, embed_model)
    before = ids_by_file(client, "textbook")
    write_docs(docs, {"humanoids/balance.md": BROKEN_YAML})

    report = ingest(docs, client, embed_model)

    assert [path for path, _ in report.skipped] == ["humanoids/balance.md"]
    assert report.chunks_embedded == 0
    assert ids_by_file(client, "textbook") == before
    assert report.chunks_total == client.count("textbook", exact=True).count == 6
    assert collection_names(client) == [active_collection(client, "textbook")]


def test_previously_good_file_that_breaks_does_not_rebuild_every_run(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    ingest(docs, client, embed_model)
    write_docs(docs, {"humanoids/balance.md": BROKEN_YAML})
    broke = ingest(docs, client, embed_model)
    assert broke.published

    again = ingest(docs, client, embed_model)

    assert [path for path, _ in again.skipped] == ["humanoids/balance.md"]
    assert again.version is None


def test_draft_pages_are_left_out_without_being_reported_as_skipped(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    write_docs(docs, {"wip.md": "---\ndraft: true\n---\n# Work in progress\n\nNot yet.\n"})
    report = ingest(docs, client, embed_model)
    assert report.published
    assert report.skipped == []
    assert "docs/wip.md" not in ids_by_file(client, "textbook")
    assert ingest(docs, client, embed_model).version is None

    # a published page that becomes a draft is taken out of the index
    draft = DOCS["intro.md"].replace("title: Welcome\n", "title: Welcome\ndraft: true\n")
    write_docs(docs, {"intro.md": draft})
    unpublished = ingest(docs, client, embed_model)
    assert unpublished.published
    assert unpublished.skipped == []
    assert set(ids_by_file(client, "textbook")) == {
        "docs/humanoids/balance.md",
        "docs/sensors/lidar.md",
    }
    assert unpublished.chunks_total == client.count("textbook", exact=True).count == 4


@pytest.mark.parametrize(
    ("fail_after", "error"),
    [
        (0, RuntimeError("embedding backend crashed")),
        (4, RuntimeError("embedding backend crashed")),
        (4, KeyboardInterrupt()),
    ],
    ids=["first-batch", "after-first-batch", "interrupted"],
)
def test_failed_ingest_leaves_the_previous_version_serving(
    docs: Path,
    client: QdrantClient,
    embed_model: LocalEmbedding,
    fail_after: int,
    error: BaseException,
):
    first = ingest(docs, client, embed_model)
    before = ids_by_file(client, "textbook")
    broken = failing_model(embed_model, fail_after, error)

    with pytest.raises(type(error)):
        ingest(docs, client, broken, full=True)  # six chunks, one per embedding call

    # it failed where intended: with fail_after=4, the first store batch (4 points) was written
    assert broken._calls == fail_after + 1
    assert active_collection(client, "textbook") == first.version
    assert collection_names(client) == [first.version]
    assert ids_by_file(client, "textbook") == before
    # the old version's manifest is intact: the next run finds nothing to do
    assert ingest(docs, client, embed_model).version is None


def test_leftover_unpublished_version_is_dropped_by_the_next_build(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    create_version(client, "textbook__v1", dimension=embed_model.dimension, metadata={})
    first = ingest(docs, client, embed_model)
    assert first.published
    assert collection_names(client) == [first.version]
    assert client.count("textbook", exact=True).count == 6

    create_version(client, "textbook__v9", dimension=embed_model.dimension, metadata={})
    create_version(client, "other__v1", dimension=embed_model.dimension, metadata={})
    write_docs(docs, {"extra.md": "# Extra\n\nOne more page.\n"})
    second = ingest(docs, client, embed_model)

    assert second.published
    assert collection_names(client) == sorted([second.version, "other__v1"])
    assert active_collection(client, "textbook") == second.version
    assert client.count("textbook", exact=True).count == 7


def test_missing_folder_is_an_input_error(
    tmp_path: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    with pytest.raises(IngestInputError, match="is not a folder"):
        ingest(tmp_path / "nope", client, embed_model)
    (tmp_path / "file.md").write_text("# A file, not a folder\n", encoding="utf-8")
    with pytest.raises(IngestInputError, match="is not a folder"):
        ingest(tmp_path / "file.md", client, embed_model)
    assert collection_names(client) == []


def test_folder_without_markdown_is_an_input_error(
    tmp_path: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    docs = write_docs(
        tmp_path / "docs",
        {
            "notes.txt": "not markdown",
            "_partial.md": "# Partials are not pages\n",
            "README.MD": "# upper-case extension is not a doc\n",
            "_category_.json": "{}",
        },
    )
    with pytest.raises(IngestInputError, match=r"no \.md or \.mdx files"):
        ingest(docs, client, embed_model)
    assert collection_names(client) == []


def test_full_option_reembeds_everything(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    first = ingest(docs, client, embed_model)
    before = ids_by_file(client, "textbook")

    report = ingest(docs, client, embed_model, full=True)

    assert report.version == "textbook__v2"
    assert report.chunks_embedded == report.chunks_total == first.chunks_total
    assert report.chunks_copied == 0
    assert report.files_indexed == 3
    assert collection_names(client) == ["textbook__v2"]
    assert ids_by_file(client, "textbook") == before  # same settings, same text: same ids


def test_changing_chunk_tokens_changes_the_signature_and_reembeds_everything(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    ingest(docs, client, embed_model)
    old_signatures = {p.payload["ingest_signature"] for p in all_points(client, "textbook")}
    old_ids = set().union(*ids_by_file(client, "textbook").values())

    report = ingest(docs, client, embed_model, chunk_tokens=64)

    assert report.published
    assert report.chunks_copied == 0
    assert report.chunks_embedded == report.chunks_total == 6
    new_signatures = {p.payload["ingest_signature"] for p in all_points(client, "textbook")}
    assert len(old_signatures) == len(new_signatures) == 1
    assert new_signatures != old_signatures
    assert old_ids.isdisjoint(set().union(*ids_by_file(client, "textbook").values()))
    # and the new settings are remembered: a rerun with them does nothing
    assert ingest(docs, client, embed_model, chunk_tokens=64).version is None


def retrieve_urls(
    client: QdrantClient,
    embed_model: LocalEmbedding,
    query: str,
    mode: RetrievalMode,
    top_k: int = 3,
) -> list[str]:
    retriever = QdrantRetriever(
        client=client,
        vector_store=build_vector_store(client, "textbook"),
        embed_model=embed_model,
        top_k=top_k,
        mode=mode,
    )
    return [str(n.node.metadata["url"]) for n in retriever.retrieve(query)]


def keyword_urls(client: QdrantClient, query: str) -> list[str]:
    indices, values = encode_query(query)
    points = client.query_points(
        "textbook",
        query=models.SparseVector(indices=indices, values=values),
        using=SPARSE_VECTOR,
        limit=10,
        with_payload=True,
    ).points
    return [str(p.payload["url"]) for p in points if p.payload]


def test_hybrid_keyword_query_finds_the_only_file_with_a_rare_word(
    docs: Path, client: QdrantClient, embed_model: LocalEmbedding
):
    ingest(docs, client, embed_model)
    rare = "/docs/sensors/lidar#calibration"

    assert keyword_urls(client, "quokkaflux") == [rare]
    assert retrieve_urls(client, embed_model, "quokkaflux", "hybrid")[0] == rare
    dense = retrieve_urls(client, embed_model, "How does a robot keep from falling over?", "dense")
    assert dense[0].startswith("/docs/humanoids/balance#")
    # the keyword side adds what the dense side misses: an exact rare term. (In a book of six
    # chunks every word is rare: the query names little besides the rare term, so that it is the
    # strongest keyword evidence, as a rare term is in a real book.)
    mixed = "quokkaflux for a walking robot"
    dense_rank = retrieve_urls(client, embed_model, mixed, "dense", top_k=6).index(rare)
    hybrid_rank = retrieve_urls(client, embed_model, mixed, "hybrid", top_k=6).index(rare)
    assert hybrid_rank < dense_rank

    # after an incremental run the copied points still carry their keyword vectors
    (docs / "intro.md").write_text(DOCS["intro.md"] + "\nMore text.\n", encoding="utf-8")
    assert ingest(docs, client, embed_model).chunks_copied == 4
    assert keyword_urls(client, "quokkaflux") == [rare]
    assert retrieve_urls(client, embed_model, "quokkaflux", "hybrid")[0] == rare
