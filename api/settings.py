"""The service's settings: the pipeline's (``rag.settings``) plus what only the HTTP API reads.

Sessions, rate limits, CORS, client addresses, admission, the database, workers, the admin API's
ingest folders and the production guard. Same ``RAG_*`` names as the pipeline's; entry points of
the service call ``get_service_settings()``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

import limits
from pydantic import Field, SecretStr, field_validator, model_validator

from rag.settings import CommaList, Settings

DEV_SESSION_SECRET = "dev-only-session-secret-change-me"  # noqa: S105 - refused in production


class ServiceSettings(Settings):
    """Settings of the HTTP service (``rag-serve``, ``create_app``, the migrations).

    The configuration (``RAG_`` prefix, ``.env``, unknown names ignored) is the pipeline's.
    Outside development (``RAG_ENV`` staging or production) unsafe values are refused, each named.
    """

    env: Literal["development", "staging", "production"] = "development"
    database_url: str | None = None

    # Ingest through the admin API: the docs folder, and the roots other folders must be under
    docs_dir: Path = Path("sample_book/docs")
    docs_roots: CommaList = Field(default_factory=list)

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
    # read and validated; no code path applies it (RAG_LLM_TOTAL_BUDGET_S bounds model time)
    request_timeout_s: float = Field(default=30.0, gt=0)
    workers: int = Field(default=1, ge=1, le=64)
    # admission of answers (per worker): past max_in_flight they queue; past the queue, or after
    # admission_wait_s in it, 503 overloaded with Retry-After
    max_in_flight: int = Field(default=128, ge=1)
    admission_queue: int = Field(default=256, ge=0)
    admission_wait_s: float = Field(default=1.0, ge=0, le=30)
    # SIGTERM: in-flight requests (streamed answers) get this long to finish, then are cut and
    # stored as interrupted; keep it below the platform's shutdown delay
    shutdown_drain_s: float = Field(default=45.0, ge=0, le=300)

    # Security: signed session ids, rate limits, client addresses, request size
    session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    rate_limit_session: str = "10/minute"
    rate_limit_address: str = "5000/day"
    rate_limit_new_sessions: str = "120/hour"
    rate_limit_key_prefix: str = Field(default="rag:ratelimit", pattern=r"^[A-Za-z0-9_:.-]{1,64}$")
    trusted_proxies: CommaList = Field(default_factory=list)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # Observability
    log_reader_text: bool = False
    budget_alert_fraction: float = Field(default=0.8, gt=0, le=1)

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

    @model_validator(mode="after")
    def _enforce_safe_production(self) -> ServiceSettings:
        return self._refuse_unsafe()

    def _refuse_unsafe(self) -> ServiceSettings:
        """These settings, unless unsafe where deployed (a ValueError names every problem)."""
        if self.env == "development":  # staging is checked as production is
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
            raise ValueError(f"unsafe settings for RAG_ENV={self.env}: " + "; ".join(problems))
        return self

    def with_workers(self, workers: int) -> ServiceSettings:
        """These settings run as ``workers`` processes (``rag-serve --workers``), guarded again.

        Raises:
            ValueError: several workers are unsafe here (deployed, without Redis).
        """
        if workers == self.workers:
            return self
        return self.model_copy(update={"workers": workers})._refuse_unsafe()

    @property
    def is_deployed(self) -> bool:
        """Staging or production: JSON-only output, HTTPS only, unsafe settings refused."""
        return self.env != "development"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, SQLite in the data folder unless one is given."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'rag.sqlite3').as_posix()}"


@lru_cache
def get_service_settings() -> ServiceSettings:
    """Build the service's settings once per process (entry points call this, tests override it)."""
    return ServiceSettings()
