"""Per-caller rate limits on every authenticated route, with the IETF RateLimit headers.

One budget per caller (an API client, or a person calling ``/api/v1`` with their session
cookie), whatever process or node answers: the ``limits`` sliding-window counter, kept in
Redis or PostgreSQL (:mod:`datahub_api.throttles.storage`). It refills continuously like a
token bucket of ``requests`` per ``window_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits.aio.storage import Storage
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datahub_api.errors import TooManyRequests
from datahub_api.throttles.service import RateBudget

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
    def __init__(self, requests: int, window_seconds: int, storage: Storage) -> None:
        self.budget = RateBudget(storage, "api", requests, window_seconds)

    async def hit(self, caller: str) -> RateLimitState:
        allowed, budget = await self.budget.hit(caller)
        state = RateLimitState(
            limit=budget.limit,
            remaining=budget.remaining,
            reset_seconds=budget.reset_seconds,
            window_seconds=budget.window_seconds,
        )
        if not allowed:
            raise TooManyRequests(
                "Rate limit exceeded; slow down.",
                headers={**state.headers(), "Retry-After": str(state.reset_seconds)},
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
