"""Helpers of the metrics tests: settings with the simulator as LLM, reading a scrape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from api.settings import ServiceSettings
from tests.utils.simulator import Simulator, simulator_llm_settings

PRIMARY, BACKUP = "primary", "backup"
#: USD per million tokens: dear, so that a few answers cost a visible amount.
PRICES = {PRIMARY: (100.0, 400.0), BACKUP: (50.0, 200.0)}


def llm_settings(base: ServiceSettings, sim: Simulator, **overrides: Any) -> ServiceSettings:
    """``base`` answering through the simulator's ``primary`` then ``backup``, retrying fast."""
    return simulator_llm_settings(base, sim, **{"llm_prices": PRICES, **overrides})


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
