"""Browser-facing hardening: response headers and who may scrape metrics.

Every response says ``nosniff``, sends no referrer off the site and may not be framed. The
portal's pages carry no script at all, so their Content-Security-Policy allows scripts from
the service itself only (``script-src 'self'``; inline styles stay allowed: the pages and
their SVG charts use them). No ``form-action``: the consent form's answer redirects to the
ESP's own return URL, which browsers check against ``form-action`` too. ``/docs`` lives under
the same policy: Swagger UI and its start script are files of ours (see ``api_docs``).
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datahub_api.deps import app_state
from datahub_api.errors import Forbidden
from datahub_api.settings import Settings

PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_FIXED_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


class SecurityHeadersMiddleware:
    """Adds the hardening headers to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _FIXED_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", PORTAL_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def check_metrics_scraper(request: Request) -> None:
    """``/metrics`` answers only a caller named in the settings: the bearer token of
    ``metrics_token`` or a peer address inside ``metrics_allowed_networks`` (the direct peer,
    never a forwarded-for header). With neither set nobody may scrape."""
    settings: Settings = app_state(request).settings
    token = settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.get_secret_value().encode()
        ):
            return
    peer = request.client.host if request.client is not None else None
    if peer is not None and settings.metrics_allowed_networks:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            address = None
        if address is not None and any(
            address in network for network in settings.metrics_allowed_networks
        ):
            return
    raise Forbidden(
        "The metrics are not public: scrape with the configured bearer token "
        "(DATAHUB_METRICS_TOKEN) or from an address in DATAHUB_METRICS_ALLOWED_NETWORKS."
    )
