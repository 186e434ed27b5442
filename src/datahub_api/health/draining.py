"""Graceful shutdown of an API node behind a load balancer (a rolling restart loses nothing).

On SIGTERM the node *drains*, in two steps:

1. For ``DATAHUB_SHUTDOWN_DELAY_SECONDS`` it keeps taking requests, but ``/readyz`` answers
   503 and every answer carries ``Connection: close``: the load balancer's health check takes
   the node out of rotation and clients drop their kept-alive connections to it.
2. Then uvicorn's own graceful shutdown: it stops listening (new connections are refused),
   closes idle connections, lets the requests in flight finish (at most
   ``DATAHUB_SHUTDOWN_TIMEOUT_SECONDS``, uvicorn's ``timeout_graceful_shutdown``; what still
   runs then is cancelled) and runs the app's shutdown (the in-process job worker finishes
   its jobs).

SIGINT (Ctrl-C) and a second SIGTERM skip the delay. Only the first step is ours: the
handler uvicorn installs for the signals is wrapped by :func:`drain_on_signals` for the life
of the app, and calls uvicorn's handler once the delay is over.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any]


class Drain:
    """Whether this node is shutting down (the app's ``state.drain``)."""

    def __init__(self) -> None:
        self.since: float | None = None

    @property
    def draining(self) -> bool:
        return self.since is not None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


def _served_by_uvicorn(handler: object) -> bool:
    """The signal handler is a uvicorn server's (``Server.handle_exit``)."""
    return isinstance(getattr(handler, "__self__", None), uvicorn.Server)


@contextmanager
def drain_on_signals(drain: Drain, delay_seconds: float) -> Iterator[None]:
    """While the app runs under uvicorn in the main thread, SIGTERM begins ``drain`` and hands
    over to uvicorn's shutdown ``delay_seconds`` later. Elsewhere (tests calling the app
    in-process, a server in a thread) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    uvicorn_handler = signal.getsignal(signal.SIGTERM)
    if not _served_by_uvicorn(uvicorn_handler) or not callable(uvicorn_handler):
        yield
        return
    loop = asyncio.get_running_loop()
    stop_listening: SignalHandler = uvicorn_handler
    interrupt_handler = signal.getsignal(signal.SIGINT)

    def on_sigterm(number: int, frame: FrameType | None) -> None:
        if drain.draining or delay_seconds <= 0:
            drain.begin()
            stop_listening(number, frame)
            return
        drain.begin()
        logger.warning(
            "SIGTERM: draining (/readyz answers 503); no new connections in %s s", delay_seconds
        )
        loop.call_soon_threadsafe(loop.call_later, delay_seconds, stop_listening, number, None)

    def on_sigint(number: int, frame: FrameType | None) -> None:
        drain.begin()
        if callable(interrupt_handler):
            interrupt_handler(number, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    if _served_by_uvicorn(interrupt_handler):
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        # uvicorn puts back the handlers it found once it has stopped; until then, its own.
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, uvicorn_handler)
        if signal.getsignal(signal.SIGINT) is on_sigint:
            signal.signal(signal.SIGINT, interrupt_handler)


class DrainMiddleware:
    """While the node drains, every answer says ``Connection: close`` (uvicorn then closes
    the connection after it), so kept-alive clients reconnect through the load balancer."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)
