"""Response bodies: completions and their SSE chunks, OpenAI-shaped errors, broken replies."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from perf.llm_sim.answer import estimate_tokens, word_deltas
from perf.llm_sim.knobs import ModelKnobs

FINGERPRINT = "fp_llm_simulator"


class StreamCut(Exception):
    """Raised inside a response body to drop the connection mid-response (``stream_cut``)."""


class _HideStreamCuts(logging.Filter):
    """Keep uvicorn from logging a traceback for every deliberate ``stream_cut``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamCut))


def install_log_filter() -> None:
    """Add the ``stream_cut`` filter to uvicorn's error logger (once)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideStreamCuts) for f in logger.filters):
        logger.addFilter(_HideStreamCuts())


class TrackedStreamingResponse(StreamingResponse):
    """A streaming response that reports when it ends, however it ends."""

    def __init__(self, content: AsyncIterator[str], on_end: Callable[[bool], None], **kw: Any):
        self._exhausted = False
        super().__init__(self._track(content), **kw)
        self._on_end = on_end

    async def _track(self, content: AsyncIterator[str]) -> AsyncIterator[str]:
        # Starlette absorbs a client disconnect and returns normally, so "finished" means the
        # body was sent to the end, not that __call__ returned.
        async for chunk in content:
            yield chunk
        self._exhausted = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = False
        try:
            await super().__call__(scope, receive, send)
            finished = self._exhausted
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            self._on_end(finished)


def error_response(
    status: int,
    message: str,
    *,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def injected_error(kind: str, model: str, knobs: ModelKnobs) -> JSONResponse:
    """The HTTP error OpenAI returns for ``kind`` (not ``hang``, ``malformed``, ``stream_cut``)."""
    if kind == "rate_limit":
        wait = knobs.retry_after_s
        headers = {
            "retry-after": str(max(0, math.ceil(wait))),
            "retry-after-ms": str(round(wait * 1000)),
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait:g}s",
        }
        return error_response(
            429,
            f"Rate limit reached for {model} on requests per min (RPM): Limit 60, Used 60, "
            f"Requested 1. Please try again in {wait:g}s.",
            type_="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if kind == "insufficient_quota":
        return error_response(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type_="insufficient_quota",
            code="insufficient_quota",
        )
    if kind == "unavailable":
        return error_response(
            503,
            "The engine is currently overloaded, please try again later.",
            type_="server_error",
            code="service_unavailable",
        )
    return error_response(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type_="server_error",
    )


def limit_tokens(text: str, max_tokens: object) -> tuple[str, str]:
    """Cut ``text`` to ``max_tokens`` (estimated); returns the text and the finish reason."""
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
        return text, "stop"
    if estimate_tokens(text) <= max_tokens:
        return text, "stop"
    kept = ""
    for piece in word_deltas(text):
        if estimate_tokens(kept + piece) > max_tokens:
            break
        kept += piece
    return kept or text[: max_tokens * 4], "length"  # a long first word is cut, like a token


@dataclass
class Completion:
    """Everything one request needs to build its response."""

    model: str
    knobs: ModelKnobs
    content: str
    finish_reason: str
    prompt_tokens: int
    include_usage: bool
    id: str = field(default_factory=lambda: f"chatcmpl-sim{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def completion_tokens(self) -> int:
        return estimate_tokens(self.content)

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": self.content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.include_usage:
            data["usage"] = None
        return f"data: {json.dumps(data)}\n\n"

    def usage_chunk(self) -> str:
        data = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": self.usage(),
        }
        return f"data: {json.dumps(data)}\n\n"

    async def events(self, kind: str | None) -> AsyncIterator[str]:
        """The SSE stream, paced by ``ttft_ms`` and ``tps``, broken as ``kind`` asks."""
        await asyncio.sleep(self.knobs.ttft_ms / 1000)
        yield self.chunk({"role": "assistant", "content": "", "refusal": None})
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        for position, piece in enumerate(word_deltas(self.content)):
            if kind == "stream_cut" and position == self.knobs.cut_after_tokens:
                raise StreamCut
            if kind == "malformed" and position == 1:
                yield f'data: {{"id": "{self.id}", "choices": [{{"delta": {{"content": "\n\n'
                yield "data: [DONE]\n\n"
                return
            if self.knobs.tps and sent:
                await asyncio.sleep(max(0.0, start + sent / self.knobs.tps - loop.time()))
            yield self.chunk({"content": piece})
            sent += estimate_tokens(piece)
        if kind == "stream_cut":  # a reply shorter than cut_after_tokens is still cut
            raise StreamCut
        yield self.chunk({}, self.finish_reason)
        if self.include_usage:
            yield self.usage_chunk()
        yield "data: [DONE]\n\n"

    async def cut_body(self) -> AsyncIterator[bytes]:
        """Half of the non-streaming body, then the connection drops."""
        payload = json.dumps(self.body()).encode()
        yield payload[: len(payload) // 2]
        raise StreamCut
