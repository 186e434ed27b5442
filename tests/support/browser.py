"""Browser helpers of the real-browser tests (tests/e2e): Playwright, pages, logins, screenshots."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .environment import PROJECT_ROOT

if TYPE_CHECKING:
    from playwright.async_api import Page


CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))


SCREENSHOTS = PROJECT_ROOT / ".test-artifacts" / "screenshots"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "e2e: the playwright package is not installed (make install-dev)"
    if not CHROMIUM.exists():
        return f"e2e: no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    return None


def playwright_api() -> Any:
    """``playwright.async_api`` for a test module, or a visible skip of that module."""
    return pytest.importorskip(
        "playwright.async_api",
        reason="e2e: the playwright package is not installed (make install-dev)",
        exc_type=ImportError,
    )


NewPage = Callable[..., Awaitable["Page"]]


async def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under ``.test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def log_in(page: Page, username: str, password: str, path: str = "/portal/login") -> None:
    """Fill in and send the login form as a person does."""
    await page.goto(path)
    await page.get_by_label(re.compile("Gebruikersnaam|Username")).fill(username)
    await page.get_by_label(re.compile("Wachtwoord|Password")).fill(password)
    await page.get_by_role("button", name=re.compile("^(Aanmelden|Log in)$")).click()
    await page.wait_for_load_state()
