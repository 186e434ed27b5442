"""The throttles, written once against the ``limits`` storage interface (Redis or
PostgreSQL, see :mod:`datahub_api.throttles.storage`).

- :class:`RateBudget`: a sliding-window budget of requests per caller (the API rate limit).
- :class:`FailureThrottle`: failures per key (username, client id, address) with backoff:
  the first failures pass; from then on each failure closes the key for 1 s, 2 s, 4 s ...
  up to a cap, and attempts while it is closed are refused *without being tried*, so they
  neither count nor tell anything. After the wait the right credentials work again: no
  stream of wrong guesses locks the owner out for good. An optional ceiling per address
  bounds failures per hour over all keys.
- :class:`AttemptCeiling`: attempts per key per fixed window (self-registration).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItemPerSecond
from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from datahub_api.errors import TooManyRequests
from datahub_api.throttles.storage import PostgresStorage

# A failure count is forgotten this long after the first failure it holds (a success
# clears it at once).
FAILURE_MEMORY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class BudgetState:
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int


class RateBudget:
    """``requests`` per ``window_seconds`` per caller, refilling continuously (the
    ``limits`` sliding-window counter)."""

    def __init__(self, storage: Storage, name: str, requests: int, window_seconds: int) -> None:
        self.item = RateLimitItemPerSecond(requests, window_seconds, namespace=name)
        self.window_seconds = window_seconds
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, caller: str) -> tuple[bool, BudgetState]:
        key = self.item.key_for(caller)
        if isinstance(self.storage, PostgresStorage):
            allowed, window = await self.storage.acquire_and_window(
                key, self.item.amount, self.window_seconds
            )
        else:
            allowed = await self.limiter.hit(self.item, caller)
            window = await cast(SlidingWindowCounterSupport, self.storage).get_sliding_window(
                key, self.window_seconds
            )
        return allowed, self._state(*window)

    def _state(
        self, previous: int, previous_ttl: float, current: int, current_ttl: float
    ) -> BudgetState:
        """What the ``limits`` strategy's ``get_window_stats`` reports, from the window."""
        expiry = self.window_seconds
        weighted = previous * previous_ttl / expiry + current
        reset_in = 0.0
        if previous or current:
            candidates = [current_ttl % expiry] if current else []
            if previous:
                candidates.append(previous_ttl % (expiry / previous))
            reset_in = min(candidates)
        return BudgetState(
            limit=self.item.amount,
            remaining=max(0, self.item.amount - math.floor(weighted)),
            reset_seconds=max(1, math.ceil(reset_in)),
            window_seconds=expiry,
        )


def too_many(message: str, retry_after: float) -> TooManyRequests:
    return TooManyRequests(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class FailureThrottle:
    """Failures per key, with backoff, and an optional ceiling per address."""

    def __init__(
        self,
        storage: Storage,
        name: str,
        *,
        free_failures: int,
        max_wait_seconds: int,
        ceiling_per_hour: int | None = None,
        message: str = "Too many failed attempts; try again later.",
    ) -> None:
        self.storage = storage
        self.name = name
        self.free = free_failures
        self.max_wait = max_wait_seconds
        self.ceiling = ceiling_per_hour
        self.message = message

    def _key(self, kind: str, key: str) -> str:
        return f"{self.name}:{kind}:{key[:300]}"

    async def check(self, keys: list[str], address: str | None = None) -> None:
        """Refuse (429 with Retry-After) while any of ``keys`` is closed by backoff, or the
        address is over its hourly ceiling."""
        now = time.time()
        waits = []
        for key in keys:
            block = self._key("block", key)
            if await self.storage.get(block) > 0:
                waits.append(await self.storage.get_expiry(block) - now)
        if address is not None and self.ceiling is not None:
            ceiling = self._key("ceiling", address)
            if await self.storage.get(ceiling) >= self.ceiling:
                waits.append(await self.storage.get_expiry(ceiling) - now)
        if waits:
            raise too_many(self.message, max(waits))

    async def failed(self, keys: list[str], address: str | None = None) -> None:
        for key in keys:
            count = await self.storage.incr(self._key("fail", key), FAILURE_MEMORY_SECONDS)
            if count >= self.free:
                wait = min(2 ** min(count - self.free, 32), self.max_wait)
                await self.storage.incr(self._key("block", key), wait)
        if address is not None and self.ceiling is not None:
            await self.storage.incr(self._key("ceiling", address), 3600)

    async def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            await self.storage.clear(self._key("fail", key))


class AttemptCeiling:
    """At most ``attempts`` per key per ``window_seconds`` (a fixed window from the first)."""

    def __init__(
        self, storage: Storage, name: str, attempts: int, window_seconds: int, message: str
    ) -> None:
        self.storage = storage
        self.name = name
        self.attempts = attempts
        self.window = window_seconds
        self.message = message

    async def take(self, key: str) -> None:
        storage_key = f"{self.name}:{key[:300]}"
        count = await self.storage.incr(storage_key, self.window)
        if count > self.attempts:
            expiry = await self.storage.get_expiry(storage_key)
            raise too_many(self.message, expiry - time.time())
