"""Request and response bodies of the public HTTP contract (v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.security.input_text import (
    PAGE_URL_PATTERN,
    VISIBLE_TEXT_PATTERN,
    clean_optional_text,
    clean_required_text,
)

# Limits apply to the text as sent; HTML and control characters are removed after
# (api.security.input_text).
Question = Annotated[
    str,
    Field(min_length=1, max_length=500, pattern=VISIBLE_TEXT_PATTERN),
    AfterValidator(clean_required_text),
]
SelectedText = Annotated[str | None, Field(max_length=10_000), AfterValidator(clean_optional_text)]
Comment = Annotated[str | None, Field(max_length=1000), AfterValidator(clean_optional_text)]
PageUrl = Annotated[
    str | None,
    Field(
        max_length=2048,
        pattern=PAGE_URL_PATTERN,
        description="The page the reader is on: an http(s) URL or a path starting with '/'.",
    ),
]

DocVersion = Annotated[
    str | None,
    Field(
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
        description="The book version the reader is on: a name from the site's versions.json, "
        "or 'current' for the docs/ folder (the page's docusaurus_version meta tag). "
        "Omitted: the version the site serves at its docs root.",
    ),
]
Locale = Annotated[
    str | None,
    Field(
        max_length=35,
        pattern=r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$",
        description="The reader's locale code, e.g. 'fr' or 'pt-BR' (the page's "
        "docusaurus_locale meta tag). Omitted: the site's default locale.",
    ),
]

# The rule of ChatRequest's validator, stated in its JSON schema too (clients and fuzzers see it).
_SELECTION_ONLY_NEEDS_TEXT = {
    "if": {"properties": {"selection_only": {"const": True}}, "required": ["selection_only"]},
    "then": {
        "properties": {"selected_text": {"type": "string", "pattern": VISIBLE_TEXT_PATTERN}},
        "required": ["selected_text"],
    },
}


class ChatRequest(BaseModel):
    """A reader's question, optionally about a passage they selected on a page."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_SELECTION_ONLY_NEEDS_TEXT)

    question: Question
    session_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?$",
        description="The id a previous answer returned (signed by the service); omit it to "
        "start a new conversation.",
    )
    selected_text: SelectedText = None
    selection_only: bool = False
    page_url: PageUrl = None
    version: DocVersion = None
    locale: Locale = None

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

    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"]
    comment: Comment = None


class FeedbackOut(BaseModel):
    """The stored rating."""

    message_id: str
    rating: Literal["up", "down"]
    comment: str | None
    updated_at: datetime
