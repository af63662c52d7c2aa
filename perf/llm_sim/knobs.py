"""Per-model behaviour of the simulator: latency, throughput and injected errors."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ERROR_KINDS = (
    "rate_limit",
    "insufficient_quota",
    "server_error",
    "unavailable",
    "hang",
    "malformed",
    "stream_cut",
)
DEFAULT_MODEL = "sim-gpt"
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class KnobError(ValueError):
    """A model spec or knob update that cannot be applied."""


@dataclass(frozen=True)
class ModelKnobs:
    """How one simulated model behaves.

    Attributes:
        ttft_ms: Delay before the first token (streaming) or before any part of the response
            is sent (non-streaming), in milliseconds.
        tps: Completion tokens per second while streaming; a non-streaming response also waits
            the time the whole completion would take to stream. ``0`` means no pacing.
        error_rate: Probability, 0..1, that a request fails with ``error_kind``.
        error_kind: One of ``ERROR_KINDS``.
        retry_after_s: The ``Retry-After`` a ``rate_limit`` error asks for, in seconds.
        cut_after_tokens: Content deltas a ``stream_cut`` response sends before it drops the
            connection.
        follow_injections: Obey instructions found anywhere in the last user message, as a
            model with no injection resistance would (see ``perf.llm_sim.obey``).
    """

    ttft_ms: float = 50.0
    tps: float = 200.0
    error_rate: float = 0.0
    error_kind: str = "server_error"
    retry_after_s: float = 1.0
    cut_after_tokens: int = 3
    follow_injections: bool = False

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "tps", "retry_after_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise KnobError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise KnobError(f"error_rate must be between 0 and 1, got {self.error_rate!r}")
        if self.error_kind not in ERROR_KINDS:
            raise KnobError(
                f"error_kind must be one of {', '.join(ERROR_KINDS)}, got {self.error_kind!r}"
            )
        if self.cut_after_tokens < 0:
            raise KnobError(f"cut_after_tokens must be >= 0, got {self.cut_after_tokens!r}")

    def updated(self, changes: Mapping[str, Any]) -> ModelKnobs:
        """A copy with ``changes`` applied; values may be strings (from the command line).

        Raises:
            KnobError: For an unknown knob or a value of the wrong type or range.
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        converted: dict[str, Any] = {}
        for key, raw in changes.items():
            if key not in fields:
                raise KnobError(f"unknown knob {key!r}; knobs are {', '.join(fields)}")
            converted[key] = _convert(key, fields[key].type, raw)
        return dataclasses.replace(self, **converted)

    def as_dict(self) -> dict[str, Any]:
        """The knobs as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _convert(key: str, type_name: object, raw: object) -> object:
    """Coerce one knob value to its field type (annotations are strings here)."""
    try:
        if type_name == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in _BOOL_WORDS:
                return _BOOL_WORDS[raw.strip().lower()]
            raise TypeError
        if type_name == "str":
            if not isinstance(raw, str):
                raise TypeError
            return raw
        if isinstance(raw, bool):
            raise TypeError
        if type_name == "int":
            value = float(raw)  # type: ignore[arg-type]  # a non-number raises TypeError
            if not value.is_integer():
                raise TypeError
            return int(value)
        return float(raw)  # type: ignore[arg-type]  # a non-number raises TypeError
    except (TypeError, ValueError):
        raise KnobError(f"{key} must be a {type_name}, got {raw!r}") from None


def parse_model_spec(spec: str) -> tuple[str, ModelKnobs]:
    """Read ``name`` or ``name:key=value,key=value`` into a model name and its knobs.

    A name may itself contain ``:`` (``llama3:8b``); only a last ``:`` followed by
    ``key=value`` pairs starts the knobs.

    Raises:
        KnobError: For an empty name or a bad knob.
    """
    name, sep, rest = spec.rpartition(":")
    pairs = [item.strip() for item in rest.split(",") if item.strip()] if sep else []
    if not sep or not pairs or not all("=" in pair for pair in pairs):
        name, pairs = spec, []
    name = name.strip()
    if not name:
        raise KnobError(f"model spec {spec!r} has no name")
    changes = dict(pair.split("=", 1) for pair in pairs)
    return name, ModelKnobs().updated({k.strip(): v.strip() for k, v in changes.items()})
