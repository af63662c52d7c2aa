"""Incremental ingest of a Docusaurus docs folder or site into a new index version, then a switch.

A site gives one scope per doc version and locale (``ingest.site``); each chunk's payload
carries its ``version`` and ``locale``, and the manifest keys files by scope, so that every
version and translation is reused, replaced or purged on its own. All scopes go into one index
version, published only once every one of them is written.
"""

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
from ingest.site import (
    DocsScope,
    SiteConfig,
    SiteError,
    SiteLayout,
    docs_folder_layout,
    site_layout,
)
from rag.retrieval.embeddings import LocalEmbedding
from rag.retrieval.sparse import SPARSE_ENCODER_VERSION
from rag.retrieval.vector_store import (
    SCOPES_KEY,
    active_collection,
    build_vector_store,
    collection_metadata,
    create_version,
    drop_unpublished_versions,
    next_version_name,
    publish_version,
)
from rag.settings import Settings

logger = logging.getLogger(__name__)
_POINT_NAMESPACE = uuid.UUID("5a0c6c52-9f43-4c1e-9d0b-7c1e2f0a4b11")
_COPY_BATCH = 256
T = TypeVar("T")
#: Bumped when the payload gains fields an older index lacks: its points are then re-embedded.
PAYLOAD_VERSION = 2
#: Called as work advances: (stage "read" in files or "embed" in chunks, done, total).
ProgressHook = Callable[[str, int, int], None]


class IngestInputError(ValueError):
    """The docs folder or site cannot be ingested at all (missing, empty, not a folder)."""


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
    """What to ingest and how to chunk it.

    ``docs_dir`` is a docs folder (the current version in ``locale``, served at
    ``route_base_path``), or, when ``site`` is given, the root of a site whose versions and
    locales ``site`` describes (``route_base_path`` and ``locale`` are then the site's).
    """

    docs_dir: Path
    collection: str
    route_base_path: str = "/docs"
    trailing_slash: bool | None = None
    chunk_tokens: int = 200
    overlap_tokens: int = 24
    full: bool = False
    show_progress: bool = True
    locale: str = "en"
    site: SiteConfig | None = None

    def layout(self) -> SiteLayout:
        """The scopes to ingest.

        Raises:
            IngestInputError: The site folder or its configuration is not usable.
        """
        if self.site is None:
            return docs_folder_layout(self.docs_dir, self.route_base_path, self.locale)
        try:
            return site_layout(self.docs_dir, self.site)
        except SiteError as exc:
            raise IngestInputError(str(exc)) from exc

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        docs_dir: Path,
        *,
        full: bool = False,
        show_progress: bool = True,
        locale: str = "en",
        site: SiteConfig | None = None,
    ) -> IngestOptions:
        """Options for ``docs_dir`` from the settings' index and chunking fields.

        With ``site``, the route base path and the locale are the site's.
        """
        return cls(
            docs_dir=docs_dir,
            collection=settings.collection,
            route_base_path=site.route_base_path if site is not None else settings.route_base_path,
            trailing_slash=settings.trailing_slash,
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            full=full,
            show_progress=show_progress,
            locale=site.default_locale if site is not None else locale,
            site=site,
        )


@dataclass(frozen=True)
class SourceFile:
    """One doc of one scope: the file read for it (a translation or the original)."""

    key: str
    scope: DocsScope
    relative: str
    path: Path
    folder: Path

    def fingerprint(self) -> str:
        """Hash of what the doc's chunks depend on: the bytes, and the route and file they use."""
        folder = self.scope.source_prefix(self.folder)
        where = f"\0{self.scope.route_base_path}\0{folder}\0".encode()
        return file_hash(self.path.read_bytes() + where)


def point_id(signature: str, chunk: Chunk, key: str | None = None) -> str:
    """Deterministic id of a chunk's point: same file, scope, settings and text give the same id.

    ``key`` is the file's manifest key (its scope and path); by default its source path.
    """
    where = key if key is not None else chunk.page.source_path
    raw = f"{signature}|{where}|{chunk.ordinal}|{chunk.text}"
    return str(uuid.uuid5(_POINT_NAMESPACE, raw))


