"""One log line per LLM attempt: model, outcome, duration, tokens, cost, and whether it fell back.

Real ``OpenAILike`` clients talk to the simulator over loopback; faults come from its knobs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from api.settings import ServiceSettings
from rag.answer.prompts import build_messages
from rag.engine import build_llm
from rag.llm.fallback import FallbackLLM
from rag.llm.usage import cost_usd
from tests.utils.prompts import PASSAGES, QUESTION
from tests.utils.simulator import Simulator

pytestmark = pytest.mark.anyio
PRICES = {"primary": (1.0, 2.0), "backup": (3.0, 4.0)}
MESSAGES = build_messages(QUESTION, PASSAGES)


@pytest.fixture
async def make_llm(sim: Simulator) -> AsyncIterator[Callable[[], FallbackLLM]]:
    sim.reset()
    built: list[FallbackLLM] = []

    def make() -> FallbackLLM:
        settings = ServiceSettings(
            _env_file=None,
            llm_base_url=sim.v1_url,
            llm_api_key="test",
            llm_model="primary",
            llm_fallback_models=["backup"],
            llm_prices=PRICES,
            llm_max_attempts=1,
            llm_timeout_s=2.0,
        )
        llm = build_llm(settings)
        assert isinstance(llm, FallbackLLM)
        built.append(llm)
        return llm

    yield make
    for llm in built:
        await llm.aclose()


def attempts(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    keys = ("model", "outcome", "duration_ms", "fallback", "input_tokens", "output_tokens")
    return [
        {key: getattr(r, key, None) for key in (*keys, "cost_usd")}
        for r in caplog.records
        if r.name == "rag.fallback" and r.getMessage() == "llm attempt"
    ]


async def test_an_answered_attempt_logs_tokens_and_cost(
    make_llm: Callable[[], FallbackLLM], caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="rag.fallback")
    response = await make_llm().achat(MESSAGES)
    [line] = attempts(caplog)
    assert line["model"] == "primary"
    assert line["outcome"] == "ok"
    assert line["fallback"] is False
    assert line["input_tokens"] == response.additional_kwargs["prompt_tokens"] > 0
    assert line["output_tokens"] == response.additional_kwargs["completion_tokens"] > 0
    expected = cost_usd("primary", line["input_tokens"], line["output_tokens"], PRICES)
    assert line["cost_usd"] == expected > 0
    assert line["duration_ms"] >= 0


async def test_a_failed_attempt_then_the_fallback_model(
    sim: Simulator, make_llm: Callable[[], FallbackLLM], caplog: pytest.LogCaptureFixture
):
    sim.configure("primary", error_rate=1, error_kind="unavailable")
    caplog.set_level(logging.INFO, logger="rag.fallback")
    response = await make_llm().achat(MESSAGES)
    assert response.additional_kwargs["model"] == "backup"
    failed, answered = attempts(caplog)
    assert failed["model"] == "primary"
    assert failed["outcome"] != "ok"
    assert failed["fallback"] is False
    assert failed["input_tokens"] is None
    assert answered["model"] == "backup"
    assert answered["outcome"] == "ok"
    assert answered["fallback"] is True
    assert answered["cost_usd"] == cost_usd(
        "backup", answered["input_tokens"], answered["output_tokens"], PRICES
    )


async def test_a_stream_attempt_has_no_tokens_yet(
    make_llm: Callable[[], FallbackLLM], caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="rag.fallback")
    gen = await make_llm().astream_chat(MESSAGES)
    text = "".join([chunk.delta or "" async for chunk in gen])
    assert text
    [line] = attempts(caplog)
    assert (line["model"], line["outcome"], line["fallback"]) == ("primary", "ok", False)
    assert line["input_tokens"] is None
    assert line["cost_usd"] is None
