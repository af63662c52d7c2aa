"""Qdrant clients, index versions behind an alias, and the LlamaIndex vector store over them.

Each ingest writes a new physical collection (``<alias>__v<n>``) and then points the alias at it,
so a failed or interrupted ingest never touches the version that is serving.
"""

from __future__ import annotations

import re
from typing import Any

from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient, models

from rag.retrieval.sparse import encode_documents, encode_queries
from rag.settings import Settings

DENSE_VECTOR = "text-dense"
SPARSE_VECTOR = "text-sparse"
_VERSION_RE = re.compile(r"__v(\d+)$")
#: Collection metadata key of the doc versions and locales an index version holds.
SCOPES_KEY = "scopes"
#: Payload fields every query filters on (the reader's doc version and locale).
SCOPE_FIELDS = ("version", "locale")


class IndexUnavailableError(RuntimeError):
    """The index cannot be opened (held by another process, or the server is unreachable)."""


def build_qdrant_client(settings: Settings) -> QdrantClient:
    """Open Qdrant: a server when ``RAG_QDRANT_URL`` is set, else local mode in the data folder."""
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=10)
    path = settings.qdrant_path
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise IndexUnavailableError(
            f"the index in {path} is open in another process (is rag-serve running?). Stop it, "
            "ingest through POST /v1/admin/ingest, or use a Qdrant server (RAG_QDRANT_URL)."
        ) from exc


def active_collection(client: QdrantClient, alias: str) -> str | None:
    """Name of the physical collection the alias points at, or None before the first ingest."""
    for item in client.get_aliases().aliases:
        if item.alias_name == alias:
            return item.collection_name
    return None


def next_version_name(client: QdrantClient, alias: str) -> str:
    """A fresh physical collection name for the next index version of ``alias``."""
    prefix = f"{alias}__v"
    versions = [
        int(match.group(1))
        for item in client.get_collections().collections
        if item.name.startswith(prefix) and (match := _VERSION_RE.search(item.name))
    ]
    return f"{prefix}{max(versions, default=0) + 1}"


def create_version(
    client: QdrantClient, name: str, *, dimension: int, metadata: dict[str, Any]
) -> None:
    """Create an empty index version: cosine dense vectors and IDF-weighted keyword vectors."""
    client.create_collection(
        collection_name=name,
        vectors_config={
            DENSE_VECTOR: models.VectorParams(size=dimension, distance=models.Distance.COSINE)
        },
        sparse_vectors_config={
            SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
        },
        metadata=metadata,
    )
    local = client.init_options.get("path") or client.init_options.get("location") == ":memory:"
    if not local:  # local mode has no payload indexes (and warns when asked for one)
        for field_name in SCOPE_FIELDS:
            client.create_payload_index(
                name,
                field_name=field_name,
                field_schema=models.KeywordIndexParams(
                    type=models.KeywordIndexType.KEYWORD, is_tenant=True
                ),
            )


def publish_version(client: QdrantClient, alias: str, name: str) -> str | None:
    """Point ``alias`` at ``name`` in one operation and drop the version it replaced."""
    previous = active_collection(client, alias)
    actions: list[models.CreateAliasOperation | models.DeleteAliasOperation] = []
    if previous is not None:
        actions.append(
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
        )
    actions.append(
        models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=name, alias_name=alias)
        )
    )
    client.update_collection_aliases(change_aliases_operations=actions)
    if previous is not None and previous != name:
        client.delete_collection(previous)
    return previous


def drop_unpublished_versions(client: QdrantClient, alias: str) -> list[str]:
    """Delete versions of ``alias`` that an interrupted ingest left behind; return their names."""
    live = active_collection(client, alias)
    dropped = []
    for item in client.get_collections().collections:
        if item.name.startswith(f"{alias}__v") and item.name != live:
            client.delete_collection(item.name)
            dropped.append(item.name)
    return dropped


def collection_metadata(client: QdrantClient, name: str) -> dict[str, Any]:
    """The metadata stored with a collection (the ingest manifest lives there)."""
    info = client.get_collection(name)
    return dict(info.config.metadata or {})


def build_vector_store(client: QdrantClient, collection: str) -> QdrantVectorStore:
    """The LlamaIndex store over one collection or alias (sync client; see rag.retrieval.retriever).

    Hybrid is on so that ``add`` writes the keyword vector beside the dense one.
    """
    return QdrantVectorStore(
        collection_name=collection,
        client=client,
        dense_vector_name=DENSE_VECTOR,
        sparse_vector_name=SPARSE_VECTOR,
        enable_hybrid=True,
        sparse_doc_fn=encode_documents,
        sparse_query_fn=encode_queries,
        batch_size=128,
    )
