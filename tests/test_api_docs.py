"""/docs is served whole from this process: no CDN, no inline script."""

from __future__ import annotations

import re

import httpx


async def test_the_docs_page_loads_only_from_our_own_origin(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "http://" not in html
    assert "https://" not in html
    # Every script is a file of ours: nothing for a script-src 'self' policy to block.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    for source in sources:
        assert source.startswith("/"), source
        fetched = await client.get(source)
        assert fetched.status_code == 200, source
        assert fetched.content, source
    assert 'data-spec="/openapi.json"' in html


async def test_the_docs_assets_are_swagger_ui_with_the_right_types(
    client: httpx.AsyncClient,
) -> None:
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["content-type"]
    assert b"SwaggerUIBundle" in bundle.content
    css = await client.get("/docs/assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    start = await client.get("/docs/start.js")
    assert "javascript" in start.headers["content-type"]
    assert "SwaggerUIBundle(" in start.text
