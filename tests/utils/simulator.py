"""The LLM simulator (``perf/llm_simulator.py``) on a loopback port, for tests that need a real LLM.

    with run_simulator({"primary": ModelKnobs(ttft_ms=0, tps=0)}) as sim:
        sim.configure("primary", error_rate=1, error_kind="unavailable")
        ...  # point an OpenAI client at sim.v1_url
        assert sim.model_stats("primary")["errors"]["unavailable"] == 1

uvicorn serves it in a daemon thread with its own event loop, so sync tests (``TestClient``) and
async tests (any event loop) can both talk to it over real HTTP. The control calls below are
blocking, but they only ever wait for that other thread, never for the caller's loop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import openai
from llama_index.core.llms.llm import LLM
from pydantic import SecretStr

from perf.llm_simulator import ModelKnobs, SimulatorServer, create_app, server_config
from rag.settings import Settings

AnySettings = TypeVar("AnySettings", bound=Settings)  # the pipeline's or the service's

__all__ = ["ModelKnobs", "Simulator", "openai_clients", "run_simulator"]


class Simulator:
    """A running simulator: its URLs and its ``/_sim`` control endpoints."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=10)

    @property
    def v1_url(self) -> str:
        """The OpenAI-compatible base URL (what ``OpenAILike(api_base=...)`` wants)."""
        return f"{self.base_url}/v1"

    def reset(self) -> None:
        """Start-up models, zero counters, re-seeded error generator."""
        self._http.post("/_sim/reset").raise_for_status()

    def configure(self, name: str, **knobs: Any) -> None:
        """Create model ``name`` or change some of its knobs."""
        self._http.put(f"/_sim/models/{name}", json=knobs).raise_for_status()

    def stats(self) -> dict[str, Any]:
        """The whole ``GET /_sim/stats`` body."""
        reply = self._http.get("/_sim/stats")
        reply.raise_for_status()
        return reply.json()

    def model_stats(self, name: str) -> dict[str, Any]:
        """Counters of one model (all zero for a model that saw no request)."""
        return self.stats()["models"][name]

    def requests(self, name: str) -> int:
        """Requests model ``name`` has received since the last reset."""
        return int(self.model_stats(name)["requests"])

    def settled(self, name: str, timeout_s: float = 5.0) -> dict[str, Any]:
        """Counters of ``name`` once nothing is in flight (a client leaving takes a moment)."""
        deadline = time.monotonic() + timeout_s
        stats = self.model_stats(name)
        while stats["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.02)
            stats = self.model_stats(name)
        return stats

    def close(self) -> None:
        self._http.close()


@contextmanager
def run_simulator(models: dict[str, ModelKnobs], *, seed: int = 1234) -> Iterator[Simulator]:
    """Serve the simulator on a free loopback port until the block ends."""
    app = create_app(models, seed)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = SimulatorServer(server_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the LLM simulator did not start")
        if time.monotonic() > deadline:
            raise RuntimeError("the LLM simulator did not start within 10 s")
        time.sleep(0.01)
    sim = Simulator(f"http://127.0.0.1:{port}")
    try:
        yield sim
    finally:
        sim.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def openai_clients(llm: LLM) -> list[openai.AsyncOpenAI]:
    """The ``AsyncOpenAI`` clients the guarded models of a FallbackLLM own.

    ``FallbackLLM.aclose()`` closes them; tests read them to check that it did.
    """
    routes = getattr(llm, "routes", [])
    clients = (client for route in routes for client in getattr(route, "clients", ()))
    return [client for client in clients if isinstance(client, openai.AsyncOpenAI)]


def simulator_llm_settings(base: AnySettings, sim: Simulator, **overrides: Any) -> AnySettings:
    """``base`` answering through the simulator's ``primary`` then ``backup``, retrying fast."""
    return base.model_copy(
        update={
            "llm_base_url": sim.v1_url,
            "llm_api_key": SecretStr("test"),
            "llm_model": "primary",
            "llm_fallback_models": ["backup"],
            "llm_max_attempts": 2,
            "llm_timeout_s": 10.0,  # generous: the machine may be busy; "hang" tests set less
            "llm_total_budget_s": 20.0,
            "llm_backoff_base_s": 0.01,
            "llm_backoff_max_s": 0.05,
            **overrides,
        }
    )
