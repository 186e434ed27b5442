"""The API docs in a real browser with every other host unreachable: Swagger UI comes
from our own process, so a closed network shows the operations, not a blank page."""

from __future__ import annotations

from typing import Any

from ..support.browser import NewPage, playwright_api, screenshot
from ..support.live_server import LiveServer

expect = playwright_api().expect


async def test_the_docs_work_with_no_network_but_ours(
    new_page: NewPage, portal: LiveServer
) -> None:
    page = await new_page()
    refused: list[str] = []

    async def only_our_origin(route: Any) -> None:
        url = route.request.url
        if url.startswith(portal.url):
            await route.continue_()
        else:
            refused.append(url)
            await route.abort("internetdisconnected")

    await page.route("**/*", only_our_origin)
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    await page.goto("/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "datahub-api", timeout=60_000
    )
    await expect(page.locator(".opblock").first).to_be_visible()
    await expect(page.locator('[data-path="/v3/api/mandate/energy"]').first).to_be_visible()
    await screenshot(page, "api-docs-offline")
    assert refused == []
    assert problems == []
