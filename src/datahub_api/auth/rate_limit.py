"""Per-client rate limits on every authenticated route, with the IETF RateLimit headers.

Uses the ``limits`` library's sliding-window counter (in process memory): it refills
continuously like a token bucket of ``requests`` per ``window_seconds``. Each API process
counts on its own; behind N processes a client may get up to N times the budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datahub_api.errors import TooManyRequests

POLICY_NAME = "default"


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{POLICY_NAME}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{POLICY_NAME}";r={self.remaining};t={self.reset_seconds}',
        }


class ClientRateLimiter:
    def __init__(self, requests: int, window_seconds: int) -> None:
        self.item = RateLimitItemPerSecond(requests, window_seconds)
        self.window_seconds = window_seconds
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def hit(self, client: str) -> RateLimitState:
        allowed = await self.limiter.hit(self.item, client)
        stats = await self.limiter.get_window_stats(self.item, client)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        state = RateLimitState(
            limit=self.item.amount,
            remaining=max(0, stats.remaining),
            reset_seconds=reset,
            window_seconds=self.window_seconds,
        )
        if not allowed:
            raise TooManyRequests(
                "Rate limit exceeded; slow down.",
                headers={**state.headers(), "Retry-After": str(reset)},
            )
        return state


class RateLimitHeadersMiddleware:
    """Adds the caller's ``RateLimit`` headers (left in the request state by
    ``authenticate``) to the response, whatever kind of response the route built."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get("rate_limit_headers")
                if extra:
                    headers = list(message.get("headers", []))
                    present = {name.lower() for name, _ in headers}
                    for name, value in extra.items():
                        if name.lower().encode() not in present:
                            headers.append((name.lower().encode(), value.encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
