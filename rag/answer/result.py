"""What an answer is made of: sources, the result, stream events, and the citation check.

``collect`` keeps the final result of a stream of events (the JSON answer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from llama_index.core.schema import NodeWithScore

from rag.answer.prompts import NOT_COVERED, Passage, cited_indexes, is_not_covered, repair_citations
from rag.safety.answer_guard import AnswerGuard
from rag.safety.injection import quarantine
from rag.safety.markdown import sanitize_markdown, snippet_text

SNIPPET_CHARS = 300


@dataclass(frozen=True)
class SourceRef:
    """A passage given to the answerer, as the HTTP contract lists it."""

    index: int
    title: str
    url: str
    section: str
    snippet: str
    score: float
    source_path: str | None


@dataclass
class AnswerResult:
    """An answer with its sources and timings."""

    answer: str
    sources: list[SourceRef]
    model: str
    degraded: bool = False
    retrieval_ms: float = 0.0
    generation_ms: float = 0.0
    cached: bool = False
    usage: dict[str, Any] = field(
        default_factory=lambda: {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "estimated": False,
        }
    )

    def sources_json(self) -> list[dict[str, Any]]:
        """Sources as plain dicts."""
        return [asdict(source) for source in self.sources]


@dataclass(frozen=True)
class StreamEvent:
    """One step of a streamed answer: the sources, a text delta, or the final result."""

    sources: list[SourceRef] | None = None
    delta: str | None = None
    result: AnswerResult | None = None


async def collect(events: AsyncIterator[StreamEvent]) -> AnswerResult:
    """The final result of an event stream (the JSON answer)."""
    result: AnswerResult | None = None
    async for event in events:
        if event.result is not None:
            result = event.result
    if result is None:  # pragma: no cover - every stream ends with its result
        raise RuntimeError("the answer stream ended without a result")
    return result


def source_ref(index: int, item: NodeWithScore) -> SourceRef:
    """A retrieved node as the contract's source entry."""
    meta = item.node.metadata
    # the reader sees the snippet: no instruction-like text, no markup that could act
    text = " ".join(snippet_text(quarantine(item.node.get_content())).split())
    return SourceRef(
        index=index,
        title=str(meta.get("title", "")),
        url=str(meta.get("url", "")),
        section=str(meta.get("section", "")),
        snippet=text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else ""),
        score=round(float(item.score or 0.0), 4),
        source_path=meta.get("source_path"),
    )


def passages_of(nodes: list[NodeWithScore]) -> list[Passage]:
    """The numbered passages an LLM is given, in rank order."""
    return [
        Passage(
            index=i,
            title=str(n.node.metadata.get("title", "")),
            section=str(n.node.metadata.get("section", "")),
            text=n.node.get_content(),
        )
        for i, n in enumerate(nodes, start=1)
    ]


def finish_answer(
    text: str,
    nodes: list[NodeWithScore],
    model: str,
    *,
    guard: AnswerGuard | None = None,
    sources: list[SourceRef] | None = None,
) -> AnswerResult:
    """Check the answer and its citations against the passages given.

    ``guard`` (the request's ``AnswerGuard``) refuses a prompt leak, removes planted codes and
    sanitises the Markdown; without one, the Markdown is still sanitised (relative links only).
    A refusal carries no sources. ``sources`` are the nodes' entries when already built.
    """
    checked = guard.check(text) if guard is not None else sanitize_markdown(text)
    if checked is None or is_not_covered(checked) or not checked.strip():
        return AnswerResult(answer=NOT_COVERED, sources=[], model=model)
    answer = repair_citations(checked, set(range(1, len(nodes) + 1)))
    if sources is None:
        sources = [source_ref(i, n) for i, n in enumerate(nodes, start=1)]
    if not cited_indexes(answer):  # an answer must rest on at least one cited source
        return AnswerResult(answer=NOT_COVERED, sources=[], model=model)
    return AnswerResult(answer=answer, sources=sources, model=model)
