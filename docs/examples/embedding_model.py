"""Another embedding model: a sentence-transformers folder named by ``RAG_EMBED_MODEL_PATH``.

The service never downloads a model: put the model's folder on disk (for example with
``SentenceTransformer("name").save(folder)`` on a machine with a network), point
``RAG_EMBED_MODEL_PATH`` at it, and run ``rag-ingest`` again. The index records a fingerprint of
the model's files, so the next ingest re-embeds every chunk (nothing is copied from the previous
version) and chunk sizes are counted in the new model's tokens. ``save_variant`` makes such a
folder offline from an existing one, with a shorter input length: a different model as far as
the index is concerned.
"""

from __future__ import annotations

from pathlib import Path

from rag.settings import Settings


def save_variant(source: str, target: Path, *, max_seq_length: int) -> Path:
    """Save a copy of the model at ``source`` that reads at most ``max_seq_length`` tokens."""
    from sentence_transformers import SentenceTransformer  # heavy: imported when used

    model = SentenceTransformer(source, device="cpu", local_files_only=True)
    model.max_seq_length = max_seq_length
    model.save(str(target))
    return target


def embedding_settings(base: Settings, model_dir: Path) -> Settings:
    """The settings with the embedding model at ``model_dir`` (as ``RAG_EMBED_MODEL_PATH``)."""
    return base.model_copy(update={"embed_model_path": str(model_dir)})
