"""How hard one answer tries a model: attempts, timeouts, backoff and the answer's deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from rag.llm.errors import is_retryable, retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one model, and how long an answer may take in all."""

    max_attempts: int = 3
    attempt_timeout_s: float = 20.0
    total_budget_s: float = 30.0
    backoff_base_s: float = 0.25
    backoff_max_s: float = 4.0
    max_retry_after_s: float = 10.0
    max_in_flight: int = 16
    queue_wait_s: float = 2.0


@dataclass(frozen=True)
class CallPlan:
    """What one answer allows a model.

    The policy, the answer's deadline (on ``time.monotonic``), and whether the answer moved on to
    this model from an earlier one (the attempt log's ``fallback``).
    """

    policy: RetryPolicy
    deadline: float
    fallback: bool = False


def retry_arguments(plan: CallPlan, *, probe: bool) -> dict[str, Any]:
    """Tenacity's arguments for one model's call.

    Transient errors only, with jittered backoff or the ``Retry-After`` the server asked for;
    stop at the attempt limit (one for a breaker's probe) or when that wait outlasts the deadline.
    """
    policy, deadline = plan.policy, plan.deadline
    attempts = stop_after_attempt(1 if probe else policy.max_attempts)
    backoff = wait_random_exponential(multiplier=policy.backoff_base_s, max=policy.backoff_max_s)

    def stop(state: RetryCallState) -> bool:
        if attempts(state):
            return True
        asked = retry_after_s(state.outcome.exception() if state.outcome else None)
        if asked is None:
            return False
        return time.monotonic() + min(asked, policy.max_retry_after_s) >= deadline

    def wait(state: RetryCallState) -> float:
        asked = retry_after_s(state.outcome.exception() if state.outcome else None)
        delay = min(asked, policy.max_retry_after_s) if asked is not None else backoff(state)
        return max(0.0, min(delay, deadline - time.monotonic()))

    return {"stop": stop, "wait": wait, "retry": retry_if_exception(is_retryable), "reraise": True}
