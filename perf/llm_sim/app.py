"""The OpenAI-compatible HTTP app: ``/v1`` endpoints, error injection and ``/_sim`` control."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from perf.llm_sim.answer import answer, prompt_tokens
from perf.llm_sim.json_mode import json_reply, wants_json
from perf.llm_sim.knobs import ERROR_KINDS, KnobError, ModelKnobs
from perf.llm_sim.obey import obeyed_reply
from perf.llm_sim.responses import (
    Completion,
    TrackedStreamingResponse,
    error_response,
    injected_error,
    install_log_filter,
    limit_tokens,
)


@dataclass
class ModelStats:
    """Counters for one model since start or the last reset."""

    requests: int = 0
    streamed: int = 0
    completed: int = 0
    disconnects: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    in_flight: int = 0
    in_flight_max: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def enter(self) -> None:
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1


class SimState:
    """Models, counters and the error-injection random generator of one app."""

    def __init__(self, models: Mapping[str, ModelKnobs], seed: int) -> None:
        self.initial = dict(models)
        self.seed = seed
        # Set when the server begins to shut down: hanging requests then end.
        self.closing = asyncio.Event()
        self.reset()

    def reset(self) -> None:
        """Back to the start-up models, zero counters, and a freshly seeded generator."""
        self.models: dict[str, ModelKnobs] = dict(self.initial)
        self.stats: dict[str, ModelStats] = {}
        self.rng = random.Random(self.seed)
        self.unknown_model = 0
        self.unauthorized = 0

    def stats_for(self, name: str) -> ModelStats:
        return self.stats.setdefault(name, ModelStats())

    def snapshot(self) -> dict[str, Any]:
        names = list(self.models) + [n for n in self.stats if n not in self.models]
        return {
            "models": {name: asdict(self.stats_for(name)) for name in names},
            "unknown_model": self.unknown_model,
            "unauthorized": self.unauthorized,
        }


def _message_texts(messages: list[Any]) -> tuple[list[str], str]:
    """The text of each message, and of the last user message.

    Raises:
        ValueError: When a message is not an object with a role.
    """
    texts: list[str] = []
    question = ""
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError("each message must be an object with a 'role'")
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        text = content if isinstance(content, str) else ""
        texts.append(text)
        if message["role"] == "user":
            question = text
    return texts, question


def _reply(messages: list[Any], texts: list[str], question: str, knobs: ModelKnobs) -> str:
    """The grounded answer, or, with ``follow_injections``, what an injected instruction asks."""
    grounded = answer(texts, question)
    if not knobs.follow_injections:
        return grounded
    system = "\n".join(t for m, t in zip(messages, texts, strict=True) if m["role"] == "system")
    history = [t for m, t in zip(messages[:-1], texts[:-1], strict=True) if m["role"] != "system"]
    obeyed = obeyed_reply(system, history, question, lambda: grounded)
    return grounded if obeyed is None else obeyed


async def _wait_for_disconnect(request: Request) -> None:
    """Block until the client goes away (the body has already been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _hang(request: Request, closing: asyncio.Event) -> bool:
    """Answer nothing until the client leaves (True) or the server shuts down (False)."""
    gone = asyncio.ensure_future(_wait_for_disconnect(request))
    stop = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait({gone, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        stop.cancel()
    return gone in done


def _authorized(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def create_app(
    models: dict[str, ModelKnobs], seed: int = 0, *, require_auth: bool = True
) -> FastAPI:
    """The simulator app.

    Args:
        models: Model names and their knobs at start-up (and after ``POST /_sim/reset``).
        seed: Seed of the generator that decides which requests fail.
        require_auth: Answer ``/v1`` requests without ``Authorization: Bearer <anything>``
            with 401, as OpenAI does.

    Returns:
        The FastAPI app; its ``state.sim`` is the ``SimState``.
    """
    install_log_filter()
    state = SimState(models, seed)
    app = FastAPI(title="LLM simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = state

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), type_="invalid_request_error")

    def model_object(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "llm-simulator"}

    def unauthorized() -> JSONResponse:
        state.unauthorized += 1
        return error_response(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            type_="invalid_request_error",
        )

    def model_not_found(name: str) -> JSONResponse:
        return error_response(
            404,
            f"The model `{name}` does not exist or you do not have access to it.",
            type_="invalid_request_error",
            code="model_not_found",
        )

    def bad_request(message: str, param: str | None = None) -> JSONResponse:
        return error_response(400, message, type_="invalid_request_error", param=param)

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        if require_auth and not _authorized(request):
            return unauthorized()
        return JSONResponse({"object": "list", "data": [model_object(n) for n in state.models]})

    @app.get("/v1/models/{name:path}")
    async def get_model(request: Request, name: str) -> Response:
        if require_auth and not _authorized(request):
            return unauthorized()
        if name not in state.models:
            return model_not_found(name)
        return JSONResponse(model_object(name))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        if require_auth and not _authorized(request):
            return unauthorized()
        try:
            body = await request.json()
        except ValueError:
            return bad_request("We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return bad_request("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return bad_request("you must provide a model parameter", "model")
        knobs = state.models.get(model)
        if knobs is None:
            state.unknown_model += 1
            return model_not_found(model)
        stream = body.get("stream") is True
        stats = state.stats_for(model)
        stats.requests += 1
        stats.streamed += stream
        messages = body.get("messages")
        try:
            if not isinstance(messages, list) or not messages:
                raise ValueError("'messages' must be a non-empty array")
            texts, question = _message_texts(messages)
        except ValueError as exc:
            return bad_request(str(exc), "messages")
        options = body.get("stream_options")
        include_usage = (
            stream and isinstance(options, dict) and options.get("include_usage") is True
        )
        kind = None
        if knobs.error_rate and state.rng.random() < knobs.error_rate:
            kind = knobs.error_kind
            stats.errors[kind] += 1
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        reply = (
            json_reply(body, texts, question)
            if wants_json(body)
            else _reply(messages, texts, question, knobs)
        )
        content, finish = limit_tokens(reply, max_tokens)
        completion = Completion(model, knobs, content, finish, prompt_tokens(texts), include_usage)
        stats.enter()
        handed_over = False
        try:
            if kind == "hang":
                if await _hang(request, state.closing):
                    stats.disconnects += 1
                    return Response(status_code=499)  # nobody is listening any more
                return error_response(503, "The simulator is shutting down.", type_="server_error")
            if kind in ("rate_limit", "insufficient_quota", "server_error", "unavailable"):
                return injected_error(kind, model, knobs)

            def on_end(finished: bool) -> None:
                stats.leave()
                if finished and kind is None:
                    stats.completed += 1
                    stats.prompt_tokens += completion.prompt_tokens
                    stats.completion_tokens += completion.completion_tokens
                elif not finished and kind is None:
                    stats.disconnects += 1

            if stream:
                handed_over = True
                return TrackedStreamingResponse(
                    completion.events(kind),
                    on_end,
                    media_type="text/event-stream",
                    headers={"cache-control": "no-cache", "x-request-id": completion.id},
                )
            wait = knobs.ttft_ms / 1000
            if knobs.tps:
                wait += completion.completion_tokens / knobs.tps
            await asyncio.sleep(wait)
            if kind == "malformed":
                text = json.dumps(completion.body())
                return Response(text[: len(text) // 2], media_type="application/json")
            if kind == "stream_cut":
                length = len(json.dumps(completion.body()).encode())
                handed_over = True
                return TrackedStreamingResponse(
                    completion.cut_body(),
                    on_end,
                    media_type="application/json",
                    headers={"content-length": str(length)},
                )
            on_end(True)
            handed_over = True
            return JSONResponse(completion.body(), headers={"x-request-id": completion.id})
        finally:
            if not handed_over:
                stats.leave()

    @app.get("/_sim/models")
    async def sim_models() -> dict[str, Any]:
        return {name: knobs.as_dict() for name, knobs in state.models.items()}

    @app.put("/_sim/models/{name:path}")
    async def sim_put_model(request: Request, name: str) -> Response:
        try:
            changes = await request.json() if await request.body() else {}
        except ValueError:
            return bad_request("We could not parse the JSON body of your request.")
        if not isinstance(changes, dict):
            return bad_request("The body must be a JSON object of knobs.")
        try:
            knobs = state.models.get(name, ModelKnobs()).updated(changes)
        except KnobError as exc:
            return bad_request(str(exc))
        state.models[name] = knobs
        return JSONResponse({name: knobs.as_dict()})

    @app.get("/_sim/stats")
    async def sim_stats() -> dict[str, Any]:
        return state.snapshot()

    @app.post("/_sim/reset")
    async def sim_reset() -> dict[str, Any]:
        state.reset()
        return {"models": {name: k.as_dict() for name, k in state.models.items()}}

    return app