def chunk_to_node(
    chunk: Chunk,
    signature: str,
    *,
    key: str | None = None,
    version: str = "current",
    locale: str = "en",
) -> TextNode:
    """A LlamaIndex node with the metadata that sources, citations and scope filters use."""
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
        "version": version,
        "locale": locale,
    }
    return TextNode(
        id_=point_id(signature, chunk, key),
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
                models.PointStruct(id=p.id, vector=p.vector or {}, payload=p.payload)
                for p in points
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


def source_files(layout: SiteLayout, *, single: bool) -> list[SourceFile]:
    """Every doc of every scope; a lone docs folder keys its files by their path alone."""
    files = []
    for scope in layout.scopes:
        for path in find_doc_files(scope.content_dir):
            relative = _relative(path, scope.content_dir)
            read_path, folder = scope.source_of(relative)
            key = relative if single else f"{scope.key}/{relative}"
            files.append(SourceFile(key, scope, relative, read_path, folder))
    return files


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
        expected = "site" if options.site is not None else "docs/ folder"
        raise IngestInputError(f"{docs_dir} is not a folder (expected a Docusaurus {expected})")
    layout = options.layout()
    sources = source_files(layout, single=options.site is None)
    if not sources:
        raise IngestInputError(f"no .md or .mdx files found under {docs_dir}")

    report = IngestReport(collection=options.collection, files_seen=len(sources))
    signature = ingest_signature(
        model=embed_model.model_name,
        chunk_tokens=options.chunk_tokens,
        overlap=options.overlap_tokens,
        base=options.route_base_path if options.site is None else "site",
        trailing_slash=options.trailing_slash,
        docs=docs_dir.resolve().name,
        chunker=CHUNKER_VERSION,
        sparse=SPARSE_ENCODER_VERSION,
        payload=PAYLOAD_VERSION,
        locale=options.locale if options.site is None else "site",
    )
    live = active_collection(client, options.collection)
    live_metadata = collection_metadata(client, live) if live else {}
    previous = Manifest.from_metadata(live_metadata) if live else None
    live_chunks = previous.chunk_count if previous is not None else 0
    if previous is not None and (options.full or previous.signature != signature):
        previous = None

    raw = {source.key: source for source in sources}
    hashes = {key: source.fingerprint() for key, source in raw.items()}
    diff = diff_manifest(previous, hashes)
    scopes = layout.describe()
    for stale in drop_unpublished_versions(client, options.collection):
        logger.info("dropped unpublished index version %s", stale)
    if previous is not None and diff.is_empty and live_metadata.get(SCOPES_KEY) == scopes:
        report.files_unchanged = len(diff.unchanged)
        report.skipped = previous.errors
        report.chunks_total = previous.chunk_count
        report.seconds = time.perf_counter() - started
        return report

    pages: list[tuple[SourceFile, Page]] = []
    unread: dict[str, FileEntry] = {}  # drafts and unreadable files, with any points carried over
    to_read = diff.changed + diff.added
    for key in tqdm(
        _tracked(to_read, "read", progress),
        total=len(to_read),
        desc="read",
        unit="file",
        disable=not options.show_progress,
    ):
        source = raw[key]
        try:
            page = read_page(
                source.path,
                source.folder,
                source.scope.route_base_path,
                trailing_slash=options.trailing_slash,
                source_prefix=source.scope.source_prefix(source.folder),
            )
            pages.append((source, page))
        except UnpublishedPageError:
            report.files_unpublished += 1
            unread[key] = FileEntry(content_hash=hashes[key], point_ids=())
        except PageError as exc:
            report.skipped.append((key, str(exc)))
            logger.warning("skipped %s: %s", key, exc)
            # A file that broke keeps serving its last good points; its new hash and the error are
            # remembered, so that an unchanged bad file does not force a rebuild on every run.
            old = previous.files.get(key) if previous is not None else None
            carried = old.point_ids if old is not None else ()
            unread[key] = FileEntry(content_hash=hashes[key], point_ids=carried, error=str(exc))

    version = next_version_name(client, options.collection)
    create_version(client, version, dimension=embed_model.dimension, metadata={})
    try:
        manifest = Manifest(signature=signature, files=dict(unread))
        if previous is not None:
            manifest.files.update({key: previous.files[key] for key in diff.unchanged})
            ids = [point for entry in manifest.files.values() for point in entry.point_ids]
            if live is not None and ids:
                report.chunks_copied = _copy_points(client, live, version, ids)
        report.chunks_embedded = _embed_pages(
            pages, options, signature, client, version, embed_model, manifest, hashes, progress
        )
        client.update_collection(version, metadata={**manifest.to_metadata(), SCOPES_KEY: scopes})
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
    pages: list[tuple[SourceFile, Page]],
    options: IngestOptions,
    signature: str,
    client: QdrantClient,
    version: str,
    embed_model: LocalEmbedding,
    manifest: Manifest,
    hashes: dict[str, str],
    progress: ProgressHook | None = None,
) -> int:
    """Chunk, embed and store the given pages; record them in the manifest."""
    chunks = [
        (source, chunk)
        for source, page in pages
        for chunk in chunk_page(
            page,
            max_tokens=options.chunk_tokens,
            overlap_tokens=options.overlap_tokens,
            count=embed_model.count_tokens,
        )
    ]
    store = build_vector_store(client, version)
    ids: dict[str, list[str]] = {source.key: [] for source, _ in pages}
    nodes = (
        chunk_to_node(
            chunk,
            signature,
            key=source.key,
            version=source.scope.version,
            locale=source.scope.locale,
        )
        for source, chunk in chunks
    )
    embedded = 0
    with tqdm(
        total=len(chunks), desc="embed", unit="chunk", disable=not options.show_progress
    ) as bar:
        for batch in _batched(zip(chunks, nodes, strict=True), embed_model.embed_batch_size * 4):
            texts = [chunk.embed_text for (_, chunk), _ in batch]
            vectors = embed_model.get_text_embedding_batch(texts)
            for ((source, _), node), vector in zip(batch, vectors, strict=True):
                node.embedding = vector
                ids[source.key].append(node.node_id)
            store.add([node for _, node in batch])
            bar.update(len(batch))
            embedded += len(batch)
            if progress is not None:
                progress("embed", embedded, len(chunks))
    for source, _ in pages:
        manifest.files[source.key] = FileEntry(
            content_hash=hashes[source.key], point_ids=tuple(ids[source.key])
        )
    return len(chunks)


def _relative(path: Path, docs_dir: Path) -> str:
    return path.relative_to(docs_dir).as_posix()


__all__ = [
    "IngestInputError",
    "IngestOptions",
    "IngestReport",
    "ProgressHook",
    "SourceFile",
    "run_ingest",
    "source_files",
]
