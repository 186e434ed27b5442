"""Admission control: a saturated process sheds what it cannot serve in time, early and cheaply.

Without it, every request a process accepts runs at once. Measured with one-day reads on one
process (``bench/overload.py``; py-spy, ``pg_stat_activity``, ``pg_stat_database``):
PostgreSQL is not the bottleneck (its backends sit idle in transaction, waiting for the
process), the process's CPU is. With 256 clients each request shares that CPU with 255
others: a p99 of 10 to 13 s against 80 ms unloaded. Past the pool's ``DATAHUB_DB_POOL_SIZE``
checkouts, SQLAlchemy's overflow connections are opened and closed again for each request
(new sessions at several a second), their statements prepared afresh: asyncpg's execute and
prepare took 7 times the samples per request. Load generators that keep 256 connections
in Python (httpx) lost a third of the throughput besides, and saw connections reset.

So each process runs at most ``DATAHUB_MAX_IN_FLIGHT`` requests at a time. A request beyond
them waits for a slot (see :class:`Admission` for the order), at most
``DATAHUB_ADMISSION_WAIT_SECONDS`` and with at most ``DATAHUB_ADMISSION_QUEUE`` others;
otherwise it is answered with 503 and ``Retry-After``
(``DATAHUB_ADMISSION_RETRY_AFTER_SECONDS``) in its face's error format (problem+json on
``/api/v1``, the Fluvius body on ``/v3``), before anything else is done for it: no other
middleware, no authentication, no database, no body read. What is admitted takes at most
about ``DATAHUB_MAX_IN_FLIGHT`` times its unloaded time, the pool never overflows (keep the
limit at or below the pool's size), and the process keeps its throughput.

A request holds its slot until its answer starts: the work of a request is done by then,
while sending a long download (a history-export file, a year of CSV) to a slow client is
waiting on the network, and eight slow clients must not close a process to everyone else.

``/healthz`` (no database) is never queued nor shed: a load balancer must tell a busy node
from a dead one. ``/readyz`` (a database round trip) and ``/metrics`` (a refused scrape is
audited) have slots of their own (:data:`PROBES_IN_FLIGHT`), so a flood of them neither
waits behind the API nor takes the API's connections. The limits are per process (``serve
--workers N`` has N of them), as each process has its own CPU share and database pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datahub_api.errors import ServiceUnavailable, render

NEVER_SHED = frozenset({"/healthz"})
PROBES = frozenset({"/readyz", "/metrics"})
# Readiness checks and scrapes at once: a balancer or two and a scraper need no more.
PROBES_IN_FLIGHT = 2


# A queue whose oldest waiter has waited this long has stopped draining: it is no burst being
# absorbed but load beyond what the process serves.
STANDING_QUEUE_SECONDS = 0.02


class Admission:
    """At most ``max_in_flight`` holders of a slot; up to ``max_waiting`` others wait for
    one, at most ``max_wait_seconds`` each.

    A slot freed goes to the oldest waiter while the queue drains (a burst), and to the
    newest once it stands (the oldest has waited :data:`STANDING_QUEUE_SECONDS`): then the
    requests served are those that have waited least, with about their unloaded latency,
    while the older ones reach their wait limit and are shed (adaptive LIFO). Served first
    come first served under overload, every admitted request would wait nearly the limit.
    """

    def __init__(self, max_in_flight: int, max_waiting: int, max_wait_seconds: float) -> None:
        self.max_in_flight = max_in_flight
        self.max_waiting = max_waiting
        self.max_wait_seconds = max_wait_seconds
        self.in_flight = 0
        # Each waiter (since when, its turn): the turn is resolved True (a slot handed over)
        # or False (waited too long); a cancelled one (the client went away) is skipped.
        self._waiting: deque[tuple[float, asyncio.Future[bool]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def enter(self) -> bool:
        """Take a slot (True; give it back with :meth:`leave`) or be refused (False)."""
        if self.in_flight < self.max_in_flight and not self._waiting:
            self.in_flight += 1
            return True
        if len(self._waiting) >= self.max_waiting or self.max_wait_seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[bool] = loop.create_future()
        waiter = (loop.time(), turn)
        self._waiting.append(waiter)
        expiry = loop.call_later(self.max_wait_seconds, self._expire, waiter)
        try:
            return await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.result():
                self.leave()  # handed a slot just as the client went away
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise
        finally:
            expiry.cancel()

    def leave(self) -> None:
        """Give a slot back: to a waiter (see the class), else to the pool."""
        while self._waiting:
            oldest_since = self._waiting[0][0]
            standing = asyncio.get_running_loop().time() - oldest_since > STANDING_QUEUE_SECONDS
            _, turn = self._waiting.pop() if standing else self._waiting.popleft()
            if not turn.done():
                turn.set_result(True)
                return
        self.in_flight -= 1

    def _expire(self, waiter: tuple[float, asyncio.Future[bool]]) -> None:
        if not waiter[1].done():
            self._waiting.remove(waiter)
            waiter[1].set_result(False)


class AdmissionMiddleware:
    """Runs each HTTP request only once an :class:`Admission` gives it a slot (the probes'
    for :data:`PROBES`, else the API's), held until its answer starts; answers 503
    otherwise."""

    def __init__(
        self,
        app: ASGIApp,
        admission: Admission,
        probes: Admission,
        retry_after_seconds: int,
        on_shed: Callable[[], object] = lambda: None,
    ) -> None:
        self.app = app
        self.admission = admission
        self.probes = probes
        self.retry_after = str(retry_after_seconds)
        self.on_shed = on_shed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        admission = self.probes if scope["path"] in PROBES else self.admission
        if not await admission.enter():
            self.on_shed()
            response = render(
                Request(scope, receive),
                ServiceUnavailable(
                    "The service is at capacity; please retry shortly.",
                    headers={"Retry-After": self.retry_after},
                ),
            )
            await response(scope, receive, send)
            return
        held = True

        async def send_and_leave(message: Message) -> None:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                admission.leave()
            await send(message)

        try:
            await self.app(scope, receive, send_and_leave)
        finally:
            if held:
                admission.leave()
