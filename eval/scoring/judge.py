"""Settings of the judge model that Ragas' LLM-judged metrics use (``RAG_EVAL_JUDGE_*``).

They are the evaluation's own, apart from the service's settings: a judge is usually a stronger
model than the one that answers, on another endpoint. Without a judge the LLM-judged metrics are
left out and the report says so.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIRED = ("base_url", "model", "api_key")


class JudgeSettings(BaseSettings):
    """An OpenAI-compatible chat endpoint to judge answers with.

    Attributes:
        base_url: ``RAG_EVAL_JUDGE_BASE_URL``, e.g. ``https://api.openai.com/v1``.
        model: ``RAG_EVAL_JUDGE_MODEL``.
        api_key: ``RAG_EVAL_JUDGE_API_KEY``.
        timeout_s: ``RAG_EVAL_JUDGE_TIMEOUT_S``, per request (requests are not retried).
        concurrency: ``RAG_EVAL_JUDGE_CONCURRENCY``, questions judged at once.
    """

    model_config = SettingsConfigDict(
        env_prefix="RAG_EVAL_JUDGE_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=64)

    @property
    def missing(self) -> list[str]:
        """Environment variables of the three required ones that are not set."""
        return [f"RAG_EVAL_JUDGE_{name.upper()}" for name in REQUIRED if not getattr(self, name)]

    @property
    def configured(self) -> bool:
        """True when base URL, model and API key are all set."""
        return not self.missing

    @property
    def partly_configured(self) -> bool:
        """True when some, but not all, of the required settings are set (a mistake)."""
        return 0 < len(self.missing) < len(REQUIRED)
