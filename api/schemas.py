"""Request and response bodies of the public HTTP contract (v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChatRequest(BaseModel):
    """A reader's question, optionally about a passage they selected on a page."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=500)
    session_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    selected_text: str | None = Field(default=None, max_length=10_000)
    selection_only: bool = False
    page_url: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _selection_only_needs_selection(self) -> ChatRequest:
        if self.selection_only and not self.selected_text:
            raise ValueError("selection_only needs selected_text")
        return self


class Source(BaseModel):
    """A passage the answer was built from; ``url`` is the page route plus heading anchor."""

    index: int
    title: str
    url: str
    section: str
    snippet: str
    score: float
    source_path: str | None


class LatencyMs(BaseModel):
    """Time spent per stage, in milliseconds."""

    retrieval: float
    generation: float
    total: float


class Usage(BaseModel):
    """Tokens and cost of the answer (zero for the extractive answerer and cached answers)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = Field(
        default=False, description="True when tokens were counted locally, not reported by the API"
    )


class ChatResponse(BaseModel):
    """An answer with ``[n]`` citations, each ``n`` an ``index`` in ``sources``."""

    answer: str
    session_id: str
    message_id: str
    sources: list[Source]
    model: str
    degraded: bool
    cached: bool
    latency_ms: LatencyMs
    usage: Usage


class ErrorBody(BaseModel):
    """What went wrong, in words a person understands."""

    code: str
    message: str
    request_id: str | None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx response has this shape."""

    error: ErrorBody


class Health(BaseModel):
    """Liveness or readiness, with a check per dependency."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class MessageOut(BaseModel):
    """One stored message of a conversation."""

    id: str
    role: Literal["user", "assistant"]
    content: str
    selected_text: str | None = None
    page_url: str | None = None
    sources: list[Source] = Field(default_factory=list)
    model: str | None = None
    degraded: bool = False
    cached: bool = False
    interrupted: bool = Field(
        default=False, description="The reader left before the answer was complete."
    )
    created_at: datetime


class SessionMessages(BaseModel):
    """A conversation, oldest message first."""

    session_id: str
    messages: list[MessageOut]


class FeedbackIn(BaseModel):
    """A reader's rating of an answer; sending it again replaces the previous one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=1000)


class FeedbackOut(BaseModel):
    """The stored rating."""

    message_id: str
    rating: Literal["up", "down"]
    comment: str | None
    updated_at: datetime
