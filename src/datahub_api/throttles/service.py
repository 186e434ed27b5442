"""The throttles, written once against the ``limits`` storage interface (Redis or
PostgreSQL, see :mod:`datahub_api.throttles.storage`).

- :class:`RateBudget`: a sliding-window budget of requests per caller (the API rate limit),
  taken from the shared store in small leases so a busy caller costs one round trip per
  lease, not per request.
- :class:`FailureThrottle`: failures per key (username, client id, address) with backoff:
  the first failures pass; from then on each failure closes the key for 1 s, 2 s, 4 s ...
  up to a cap, and attempts while it is closed are refused *without being tried*, so they
  neither count nor tell anything. After the wait the right credentials work again: no
  stream of wrong guesses locks the owner out for good. An optional ceiling per address
  bounds failures per hour over all keys.
- :class:`AttemptCeiling`: attempts per key per fixed window (self-registration).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
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


# A process holds at most this share of a caller's budget taken but not yet served, and
# only for LEASE_SECONDS: a caller's total never exceeds its budget (the store counted
# every lease), and what a process leased but did not serve in time is lost to the caller,
# never more than 2 % of the budget per process.
LEASE_SHARE = 50
LEASE_SECONDS = 0.5
# Above this many callers with a live lease, expired ones are dropped at the next refill.
LEASES_KEPT = 10_000


@dataclass
class _Lease:
    """Hits of one caller this process took from the store and has not served yet."""

    unserved: int = 0
    valid_until: float = 0.0
    state: BudgetState | None = None
    arrived: int = 0  # hits asked of this process since the last round trip
    taken_at: float = 0.0  # when that round trip was
    refill: asyncio.Lock = field(default_factory=asyncio.Lock)


class RateBudget:
    """``requests`` per ``window_seconds`` per caller, refilling continuously (the
    ``limits`` sliding-window counter in the shared store).

    Each process takes a caller's hits in leases sized to the rate at which that caller
    asks this process (what it would ask in ``LEASE_SECONDS``; one at first, at most
    ``requests // LEASE_SHARE``): a caller polling steadily costs the store one round
    trip per lease; a budget of fewer than ``LEASE_SHARE`` requests, or a caller asking
    less than twice a second, is taken one hit at a time, exactly."""

    def __init__(self, storage: Storage, name: str, requests: int, window_seconds: int) -> None:
        self.item = RateLimitItemPerSecond(requests, window_seconds, namespace=name)
        self.window_seconds = window_seconds
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.largest_lease = max(1, requests // LEASE_SHARE)
        self.leases: dict[str, _Lease] = {}

    async def hit(self, caller: str) -> tuple[bool, BudgetState]:
        lease = self.leases.get(caller)
        if lease is None:
            self._forget_expired()
            lease = self.leases.setdefault(caller, _Lease())
        lease.arrived += 1
        if not self._serve(lease):
            async with lease.refill:
                # Another request of the caller may have refilled while this one waited.
                if not self._serve(lease):
                    return await self._take(caller, lease)
        assert lease.state is not None
        return True, self._with_unserved(lease.state, lease.unserved)

    def _serve(self, lease: _Lease) -> bool:
        if lease.unserved and time.monotonic() < lease.valid_until:
            lease.unserved -= 1
            return True
        return False

    async def _take(self, caller: str, lease: _Lease) -> tuple[bool, BudgetState]:
        """One round trip: a new lease (this request's hit and the next ones'), or as
        much of it as the budget still holds, or the refusal."""
        now = time.monotonic()
        rate = lease.arrived / max(now - lease.taken_at, 1e-3)
        wanted = min(self.largest_lease, max(1, math.ceil(rate * LEASE_SECONDS)))
        allowed, state = await self._acquire(caller, wanted)
        if not allowed and wanted > 1:
            wanted = min(wanted, state.remaining)
            if wanted >= 1:
                allowed, state = await self._acquire(caller, wanted)
        lease.arrived = 0
        lease.taken_at = now
        lease.unserved = wanted - 1 if allowed else 0
        lease.valid_until = now + LEASE_SECONDS
        lease.state = state
        return allowed, self._with_unserved(state, lease.unserved)

    async def _acquire(self, caller: str, amount: int) -> tuple[bool, BudgetState]:
        key = self.item.key_for(caller)
        if isinstance(self.storage, PostgresStorage):
            allowed, window = await self.storage.acquire_and_window(
                key, self.item.amount, self.window_seconds, amount
            )
        else:
            allowed = await self.limiter.hit(self.item, caller, cost=amount)
            window = await cast(SlidingWindowCounterSupport, self.storage).get_sliding_window(
                key, self.window_seconds
            )
        return allowed, self._state(*window)

    @staticmethod
    def _with_unserved(state: BudgetState, unserved: int) -> BudgetState:
        """What the caller may still spend: the store's remainder and this process's
        unserved lease (which the store already counts as spent)."""
        return BudgetState(
            limit=state.limit,
            remaining=min(state.limit, state.remaining + unserved),
            reset_seconds=state.reset_seconds,
            window_seconds=state.window_seconds,
        )

    def _forget_expired(self) -> None:
        if len(self.leases) < LEASES_KEPT:
            return
        now = time.monotonic()
        for caller in [c for c, lease in self.leases.items() if lease.valid_until <= now]:
            if not self.leases[caller].refill.locked():
                del self.leases[caller]

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
