"""Follow-up questions made standalone for retrieval, from the conversation so far.

"and how do I list them?" means nothing to a retriever. With an LLM configured, the model rewrites
the follow-up with LlamaIndex's condense prompt. Offline (the extractive default), a follow-up is
recognised by its pronouns, its opening ("and", "what about") or its lack of content words, and the
previous question is prepended, so retrieval sees the topic the reader is still talking about.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.chat_engine.condense_plus_context import DEFAULT_CONDENSE_PROMPT_TEMPLATE
from llama_index.core.llms.llm import LLM

from rag.answer.extractive import named_terms
from rag.text import terms

logger = logging.getLogger(__name__)

_ANAPHORA = frozenset(
    {
        "it",
        "its",
        "it's",
        "this",
        "that",
        "these",
        "those",
        "they",
        "them",
        "their",
        "theirs",
        "he",
        "she",
        "his",
        "her",
        "one",
        "ones",
        "there",
        "such",
        "same",
        "former",
        "latter",
    }
)
_OPENERS = ("and ", "but ", "also ", "so ", "what about", "how about", "then ", "why not")
_WORD_RE = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class Turn:
    """One exchange of the conversation: the reader's question and the answer given."""

    question: str
    answer: str


#: Words that refer back only when they stand alone: "call one", but "one node", "the same topic".
_DETERMINERS = frozenset({"one", "ones", "same", "such"})
#: A question with more topic words than this carries its own topic, pronouns or not.
_SELF_CONTAINED_TERMS = 4


def is_follow_up(question: str) -> bool:
    """True when a question leans on what came before (pronouns, openers, no topic words).

    A pronoun makes a follow-up only when its referent cannot be in the question itself: the
    question is short, or fewer than two topic words come before the pronoun. "How does a
    walking controller use it?" leans on the conversation; "What is a PID loop and why does it
    oscillate?" does not.
    """
    lowered = question.strip().lower()
    if lowered.startswith(_OPENERS):
        return True
    words = _WORD_RE.findall(lowered)
    content = terms(question)
    for i, word in enumerate(words):
        if word not in _ANAPHORA:
            continue
        if word in _DETERMINERS and i + 1 < len(words) and terms(words[i + 1]):
            continue  # "one battery charge": a number or determiner, not a pronoun
        before = terms(" ".join(words[:i]))
        if len(content) <= _SELF_CONTAINED_TERMS or len(before) < 2:
            return True
        break
    return not content or (len(content) == 1 and not named_terms(question))


def condense(question: str, history: Sequence[Turn], *, max_turns: int = 2) -> str:
    """A standalone version of ``question`` for retrieval, without a model.

    The previous questions are prepended while they are follow-ups themselves (at most
    ``max_turns``), so a chain of follow-ups keeps its topic.
    """
    if not history or not is_follow_up(question):
        return question
    context: list[str] = []
    for turn in reversed(history[-max_turns:]):
        context.insert(0, turn.question)
        if not is_follow_up(turn.question):
            break
    return " ".join([*context, question])


async def condense_with_llm(llm: LLM, question: str, history: Sequence[Turn]) -> str:
    """A standalone question written by the model (LlamaIndex's condense prompt).

    Falls back to ``condense`` when the model fails or answers with nothing usable.
    """
    if not history:
        return question
    transcript = "\n".join(f"user: {t.question}\nassistant: {t.answer}" for t in history)
    prompt = DEFAULT_CONDENSE_PROMPT_TEMPLATE.format(chat_history=transcript, question=question)
    try:
        response = await llm.achat([ChatMessage(role=MessageRole.USER, content=prompt)])
    except Exception:
        logger.warning("condensing with the model failed; using the offline rule", exc_info=True)
        return condense(question, history)
    text = (response.message.content or "").strip()
    if (
        not text
        or response.additional_kwargs.get("degraded")
        or len(text) > 4 * len(question) + 200
    ):
        return condense(question, history)
    return text
