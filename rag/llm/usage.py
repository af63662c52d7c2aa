"""Tokens and dollars: prices per model, local estimates when an API reports no usage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.utils import get_tokenizer

#: USD per million tokens (input, output). Operators override it with RAG_LLM_PRICES (JSON).
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


def count_tokens(text: str) -> int:
    """Tokens of ``text`` by the cl100k tokenizer bundled with LlamaIndex (no download)."""
    return len(get_tokenizer()(text))


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """OpenAI's chat accounting, approximately: content tokens plus a few per message."""
    return sum(count_tokens(m.content or "") + 4 for m in messages) + 3


def cost_usd(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: Mapping[str, Sequence[float]],
) -> float:
    """Dollar cost of one call; 0 for a model without a price (the extractive answerer)."""
    price = prices.get(model)
    if price is None:
        return 0.0
    per_input, per_output = price
    return round((prompt_tokens * per_input + completion_tokens * per_output) / 1_000_000, 8)
