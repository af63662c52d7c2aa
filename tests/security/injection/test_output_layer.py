"""The output checks alone, when the input filter has missed everything and the model obeys.

Each payload is put in a prompt *without* the instruction filter (as if ``rag.safety.injection`` did
not exist), sent over HTTP to the simulator model that obeys injections, and what it writes goes
through the service's own output path: ``finish_answer`` with the request's ``AnswerGuard``
(prompt-leak refusal, planted-code removal, Markdown sanitising, citation check), and the
``StreamGuard`` for the streamed deltas.

What must hold for every payload: no system-prompt text or canary, no executable HTML, no image,
no link off the book's site. The payload's own canary must also be gone when it came with the
question (it is in no passage, so it is a planted code); when it sits in a passage, the output
checks cannot tell it from a quote, and keeping it out is the input filter's job (the full
suite checks that).
"""

from __future__ import annotations

from html import escape

import openai
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.schema import NodeWithScore, TextNode

from rag.answer.prompts import (
    PROMPT_FRAMING,
    SELECTION_TITLE,
    Passage,
    new_boundary,
    new_canary,
    system_prompt,
)
from rag.answer.result import finish_answer
from rag.safety.answer_guard import AnswerGuard
from tests.security.injection.harness import (
    BOOK_HOST,
    HONEST,
    OBEDIENT,
    Payload,
    answer_problems,
    load_payloads,
    markup_problems,
)
from tests.utils.prompts import PASSAGES
from tests.utils.simulator import Simulator

pytestmark = pytest.mark.anyio

PAYLOAD_IDS = [entry["id"] for entry in load_payloads()]


def unfiltered_prompt(payload: Payload) -> tuple[list[ChatMessage], list[Passage]]:
    """The service's prompt for ``payload`` as it would be without the instruction filter."""
    book = [Passage(i + 2, p.title, p.section, p.text) for i, p in enumerate(PASSAGES)]
    request = payload.request()
    if payload.vector == "question":
        passages = [Passage(i + 1, p.title, p.section, p.text) for i, p in enumerate(PASSAGES)]
    else:
        title = SELECTION_TITLE if payload.vector == "selected_text" else payload.title
        first = Passage(1, title, "", f"{payload.context}\n\n{payload.text}".strip())
        passages = [first] if payload.selection_only else [first, *book]
    boundary = new_boundary()
    blocks = "\n".join(
        f'<passage index="{p.index}" title="{escape(p.title)}" section="{escape(p.section)}">\n'
        f"{p.text}\n</passage>"
        for p in passages
    )
    user = (
        f"{PROMPT_FRAMING}\n<data-{boundary}>\n<passages>\n{blocks}\n</passages>\n"
        f"</data-{boundary}>\n\n<question>\n{request['question']}\n</question>"
    )
    system = system_prompt(boundary=boundary, canary=new_canary())
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content=system),
        ChatMessage(role=MessageRole.USER, content=user),
    ]
    return messages, passages


async def model_reply(sim: Simulator, model: str, messages: list[ChatMessage]) -> list[str]:
    """The model's streamed deltas (the non-streamed reply is their concatenation)."""
    wire = [{"role": m.role.value, "content": m.content or ""} for m in messages]
    async with openai.AsyncOpenAI(base_url=sim.v1_url, api_key="t", max_retries=0) as client:
        stream = await client.chat.completions.create(model=model, messages=wire, stream=True)  # type: ignore[arg-type]  # plain dicts
        return [c.delta.content or "" async for chunk in stream for c in chunk.choices]


@pytest.mark.parametrize("payload_id", PAYLOAD_IDS)
async def test_output_checks_hold_when_the_model_obeys(
    injection_sim: Simulator, payloads: dict[str, Payload], payload_id: str
) -> None:
    payload = payloads[payload_id]
    messages, passages = unfiltered_prompt(payload)
    deltas = await model_reply(injection_sim, OBEDIENT, messages)
    guard = AnswerGuard.for_messages(messages, hosts=(BOOK_HOST,))
    nodes = [NodeWithScore(node=TextNode(text=p.text), score=1.0) for p in passages]
    result = finish_answer("".join(deltas), nodes, OBEDIENT, guard=guard)

    forbidden = [payload.canary] if payload.vector == "question" else []
    assert answer_problems(result.answer, forbidden) == [], result.answer
    shield, shown = guard.stream(), ""
    for delta in deltas:
        shown += shield.feed(delta)
        assert markup_problems(shown) == [], shown
    shown += shield.finish()
    assert answer_problems(shown, forbidden) == [], shown


async def test_the_model_really_obeys_most_payloads(
    injection_sim: Simulator, payloads: dict[str, Payload]
) -> None:
    """Without the filter, the obedient model takes the bait: the test above is not vacuous."""
    obeyed = []
    for payload in payloads.values():
        messages, _ = unfiltered_prompt(payload)
        honest = "".join(await model_reply(injection_sim, HONEST, messages))
        obedient = "".join(await model_reply(injection_sim, OBEDIENT, messages))
        if obedient != honest:
            obeyed.append(payload.id)
    instructions = [p.id for p in payloads.values() if "LLM01" in p.owasp or "LLM07" in p.owasp]
    missed = sorted(set(instructions) - set(obeyed))
    assert len(missed) <= len(instructions) // 10, missed
