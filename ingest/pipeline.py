"""Incremental ingest of a Docusaurus docs folder into a new index version, then a switch."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from llama_index.core.schema import TextNode
from qdrant_client import QdrantClient, models
from tqdm import tqdm

from ingest.chunking import CHUNKER_VERSION, Chunk, chunk_page
from ingest.docusaurus import Page, PageError, UnpublishedPageError, find_doc_files, read_page
from ingest.manifest import FileEntry, Manifest, diff_manifest, file_hash, ingest_signature
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.sparse import SPARSE_ENCODER_VERSION
from rag.retrieval.vector_store import (
    active_collection,
    build_vector_store,
    collection_metadata,
    create_version,
    drop_unpublished_versions,
    next_version_name,
    publish_version,
)

logger = logging.getLogger(__name__)
_POINT_NAMESPACE = uuid.UUID("5a0c6c52-9f43-4c1e-9d0b-7c1e2f0a4b11")
_COPY_BATCH = 256
T = TypeVar("T")
#: Called as work advances: (stage "read" in files or "embed" in chunks, done, total).
ProgressHook = Callable[[str, int, int], None]


class IngestInputError(ValueError):
    """The docs folder cannot be ingested at all (missing, empty, not a folder)."""


@dataclass
class IngestReport:
    """What one ingest run did; ``summary()`` is the CLI's one-line result."""

    collection: str
    version: str | None = None
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    files_unpublished: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_copied: int = 0
    chunks_deleted: int = 0  # points of the serving version not carried into the new one
    chunks_total: int = 0
    seconds: float = 0.0

    @property
    def published(self) -> bool:
        """True when this run published a new index version."""
        return self.version is not None

    def summary(self) -> str:
        """One line for the terminal."""
        state = f"published {self.version}" if self.published else "index already up to date"
        return (
            f"{state}: {self.files_seen} files ({self.files_indexed} indexed, "
            f"{self.files_unchanged} unchanged, {self.files_deleted} deleted, "
            f"{self.files_unpublished} drafts, "
            f"{len(self.skipped)} skipped); {self.chunks_embedded} chunks embedded, "
            f"{self.chunks_copied} reused, {self.chunks_total} in the index; {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest and how to chunk it."""

    docs_dir: Path
    collection: str
    route_base_path: str = "/docs"
    trailing_slash: bool | None = None
    chunk_tokens: int = 200
    overlap_tokens: int = 24
    full: bool = False
    show_progress: bool = True


def point_id(signature: str, chunk: Chunk) -> str:
    """Deterministic id of a chunk's point: same file, settings and text give the same id."""
    key = f"{signature}|{chunk.page.source_path}|{chunk.ordinal}|{chunk.text}"
    return str(uuid.uuid5(_POINT_NAMESPACE, key))


def chunk_to_node(chunk: Chunk, signature: str) -> TextNode:
    """A LlamaIndex node with the metadata that sources and citations are built from."""
    page, section = chunk.page, chunk.section
    metadata = {
        "url": page.section_url(section),
        "page_url": page.url,
        "title": page.title,
        "section": section.title_path[-1],
        "heading_path": chunk.heading_path,
        "anchor": section.anchor,
        "source_path": page.source_path,
        "content_hash": page.content_hash,
        "sidebar_position": page.sidebar_position,
        "chunk_index": chunk.ordinal,
        "ingest_signature": signature,
    }
    return TextNode(
        id_=point_id(signature, chunk),
        text=chunk.text,
        metadata=metadata,
        # the keyword vector is built from the embed view: chunk text plus its heading path
        excluded_embed_metadata_keys=[k for k in metadata if k != "heading_path"],
        excluded_llm_metadata_keys=[k for k in metadata if k not in ("title", "section")],
    )


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_points(client: QdrantClient, source: str, target: str, ids: Sequence[str]) -> int:
    """Copy points (vectors included) of unchanged files from the serving version."""
    for batch in _batched(ids, _COPY_BATCH):
        points = client.retrieve(source, ids=batch, with_vectors=True, with_payload=True)
        client.upsert(
            target,
            points=[
                models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points
            ],
        )
    return len(ids)


def run_ingest(
    options: IngestOptions,
    *,
    client: QdrantClient,
    embed_model: LocalEmbedding,
    progress: ProgressHook | None = None,
) -> IngestReport:
    """Index a docs folder: unchanged files are reused, changed ones re-embedded, deleted purged.

    Every run, failed ones included, writes one ``ingest_run`` log line.

    Raises:
        IngestInputError: the folder is missing or holds no markdown.
    """
    started = time.perf_counter()
    try:
        report = _ingest(options, client=client, embed_model=embed_model, progress=progress)
    except BaseException as exc:
        _log_run(options, None, time.perf_counter() - started, failure=exc)
        raise
    _log_run(options, report, report.seconds)
    return report


def _log_run(
    options: IngestOptions,
    report: IngestReport | None,
    seconds: float,
    *,
    failure: BaseException | None = None,
) -> None:
    """The run's one log line: what it read, embedded and dropped, and what went wrong."""
    done = report or IngestReport(collection=options.collection)
    errors = [f"{path}: {reason}" for path, reason in done.skipped]
    if failure is not None:
        errors.append(f"{type(failure).__name__}: {failure}")
    outcome = "failed" if failure else "published" if done.published else "unchanged"
    logger.log(
        logging.ERROR if failure else logging.INFO,
        "ingest run %s",
        outcome,
        extra={
            "event": "ingest_run",
            "outcome": outcome,
            "collection": options.collection,
            "version": done.version,
            "files": done.files_seen,
            "files_indexed": done.files_indexed,
            "files_unchanged": done.files_unchanged,
            "files_deleted": done.files_deleted,
            "files_skipped": len(done.skipped),
            "chunks_embedded": done.chunks_embedded,
            "chunks_copied": done.chunks_copied,
            "chunks_deleted": done.chunks_deleted,
            "chunks_total": done.chunks_total,
            "duration_s": round(seconds, 3),
            "errors": errors,
        },
    )


def _tracked(items: Sequence[T], stage: str, progress: ProgressHook | None) -> Iterator[T]:
    """Yield ``items``, telling ``progress`` after each one has been handled."""
    if progress is not None:
        progress(stage, 0, len(items))
    for done, item in enumerate(items, start=1):
        yield item
        if progress is not None:
            progress(stage, done, len(items))


def _ingest(
    options: IngestOptions,
    *,
    client: QdrantClient,
    embed_model: LocalEmbedding,
    progress: ProgressHook | None,
) -> IngestReport:
    started = time.perf_counter()
    docs_dir = options.docs_dir
    if not docs_dir.is_dir():
        raise IngestInputError(f"{docs_dir} is not a folder (expected a Docusaurus docs/ folder)")
    files = find_doc_files(docs_dir)
    if not files:
        raise IngestInputError(f"no .md or .mdx files found under {docs_dir}")

    report = IngestReport(collection=options.collection, files_seen=len(files))
    signature = ingest_signature(
        model=embed_model.model_name,
        chunk_tokens=options.chunk_tokens,
        overlap=options.overlap_tokens,
        base=options.route_base_path,
        trailing_slash=options.trailing_slash,
        docs=docs_dir.resolve().name,
        chunker=CHUNKER_VERSION,
        sparse=SPARSE_ENCODER_VERSION,
    )
    live = active_collection(client, options.collection)
    previous = Manifest.from_metadata(collection_metadata(client, live)) if live else None
    live_chunks = previous.chunk_count if previous is not None else 0
    if previous is not None and (options.full or previous.signature != signature):
        previous = None

    raw = {_relative(path, docs_dir): path for path in files}
    hashes = {rel: file_hash(path.read_bytes()) for rel, path in raw.items()}
    diff = diff_manifest(previous, hashes)
    for stale in drop_unpublished_versions(client, options.collection):
        logger.info("dropped unpublished index version %s", stale)
    if previous is not None and diff.is_empty:
        report.files_unchanged = len(diff.unchanged)
        report.skipped = previous.errors
        report.chunks_total = previous.chunk_count
        report.seconds = time.perf_counter() - started
        return report

    pages: list[Page] = []
    unread: dict[str, FileEntry] = {}  # drafts and unreadable files, with any points carried over
    to_read = diff.changed + diff.added
    for rel in tqdm(
        _tracked(to_read, "read", progress),
        total=len(to_read),
        desc="read",
        unit="file",
        disable=not options.show_progress,
    ):
        try:
            pages.append(
                read_page(
                    raw[rel],
                    docs_dir,
                    options.route_base_path,
                    trailing_slash=options.trailing_slash,
                )
            )
        except UnpublishedPageError:
            report.files_unpublished += 1
            unread[rel] = FileEntry(content_hash=hashes[rel], point_ids=())
        except PageError as exc:
            report.skipped.append((rel, str(exc)))
            logger.warning("skipped %s: %s", rel, exc)
            # A file that broke keeps serving its last good points; its new hash and the error are
            # remembered, so that an unchanged bad file does not force a rebuild on every run.
            old = previous.files.get(rel) if previous is not None else None
            carried = old.point_ids if old is not None else ()
            unread[rel] = FileEntry(content_hash=hashes[rel], point_ids=carried, error=str(exc))

    version = next_version_name(client, options.collection)
    create_version(client, version, dimension=embed_model.dimension, metadata={})
    try:
        manifest = Manifest(signature=signature, files=dict(unread))
        if previous is not None:
            manifest.files.update({rel: previous.files[rel] for rel in diff.unchanged})
            ids = [point for entry in manifest.files.values() for point in entry.point_ids]
            if live is not None and ids:
                report.chunks_copied = _copy_points(client, live, version, ids)
        report.chunks_embedded = _embed_pages(
            pages, options, signature, client, version, embed_model, manifest, progress
        )
        client.update_collection(version, metadata=manifest.to_metadata())
        publish_version(client, options.collection, version)
    except BaseException:
        client.delete_collection(version)
        raise

    report.version = version
    report.files_indexed = len(pages)
    report.files_unchanged = len(diff.unchanged)
    report.files_deleted = len(diff.deleted)
    report.chunks_total = manifest.chunk_count
    report.chunks_deleted = max(0, live_chunks - report.chunks_copied)
    report.seconds = time.perf_counter() - started
    return report


def _embed_pages(
    pages: list[Page],
    options: IngestOptions,
    signature: str,
    client: QdrantClient,
    version: str,
    embed_model: LocalEmbedding,
    manifest: Manifest,
    progress: ProgressHook | None = None,
) -> int:
    """Chunk, embed and store the given pages; record them in the manifest."""
    chunks = [
        chunk
        for page in pages
        for chunk in chunk_page(
            page,
            max_tokens=options.chunk_tokens,
            overlap_tokens=options.overlap_tokens,
            count=embed_model.count_tokens,
        )
    ]
    store = build_vector_store(client, version)
    ids: dict[str, list[str]] = {page.relative_path: [] for page in pages}
    nodes = (chunk_to_node(chunk, signature) for chunk in chunks)
    embedded = 0
    with tqdm(
        total=len(chunks), desc="embed", unit="chunk", disable=not options.show_progress
    ) as bar:
        for batch in _batched(zip(chunks, nodes, strict=True), embed_model.embed_batch_size * 4):
            vectors = embed_model.get_text_embedding_batch([c.embed_text for c, _ in batch])
            for (chunk, node), vector in zip(batch, vectors, strict=True):
                node.embedding = vector
                ids[chunk.page.relative_path].append(node.node_id)
            store.add([node for _, node in batch])
            bar.update(len(batch))
            embedded += len(batch)
            if progress is not None:
                progress("embed", embedded, len(chunks))
    for page in pages:
        manifest.files[page.relative_path] = FileEntry(
            content_hash=page.content_hash, point_ids=tuple(ids[page.relative_path])
        )
    return len(chunks)


def _relative(path: Path, docs_dir: Path) -> str:
    return path.relative_to(docs_dir).as_posix()


__all__ = ["IngestInputError", "IngestOptions", "IngestReport", "ProgressHook", "run_ingest"]
