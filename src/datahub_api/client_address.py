"""The caller's address: one function for the rate limits, throttles, audit trail and
access log.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from the reverse proxies
named in ``DATAHUB_TRUSTED_PROXIES`` (default: none); from any other peer anyone could
write them, and an attacker would pick a fresh address for every guess. Behind a chain of
trusted proxies the caller is the right-most hop that is not one of them.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable
from contextvars import ContextVar

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "-"
access_logger = logging.getLogger("datahub_api.access")
# The caller's address for the request being served (None outside a request: the CLI, jobs),
# so that a service writing the audit trail need not be handed the request.
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)


class TrustedProxies:
    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[IpNetwork, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries
        )

    def __contains__(self, address: str) -> bool:
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]


def resolve(scope: Scope, trusted: TrustedProxies) -> tuple[str, str | None]:
    """The caller's address and, from a trusted proxy, the scheme it was reached by."""
    client = scope.get("client")
    peer = str(client[0]) if client else UNKNOWN
    if peer not in trusted:
        return peer, None
    hops = [
        hop.strip()
        for value in _header_values(scope, b"x-forwarded-for")
        for hop in value.split(",")
        if hop.strip()
    ]
    address = peer
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # garbage from beyond the proxies: the last hop we could read stands
        if address not in trusted:
            break
    protos = _header_values(scope, b"x-forwarded-proto")
    scheme = protos[-1].split(",")[-1].strip().lower() if protos else None
    return address, scheme if scheme in ("http", "https") else None


def client_address(connection: HTTPConnection | Scope) -> str:
    """The one answer to "who is calling from where" (see the module docstring)."""
    scope = connection.scope if isinstance(connection, HTTPConnection) else connection
    known = scope.get("state", {}).get("client_address")
    if isinstance(known, str):
        return known
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    return resolve(scope, TrustedProxies(getattr(settings, "trusted_proxies", ())))[0]


class ClientAddressMiddleware:
    """Resolves the caller's address once per request (leaving it in the request state and
    in the scope's ``client``), honours ``X-Forwarded-Proto`` from trusted proxies, and
    writes the access log line with that address."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        address, scheme = resolve(scope, self.trusted)
        scope.setdefault("state", {})["client_address"] = address
        client = scope.get("client")
        scope["client"] = (address, int(client[1]) if client else 0)
        if scheme is not None:
            scope["scheme"] = scheme if scope["type"] == "http" else scheme.replace("http", "ws")
        token = client_address_var.set(address)
        try:
            await self._serve(scope, receive, send, address)
        finally:
            client_address_var.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, address: str) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            access_logger.info(
                '%s "%s %s HTTP/%s" %s %.1fms',
                address,
                scope["method"],
                str(scope.get("path", "")).encode("unicode_escape").decode("ascii"),
                scope.get("http_version", "1.1"),
                status or 500,
                (time.perf_counter() - started) * 1000,
            )
