"""Portal page tests: a browser-like client per person (cookies, forms, redirects)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from .consent_world import browser_login, field


async def portal_browser(app: FastAPI, username: str) -> httpx.AsyncClient:
    """A client with its own cookie jar, logged in through the login form; close it."""
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    answer = await browser_login(browser, username, "/portal/")
    assert answer.status_code == 303, answer.text
    return browser


async def post_form(
    browser: httpx.AsyncClient, page_path: str, action: str, **data: str
) -> httpx.Response:
    """Open ``page_path``, take its CSRF token, and post ``data`` to ``action``."""
    page = await browser.get(page_path)
    assert page.status_code == 200, page.text
    return await browser.post(action, data={"csrf_token": field(page.text, "csrf_token"), **data})


def no_trace(response: httpx.Response) -> None:
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("text/html")
