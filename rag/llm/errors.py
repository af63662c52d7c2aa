"""How a model call failed: what moves an answer on to the next model, and what is worth a retry.

The openai client lets a malformed body out as a ``JSONDecodeError`` and a cut stream as an httpx
error; both count as the model's failure, like any ``openai.OpenAIError``.
"""

from __future__ import annotations

import json

import httpx
import openai

from rag.observer import LLMOutcome

#: Failures after which the next model is tried; anything else is a bug and propagates.
FALLBACK_ON: tuple[type[BaseException], ...] = (
    openai.OpenAIError,
    TimeoutError,
    ConnectionError,
    json.JSONDecodeError,
    httpx.TransportError,
)


class ModelSkippedError(Exception):
    """A model was not called: its breaker is open or no slot freed up in time."""


#: What sends a call on to the next model: a listed failure, or a skip by its breaker or queue.
NEXT_MODEL_ON: tuple[type[BaseException], ...] = (*FALLBACK_ON, ModelSkippedError)


class EmptyStreamError(openai.APIError):
    """A stream ended, or broke, before any text."""


def is_quota_error(exc: BaseException) -> bool:
    """True for 429 ``insufficient_quota``: the account is out of credit, retrying cannot help."""
    return isinstance(exc, openai.RateLimitError) and (
        getattr(exc, "code", None) == "insufficient_quota"
        or "insufficient_quota" in str(getattr(exc, "body", "") or "")
    )


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying on the same model: timeouts, connection drops, 429 rate limits, 5xx."""
    if isinstance(exc, openai.RateLimitError):
        return not is_quota_error(exc)
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409)
    return isinstance(
        exc,
        openai.APITimeoutError
        | openai.APIConnectionError
        | openai.APIResponseValidationError
        | TimeoutError
        | ConnectionError,
    )


def is_retryable(exc: BaseException) -> bool:
    """Worth another try on the same model: transient, but not a timeout.

    A model that hung once is likely to hang again; the rest of the budget goes to the next one.
    """
    return is_transient(exc) and not isinstance(exc, openai.APITimeoutError | TimeoutError)


def error_code(exc: BaseException) -> LLMOutcome:
    """The metrics' code for a failed attempt (``rag.observer.LLM_OUTCOMES``)."""
    if is_quota_error(exc):
        return "insufficient_quota"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit"
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError | ConnectionError | httpx.TransportError):
        return "connection"
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return "server_error"
    if isinstance(exc, EmptyStreamError | openai.APIResponseValidationError | json.JSONDecodeError):
        return "malformed"
    return "other"


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``), if it said."""
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
