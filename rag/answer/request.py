"""What the pipeline is asked: an ``AnswerRequest``, and the recent turns of its history it sees."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.condense import Turn
from rag.llm.usage import count_tokens
from rag.retrieval.scopes import BookScope


@dataclass(frozen=True)
class AnswerRequest:
    """One question to answer, as the routes hand it to the pipeline.

    Args:
        question: the reader's question (already cleaned by the API).
        history: the conversation so far, oldest first.
        selected_text: text the reader selected on a page, if any.
        selection_only: answer from the selection alone (no retrieval).
        page_url: the page the selection is on.
        scope: the reader's doc version and locale (``resolve_scope``); None searches everything.
        stream: the answer's text is wanted as deltas (the model is called streaming).
    """

    question: str
    history: Sequence[Turn] = ()
    selected_text: str | None = None
    selection_only: bool = False
    page_url: str | None = None
    scope: BookScope | None = None
    stream: bool = False


def recent_turns(history: Sequence[Turn], *, max_turns: int, max_tokens: int) -> list[Turn]:
    """The most recent turns that fit the history limits (turns and tokens)."""
    kept: list[Turn] = []
    budget = max_tokens
    for turn in reversed(history[-max_turns:] if max_turns else []):
        budget -= count_tokens(turn.question) + count_tokens(turn.answer)
        if budget < 0:
            break
        kept.insert(0, turn)
    return kept
