"""Another model provider: any OpenAI-compatible endpoint, by settings or as an ``llm=`` object.

By settings (no code): ``RAG_LLM_BASE_URL``, ``RAG_LLM_API_KEY``, ``RAG_LLM_MODEL`` reach OpenAI,
vLLM, Ollama (``http://127.0.0.1:11434/v1``), LM Studio or a hosted OpenAI-compatible API, with
the retries, fallbacks and circuit breakers of ``FallbackLLM``. A provider with another API
plugs in as any LlamaIndex ``LLM`` object passed to ``TextbookQA(llm=...)``; the one below is
``OpenAILike`` built directly, configured as the service configures its models.
"""

from __future__ import annotations

from llama_index.core.llms.llm import LLM
from llama_index.llms.openai_like import OpenAILike
from pydantic import SecretStr

from rag.settings import Settings


def provider_settings(base: Settings, *, base_url: str, api_key: str, model: str) -> Settings:
    """The service's settings, answering with ``model`` at ``base_url`` (the extractive last)."""
    return base.model_copy(
        update={"llm_base_url": base_url, "llm_api_key": SecretStr(api_key), "llm_model": model}
    )


def build_provider_llm(*, base_url: str, api_key: str, model: str, timeout_s: float = 10.0) -> LLM:
    """One OpenAI-compatible chat model as a LlamaIndex ``LLM`` (no retries of its own)."""
    return OpenAILike(
        model=model,
        api_base=base_url,
        api_key=api_key,
        is_chat_model=True,  # the service sends chat messages
        max_retries=0,
        timeout=timeout_s,
        context_window=16_384,
    )
