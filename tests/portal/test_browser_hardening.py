"""Browser-facing headers: the portal may not be framed, sniffed or scripted from elsewhere,
and the API docs work under the same policy."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from datahub_api.accounts.models import AccountRole

from ..support.consent_world import make_person
from ..support.portal import portal_browser

FIXED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_hardened(response: httpx.Response) -> None:
    for name, value in FIXED.items():
        assert response.headers.get(name) == value, (response.url, name)
    policy = directives(response)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]


async def test_portal_pages_send_the_hardening_headers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for path in ("/portal/login", "/portal/", "/portal/nothing-here", "/api/v1/auth/me"):
        assert_hardened(await client.get(path))
    customer = await make_person(app, "headers.customer", AccountRole.customer)
    browser = await portal_browser(app, customer.username)
    try:
        for path in ("/portal/", "/portal/mandates", "/portal/access-log"):
            page = await browser.get(path)
            assert page.status_code == 200, (path, page.text)
            assert_hardened(page)
            # No inline script a nonce-less policy would block.
            assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None
            assert re.search(r"\son[a-z]+=", page.text) is None
    finally:
        await browser.aclose()


async def test_docs_live_under_the_portal_policy(client: httpx.AsyncClient) -> None:
    """Swagger UI and its start script are files of ours: /docs needs no exception."""
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert_hardened(docs)
    assert re.search(r"<script(?![^>]*\bsrc=)", docs.text) is None
    for asset in ("/docs/start.js", "/docs/assets/swagger-ui-bundle.js"):
        assert_hardened(await client.get(asset))
    assert (await client.get("/openapi.json")).status_code == 200
