"""Local sentence-transformers embeddings (all-MiniLM-L6-v2 by default), loaded from a folder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr
from sentence_transformers import SentenceTransformer
from typing_extensions import override

from rag.settings import Settings


class LocalEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model over a sentence-transformers model on local disk.

    The model is loaded by path with ``local_files_only``, so it never reaches a model hub. Vectors
    are L2-normalised, so the dot product equals the cosine similarity.
    """

    model_path: str
    device: str = "cpu"
    _model: SentenceTransformer = PrivateAttr()

    def __init__(self, model_path: str, device: str = "cpu", **kwargs: Any) -> None:
        if not Path(model_path, "modules.json").is_file():
            raise FileNotFoundError(f"no sentence-transformers model in {model_path}")
        super().__init__(
            model_name=Path(model_path).name, model_path=model_path, device=device, **kwargs
        )
        self._model = SentenceTransformer(model_path, device=device, local_files_only=True)

    @classmethod
    def class_name(cls) -> str:
        return "LocalEmbedding"

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        dim = self._model.get_embedding_dimension()
        if dim is None:  # pragma: no cover - every sentence-transformers model we load has one
            raise RuntimeError("model reports no embedding dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Longest input, in model tokens, that the model reads before truncating."""
        return int(self._model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (without the special tokens)."""
        return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(
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


def build_embed_model(settings: Settings) -> LocalEmbedding:
    """Load the embedding model named by the settings."""
    return LocalEmbedding(
        settings.resolved_embed_model_path, embed_batch_size=settings.embed_batch_size
    )
