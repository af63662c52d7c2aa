"""Helpers of the metrics tests: settings with the simulator as LLM, reading a scrape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from rag.settings import Settings
from tests.utils.simulator import Simulator

PRIMARY, BACKUP = "primary", "backup"
#: USD per million tokens: dear, so that a few answers cost a visible amount.
PRICES = {PRIMARY: (100.0, 400.0), BACKUP: (50.0, 200.0)}


def llm_settings(base: Settings, sim: Simulator, **overrides: Any) -> Settings:
    """``base`` answering through the simulator's ``primary`` then ``backup``, retrying fast."""
    return base.model_copy(
        update={
            "llm_base_url": sim.v1_url,
            "llm_api_key": SecretStr("test"),
            "llm_model": PRIMARY,
            "llm_fallback_models": [BACKUP],
            "llm_max_attempts": 2,
            "llm_timeout_s": 10.0,  # generous: the machine may be busy; "hang" tests set less
            "llm_total_budget_s": 20.0,
            "llm_backoff_base_s": 0.01,
            "llm_backoff_max_s": 0.05,
            "llm_prices": PRICES,
            **overrides,
        }
    )


def parse(text: str) -> dict[str, Metric]:
    """A scrape's families by name (counters under their name without ``_total``)."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: Iterable[Metric], sample: str, **labels: str) -> float:
    """Sum of the samples called ``sample`` whose labels include ``labels``."""
    return sum(
        item.value
        for family in families
        for item in family.samples
        if item.name == sample and all(item.labels.get(k) == v for k, v in labels.items())
    )
