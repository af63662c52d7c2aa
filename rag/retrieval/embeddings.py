"""Local sentence-transformers embeddings (all-MiniLM-L6-v2 by default), loaded from a folder."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr
from typing_extensions import override

from rag.settings import Settings


class LocalEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model over a sentence-transformers model on local disk.

    The model is loaded by path with ``local_files_only``, so it never reaches a model hub. Vectors
    are L2-normalised, so the dot product equals the cosine similarity. Loading (torch and the
    weights, several seconds) waits until the first use or ``load()``, so an ingest that finds
    nothing to do never pays for it. ``model_name`` is a fingerprint of the model's files.
    """

    model_path: str
    device: str = "cpu"
    _model: Any = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, model_path: str, device: str = "cpu", **kwargs: Any) -> None:
        super().__init__(
            model_name=model_fingerprint(model_path),
            model_path=model_path,
            device=device,
            **kwargs,
        )

    def load(self) -> Any:
        """Load the model now (idempotent, thread-safe) and return it."""
        with self._load_lock:
            if self._model is None:
                # Imported here: torch and sentence-transformers take seconds to import.
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(
                    self.model_path, device=self.device, local_files_only=True
                )
        return self._model

    @classmethod
    def class_name(cls) -> str:
        return "LocalEmbedding"

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        dim = self.load().get_embedding_dimension()
        if dim is None:  # pragma: no cover - every sentence-transformers model we load has one
            raise RuntimeError("model reports no embedding dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Longest input, in model tokens, that the model reads before truncating."""
        return int(self.load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (without the special tokens)."""
        tokens = self.load().tokenizer(text, add_special_tokens=False, verbose=False)
        return len(tokens["input_ids"])

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self.load().encode(
            texts,
            batch_size=self.embed_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [vector.tolist() for vector in vectors]

    @override
    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    @override
    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    @override
    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    @override
    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    @override
    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    @override
    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


def model_fingerprint(model_path: str) -> str:
    """A short id of a sentence-transformers model folder, from its configs and weight sizes.

    Cheap (no weights are read), and the same wherever the folder is installed.

    Raises:
        FileNotFoundError: the folder holds no sentence-transformers model.
    """
    root = Path(model_path)
    if not (root / "modules.json").is_file():
        raise FileNotFoundError(f"no sentence-transformers model in {model_path}")
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            rel = path.relative_to(root).as_posix()
            size = str(path.stat().st_size).encode()
            data = path.read_bytes() if path.suffix == ".json" else size
            digest.update(rel.encode() + b"\0" + data)
    return f"{root.name}-{digest.hexdigest()[:12]}"


def build_embed_model(settings: Settings) -> LocalEmbedding:
    """Load the embedding model named by the settings."""
    return LocalEmbedding(
        settings.resolved_embed_model_path, embed_batch_size=settings.embed_batch_size
    )
