"""Moving-window rate limits per session and per client address, shared through Redis.

Three policies (``limits``' async API, moving window):

- ``address``: every reader route, per client address (``RAG_RATE_LIMIT_ADDRESS``, 5000/day);
- ``new_session``: questions without a ``session_id``, per address (``RAG_RATE_LIMIT_NEW_SESSIONS``,
  120/hour), so minting sessions cannot outrun the per-session limit;
- ``session``: questions, per signed session id (``RAG_RATE_LIMIT_SESSION``, 10/minute).

Counters live in this process by default and in Redis when ``RAG_REDIS_URL`` is set, shared by
every instance. When Redis cannot be reached the limiter fails over to in-process counters (each
instance then enforces the limits on its own), logs a warning once, and tries Redis again after
``SHARED_RETRY_S``: readers keep getting answers, and abuse stays bounded by the instance count.

A refusal is 429 with ``Retry-After`` and the IETF ``RateLimit-Policy``/``RateLimit`` headers
(draft-ietf-httpapi-ratelimit-headers); successful responses carry the two RateLimit headers too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import limits
from fastapi import HTTPException, Request, Response
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from api.schemas import ChatRequest
from api.security.client_address import ClientAddressResolver, limit_key
from api.security.session_ids import SessionIdSigner, refuse_invalid_session
from api.settings import ServiceSettings

logger = logging.getLogger(__name__)

SHARED_RETRY_S = 5.0
REDIS_TIMEOUT_S = 0.5
_STORAGE_ERRORS = (RedisError, StorageError, OSError, TimeoutError)


def _noop(*_: object) -> None:
    return None


@dataclass(frozen=True)
class RateLimitHooks:
    """Callbacks for metrics.

    ``on_limited(scope)`` runs once per refused request, ``on_storage_error()`` once per failed
    call to the shared store.
    """

    on_limited: Callable[[str], None] = _noop
    on_storage_error: Callable[[], None] = _noop


@dataclass(frozen=True)
class Policy:
    """A named limit, e.g. ``session`` at 10 per minute."""

    name: str
    item: limits.RateLimitItem

    @property
    def header(self) -> str:
        """This policy as an item of the ``RateLimit-Policy`` header."""
        return f'"{self.name}";q={self.item.amount};w={self.item.get_expiry()}'


@dataclass(frozen=True)
class Verdict:
    """The outcome of one hit: allowed or not, what is left, seconds until a slot frees."""

    policy: Policy
    allowed: bool
    remaining: int
    reset_s: int


@dataclass(frozen=True)
class Policies:
    """The three policies of the service."""

    session: Policy
    address: Policy
    new_session: Policy

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Policies:
        """Parse the limits the settings give (validated there)."""
        return cls(
            session=Policy("session", limits.parse(settings.rate_limit_session)),
            address=Policy("address", limits.parse(settings.rate_limit_address)),
            new_session=Policy("new_session", limits.parse(settings.rate_limit_new_sessions)),
        )


class RateLimiter:
    """Moving-window counters on one store, failing over to in-process counters if it fails."""

    def __init__(
        self,
        policies: Policies,
        storage: Storage,
        *,
        shared: bool = False,
        hooks: RateLimitHooks | None = None,
        shared_retry_s: float = SHARED_RETRY_S,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.policies = policies
        self.hooks = hooks or RateLimitHooks()
        self.shared = shared
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._local = MemoryStorage() if shared else storage
        self._local_strategy = MovingWindowRateLimiter(self._local) if shared else self._strategy
        self._retry_s = shared_retry_s
        self._down_until: float | None = None
        self._pool = pool

    @property
    def degraded(self) -> bool:
        """True while the shared store is unreachable and counting is per process."""
        return self._down_until is not None

    async def hit(self, policy: Policy, key: str) -> Verdict:
        """Count one request under ``key``; the verdict says whether it is allowed."""
        if self._down_until is not None and time.monotonic() < self._down_until:
            return await self._hit(self._local_strategy, policy, key)
        try:
            verdict = await self._hit(self._strategy, policy, key)
        except _STORAGE_ERRORS as exc:
            if not self.shared:
                raise
            self._shared_failed(exc)
            return await self._hit(self._local_strategy, policy, key)
        if self._down_until is not None:
            self._shared_restored()
        return verdict

    async def check(self) -> bool:
        """True when the store answers (always, for in-process counters).

        A failed check switches to in-process counting at once, as a failed hit does.
        """
        if not self.shared:
            return True
        try:
            ok = bool(await self._storage.check())
        except _STORAGE_ERRORS as exc:
            self._shared_failed(exc)
            return False
        if not ok:
            self._shared_failed(ConnectionError("no answer to PING"))
        elif self._down_until is not None:
            self._shared_restored()
        return ok

    async def aclose(self) -> None:
        """Stop the in-process expiry task and close the Redis connections."""
        for storage in {id(s): s for s in (self._storage, self._local)}.values():
            timer = getattr(storage, "timer", None)
            if timer is not None and not timer.done():
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
        if self._pool is not None:
            await self._pool.aclose()

    async def _hit(self, strategy: MovingWindowRateLimiter, policy: Policy, key: str) -> Verdict:
        allowed = await strategy.hit(policy.item, policy.name, key)
        stats = await strategy.get_window_stats(policy.item, policy.name, key)
        reset_s = max(0, math.ceil(stats.reset_time - time.time()))
        remaining = max(0, stats.remaining) if allowed else 0
        return Verdict(policy, allowed, remaining, reset_s)

    def _shared_restored(self) -> None:
        self._down_until = None
        logger.warning("rate-limit store reachable again: limits are shared again")

    def _shared_failed(self, exc: BaseException) -> None:
        self.hooks.on_storage_error()
        if self._down_until is None:
            logger.warning(
                "rate-limit store unreachable (%s: %s): counting in this process until it is "
                "back; each instance now enforces the limits on its own",
                type(exc).__name__,
                exc,
            )
        self._down_until = time.monotonic() + self._retry_s


def build_rate_limiter(
    settings: ServiceSettings,
    hooks: RateLimitHooks | None = None,
    *,
    shared_retry_s: float = SHARED_RETRY_S,
) -> RateLimiter:
    """In-process counters, or Redis (``RAG_REDIS_URL``) with in-process failover.

    Args:
        settings: the limits, the Redis URL and its key prefix.
        hooks: metrics callbacks.
        shared_retry_s: after Redis fails, how long to count in-process before trying it again.
    """
    policies = Policies.from_settings(settings)
    if not settings.redis_url:
        return RateLimiter(policies, MemoryStorage(), hooks=hooks)
    pool = ConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),  # one retry replaces a connection Redis closed
    )
    storage = RedisStorage(
        f"async+{settings.redis_url}",
        implementation="redispy",
        key_prefix=settings.rate_limit_key_prefix,
        connection_pool=pool,  # type: ignore[arg-type]  # limits types the pool as the sync redis one
    )
    return RateLimiter(
        policies, storage, shared=True, hooks=hooks, shared_retry_s=shared_retry_s, pool=pool
    )


def rate_limit_headers(verdicts: Sequence[Verdict]) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` for the policies a request was counted under."""
    return {
        "RateLimit-Policy": ", ".join(v.policy.header for v in verdicts),
        "RateLimit": ", ".join(
            f'"{v.policy.name}";r={v.remaining};t={v.reset_s}' for v in verdicts
        ),
    }


