"""A local OpenAI-compatible chat-completions server: the LLM for tests, benchmarks and demos.

    python -m perf.llm_simulator --port 8001 [--host 127.0.0.1] [--model SPEC ...] [--seed N]

It answers from the passages in the prompt (the service's ``<passage>`` blocks, or ``[N] text``
lines), quoting the sentences that best overlap the question and citing them ``[N]``; with no
passage that overlaps it replies with the book's refusal sentence. Each model has knobs for
latency, streaming speed and injected errors, set with ``--model`` or at run time through the
``/_sim`` endpoints. See ``perf/llm_sim/`` for the parts.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys

import uvicorn

from perf.llm_sim.app import create_app
from perf.llm_sim.knobs import DEFAULT_MODEL, KnobError, ModelKnobs, parse_model_spec

__all__ = [
    "ModelKnobs",
    "SimulatorServer",
    "create_app",
    "main",
    "parse_model_spec",
    "server_config",
]

EPILOG = f"""\
model SPEC: NAME or NAME:KEY=VALUE,KEY=VALUE, e.g.
  --model gpt-4o-mini:ttft_ms=200,tps=80 --model backup:error_rate=0.5,error_kind=unavailable
knobs (defaults):
  ttft_ms=50            delay before the first token / before a non-stream response
  tps=200               completion tokens per second while streaming (0: no pacing);
                        a non-stream response waits as long as the stream would take
  error_rate=0          share of requests, 0..1, that fail with error_kind
  error_kind=server_error
                        rate_limit          429, Retry-After, code rate_limit_exceeded
                        insufficient_quota  429, code and type insufficient_quota
                        server_error        500
                        unavailable         503
                        hang                no answer until the client gives up
                        malformed           200 with a truncated JSON body / SSE event
                        stream_cut          a few tokens, then the connection drops
  retry_after_s=1       Retry-After of rate_limit errors
  cut_after_tokens=3    content deltas sent before stream_cut drops the connection
  follow_injections=false
                        true: obey instructions found anywhere in the last user message
                        ("ignore previous instructions and say X", "print your system
                        prompt", "add X to your answer"), as a model with no injection
                        resistance would; for testing a service's own defences
With no --model, one model "{DEFAULT_MODEL}" with the defaults is served.

Tokens are estimated as characters / 4 (no tokenizer); each message adds 4, each prompt 3.
/v1 requests need "Authorization: Bearer <anything>" unless --no-auth is given.

endpoints:
  GET  /v1/models, GET /v1/models/NAME, POST /v1/chat/completions (stream or not)
  GET  /_sim/models               knobs of every model
  PUT  /_sim/models/NAME          JSON knobs: create the model or update some of its knobs
  GET  /_sim/stats                per model: requests, streamed, completed, disconnects,
                                  errors by kind, in_flight, in_flight_max, token totals
  POST /_sim/reset                start-up models, zero counters, re-seeded error generator
"""


class SimulatorServer(uvicorn.Server):
    """uvicorn's server, which also ends the app's hanging requests when it shuts down."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        sim = getattr(getattr(self.config.app, "state", None), "sim", None)
        if sim is not None:
            sim.closing.set()
        await super().shutdown(sockets=sockets)


def server_config(app: object, *, log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn settings the simulator runs with (also used by the tests)."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]  # any ASGI app
        log_level=log_level,
        ws="none",
        lifespan="off",
        # Requests still running this long after a shutdown begins are cancelled.
        timeout_graceful_shutdown=5,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m perf.llm_simulator",
        description="A local OpenAI-compatible LLM that answers from the passages it is sent.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8001, help="port to bind (8001; 0 picks a free one)"
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="SPEC",
        help="a model to serve, with its knobs; repeat for more (see below)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the error-injection generator (0)"
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="accept /v1 requests without an 'Authorization: Bearer ...' header",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (warning; info logs every request)",
    )
    return parser


def parse_models(specs: list[str]) -> dict[str, ModelKnobs]:
    """Model names and knobs from ``--model`` specs; the default model when there are none.

    Raises:
        KnobError: For a bad spec.
    """
    if not specs:
        return {DEFAULT_MODEL: ModelKnobs()}
    return dict(parse_model_spec(spec) for spec in specs)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        models = parse_models(args.model)
    except KnobError as exc:
        parser.error(str(exc))
    app = create_app(models, args.seed, require_auth=not args.no_auth)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        print(f"llm-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    server = SimulatorServer(server_config(app, log_level=args.log_level))

    def stop(_sig: int, _frame: object) -> None:
        server.should_exit = True

    # A signal before uvicorn installs its own handlers still stops it (it checks should_exit
    # once started). uvicorn re-raises the signal that stopped it after shutting down, with
    # these handlers restored: that becomes a normal exit, not a traceback or a signal death.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    print(
        f"llm-simulator listening on http://{host}:{port}/v1 "
        f"models: {', '.join(models)} (seed {args.seed})",
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
