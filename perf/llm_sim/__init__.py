"""A local OpenAI-compatible LLM simulator; ``perf.llm_simulator`` is its entry point."""
