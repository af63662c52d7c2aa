"""The generation step: the model that answers, its checked deltas, and the priced result.

``answering_llm`` picks the configured model, or the fallback (the extractive answerer) once the
daily budget is spent; the answer is then flagged degraded. A ``Generation`` calls the model once
for a prompt: the extractive answerer reads the prompt's passages directly (one worker thread),
a model is called streaming when deltas are wanted. Its deltas are the text once
``rag.safety.answer_guard`` has checked it; ``Generation.result`` is the checked answer with the
model, tokens and cost of the call, which are reported and added to the budget.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from llama_index.core.llms.llm import LLM
from llama_index.core.schema import NodeWithScore

from rag.answer.prompts import Prompt
from rag.answer.result import AnswerResult, SourceRef, finish_answer
from rag.llm.budget import DailyBudget
from rag.llm.models import EXTRACTIVE_MODEL, ExtractiveLLM
from rag.llm.usage import cost_usd, count_tokens, estimate_prompt_tokens
from rag.observer import PipelineObserver
from rag.safety.answer_guard import AnswerGuard

_PIECE_RE = re.compile(r"\S+\s*|\s+")


def answering_llm(llm: LLM, fallback_llm: LLM, budget: DailyBudget | None) -> tuple[LLM, bool]:
    """The model for the next answer, and whether it is the fallback because of the budget."""
    if budget is not None and llm is not fallback_llm and budget.exceeded():
        return fallback_llm, True
    return llm, False


class Generation:
    """One call of ``llm`` for ``prompt``: its text in ``parts``, its extras in ``extra``.

    Args:
        llm: the model that answers (from ``answering_llm``).
        prompt: the question and its numbered passages.
        guard: checks the text (system-prompt leaks, markup, links outside ``hosts``).
        observer: told of the first token of a stream and of the tokens and cost of the call.
        started: ``time.perf_counter()`` when the request began (for the first token's delay).
    """

    def __init__(
        self,
        llm: LLM,
        prompt: Prompt,
        guard: AnswerGuard,
        *,
        observer: PipelineObserver,
        started: float,
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.guard = guard
        self.observer = observer
        self.started = started
        self.extra: dict[str, Any] = {}
        self.parts: list[str] = []

    async def deltas(self, *, stream: bool) -> AsyncIterator[str]:
        """Call the model; when ``stream``, yield the text's checked deltas."""
        llm, prompt, extra, parts = self.llm, self.prompt, self.extra, self.parts
        if isinstance(llm, ExtractiveLLM):
            text = await asyncio.to_thread(llm.answer_passages, prompt.question, prompt.passages)
            pieces = _PIECE_RE.findall(text) if stream else [text]
            chunks: AsyncIterator[tuple[str, Mapping[str, Any]]] = _replay(pieces)
        elif stream:
            chunks = _deltas(await llm.astream_chat(prompt.messages))
        else:
            response = await llm.achat(prompt.messages)
            chunks = _replay([response.message.content or ""], response.additional_kwargs)
        shield = self.guard.stream() if stream else None
        async for delta, kwargs in chunks:
            extra.update(kwargs)
            if not delta:
                continue
            if not parts and stream:
                self.observer.llm_first_token(
                    model=str(extra.get("model", llm.metadata.model_name)),
                    seconds=time.perf_counter() - self.started,
                )
            parts.append(delta)
            if shield is not None and (safe := shield.feed(delta)):
                yield safe
        if shield is not None and (tail := shield.finish()):
            yield tail

    def result(
        self,
        nodes: list[NodeWithScore],
        sources: list[SourceRef],
        *,
        over_budget: bool,
        prices: Mapping[str, Sequence[float]],
        budget: DailyBudget | None,
    ) -> AnswerResult:
        """The checked answer, with the model, degraded flag, tokens and cost of the call.

        Tokens come from the API; when a model answered without reporting usage (some streams),
        they are counted locally and flagged ``estimated``. The extractive answerer costs nothing.
        The cost is reported to the observer and added to ``budget``.
        """
        self.extra.setdefault("model", self.llm.metadata.model_name)
        extra = self.extra
        text = "".join(self.parts)
        model = str(extra["model"])
        result = finish_answer(text, nodes, model, guard=self.guard, sources=sources)
        result.degraded = over_budget or bool(extra.get("degraded", False))
        if model == EXTRACTIVE_MODEL:
            return result
        prompt_tokens = int(extra.get("prompt_tokens", 0) or 0)
        completion = int(extra.get("completion_tokens", 0) or 0)
        if not prompt_tokens:
            prompt_tokens = estimate_prompt_tokens(self.prompt.messages)
            completion = count_tokens(text)
            result.usage["estimated"] = True
        cost = cost_usd(model, prompt_tokens, completion, prices)
        result.usage.update(
            prompt_tokens=prompt_tokens, completion_tokens=completion, cost_usd=cost
        )
        self.observer.llm_usage(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion, cost_usd=cost
        )
        if budget is not None:
            budget.add(cost)
        return result


async def _replay(
    texts: Sequence[str], kwargs: Mapping[str, Any] | None = None
) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
    for text in texts:
        yield text, kwargs or {}


async def _deltas(gen: AsyncIterator[Any]) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
    async for chunk in gen:
        yield chunk.delta or "", chunk.additional_kwargs
