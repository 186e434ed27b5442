"""The route table of the isolation matrix: which portal page is whose."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi import FastAPI
from fastapi.routing import APIRoute

# --- the portal's pages (server-rendered, not in the spec) -------------------------------
# Who may open each: "public" (anyone), "session" (any logged-in person), "person"
# (customers and grid users, for their own mandates, tasks and access points: the other
# person's answer is the not-found page, see tests/portal/test_portal_people.py), "operator", "esp"
# (ESP staff, for their own organisation: ESP B's staff get the not-found page for ESP A's
# objects, see PORTAL_ESP_OBJECTS below).
PORTAL_PAGES = {
    "GET /portal/login": "public",
    "POST /portal/login": "public",
    "POST /portal/logout": "session",
    "GET /portal/": "session",
    "GET /consent/{identifier}": "person",
    "POST /consent/{identifier}": "person",
    "GET /portal/mandates": "person",
    "POST /portal/mandates/{mandate_id}/revoke": "person",
    "GET /portal/co-consents": "person",
    "POST /portal/co-consents/{task_id}": "person",
    "POST /portal/paper-mandates/{mandate_id}/contest": "person",
    "GET /portal/access-log": "person",
    "GET /portal/my-data": "person",
    "GET /portal/my-data/{ean}": "person",
    "GET /portal/my-data/{ean}/csv": "person",
    "GET /portal/sharing": "person",
    "GET /portal/operator/contracts": "operator",
    "POST /portal/operator/contracts/{number}/{action}": "operator",
    "GET /portal/operator/organisations": "operator",
    "POST /portal/operator/organisations/{number}/{action}": "operator",
    "GET /portal/operator/access-points": "operator",
    "GET /portal/operator/sla": "operator",
    "GET /portal/operator/nps-audits": "operator",
    "POST /portal/operator/nps-audits/{audit_id}": "operator",
    "GET /portal/operator/mail": "operator",
    "GET /portal/operator/mail/{message_id}": "operator",
    "GET /portal/mail-settings": "session",
    "POST /portal/mail-settings": "session",
    "GET /portal/mail/unsubscribe/{token}": "public",
    "POST /portal/mail/unsubscribe/{token}": "public",
    "GET /portal/register": "public",
    "POST /portal/register": "public",
    "GET /portal/esp/": "esp",
    "GET /portal/esp/access-points": "esp",
    "GET /portal/esp/access-points/{ean}": "esp",
    "GET /portal/esp/access-points/{ean}/csv": "esp",
    "GET /portal/esp/contracts": "esp",
    "POST /portal/esp/contracts": "esp",
    "POST /portal/esp/contracts/{number}/withdraw": "esp",
    "POST /portal/esp/contracts/{number}/rotate-key": "esp",
    "GET /portal/esp/clients": "esp",
    "POST /portal/esp/clients": "esp",
    "POST /portal/esp/clients/{client_id}/rotate": "esp",
    "POST /portal/esp/clients/{client_id}/revoke": "esp",
    "GET /portal/esp/webhooks": "esp",
    "GET /portal/esp/webhooks/{endpoint_id}": "esp",
    "GET /portal/esp/nps-audits": "esp",
    "GET /portal/esp/history-exports": "esp",
}


def portal_operations(app: FastAPI) -> list[str]:
    """The operations left out of the spec: the portal's pages."""
    return [
        f"{method} {route.path}"
        for route in _api_routes(app.routes)
        if not route.include_in_schema
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def _api_routes(routes: Iterable[object]) -> Iterator[APIRoute]:
    """Every route, also those of included routers (kept as routers by newer FastAPIs)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)