_REFUSALS = {
    "session": "This conversation has reached its limit of {limit}; please wait {wait} s.",
    "address": "Too many requests from your network (limit {limit}); try again in {wait} s.",
    "new_session": "Too many new conversations from your network (limit {limit}); continue "
    "an existing conversation or try again in {wait} s.",
}


@dataclass
class RateLimitState:
    """The verdicts a request collected; their headers go on the response."""

    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        """The RateLimit headers for the response."""
        return rate_limit_headers(self.verdicts)

    async def count(self, limiter: RateLimiter, policy: Policy, key: str) -> None:
        """Count the request under ``policy``; refuse it with 429 when over the limit."""
        verdict = await limiter.hit(policy, key)
        self.verdicts.append(verdict)
        if verdict.allowed:
            return
        limiter.hooks.on_limited(policy.name)
        wait = max(1, verdict.reset_s)
        raise HTTPException(
            429,
            detail=_REFUSALS[policy.name].format(limit=policy.item, wait=wait),
            headers={**self.headers, "Retry-After": str(wait)},
        )


@dataclass(frozen=True)
class AdmittedQuestion:
    """The question, the conversation it belongs to, and the RateLimit headers for its response.

    The routes take the question from here, so its body is read and validated once.
    """

    id: str
    new: bool
    headers: dict[str, str]
    body: ChatRequest


def _address_key(request: Request) -> str:
    resolver: ClientAddressResolver = request.state.client_addresses
    return limit_key(resolver.for_connection(request))


async def limit_reader(request: Request, response: Response) -> RateLimitState:
    """Count a reader request under the per-address limit (429 past it)."""
    limiter: RateLimiter = request.state.rate_limiter
    state = RateLimitState()
    await state.count(limiter, limiter.policies.address, _address_key(request))
    response.headers.update(state.headers)
    return state


async def limit_question(
    request: Request, response: Response, body: ChatRequest
) -> AdmittedQuestion:
    """Resolve the question's session and count it under the address and session limits.

    A question without ``session_id`` starts a new, signed session (limited per address); a
    ``session_id`` this service did not sign is refused with 400 ``invalid_session``.
    """
    limiter: RateLimiter = request.state.rate_limiter
    signer: SessionIdSigner = request.state.session_ids
    address = _address_key(request)
    state = RateLimitState()
    await state.count(limiter, limiter.policies.address, address)
    if body.session_id is None:
        await state.count(limiter, limiter.policies.new_session, address)
        session_id, new = signer.issue(), True
    elif signer.verify(body.session_id):
        session_id, new = body.session_id, False
    else:
        raise refuse_invalid_session()
    await state.count(limiter, limiter.policies.session, session_id)
    response.headers.update(state.headers)
    return AdmittedQuestion(session_id, new, state.headers, body)
