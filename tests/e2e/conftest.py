"""Real-browser tests: the app served by uvicorn on a loopback port, driven by headless
Chromium (Debian's ``chromium`` package) through Playwright for Python.

Without ``/usr/bin/chromium`` or the ``playwright`` package, every test here is skipped with
the reason shown in pytest's summary (``-ra``), never passed silently. ``.ci/run`` installs
the browser when it is missing. Screenshots go to ``.test-artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI

from datahub_api.app import create_app
from datahub_api.settings import Settings

from ..support.browser import CHROMIUM, NewPage, missing_browser
from ..support.environment import make_settings
from ..support.live_server import LiveServer

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = missing_browser()
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def e2e_settings() -> Settings:
    return make_settings()


@pytest.fixture
def portal(clean_database: str, e2e_settings: Settings) -> Iterator[LiveServer]:
    """The real app (its own lifespan, in a uvicorn thread) on the test database.

    Tests build their world through the in-process ``app``/``client`` fixtures: both apps
    share the database, and the served one follows grant changes over NOTIFY.
    """
    served: FastAPI = create_app(e2e_settings, database_url=clean_database)
    with LiveServer(served) as server:
        yield server


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def new_page(browser: Browser, portal: LiveServer) -> AsyncIterator[NewPage]:
    """``await new_page()``: a page in a fresh context (its own cookies: one person each),
    whose relative URLs go to the served portal."""
    contexts: list[Any] = []

    async def make(locale: str = "nl-BE") -> Page:
        context = await browser.new_context(
            base_url=portal.url, locale=locale, viewport={"width": 1200, "height": 900}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()
