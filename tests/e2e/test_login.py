"""The login page in a real browser: a wrong password, then a login that lands where the
person was going."""

from __future__ import annotations

import re

from fastapi import FastAPI

from datahub_api.accounts.models import AccountRole

from ..support.browser import NewPage, log_in, playwright_api, screenshot
from ..support.consent_world import PASSWORD, make_person
from ..support.live_server import LiveServer

expect = playwright_api().expect


async def test_a_person_logs_in_after_a_wrong_password(app: FastAPI, new_page: NewPage) -> None:
    await make_person(app, "tina.tenant", AccountRole.customer)
    page = await new_page()
    await page.goto("/portal/")
    assert "/portal/login" in page.url
    await screenshot(page, "login")
    await log_in(page, "tina.tenant", "not the password", page.url)
    assert await page.get_by_role("alert").inner_text() == "Verkeerde gebruikersnaam of wachtwoord."
    await screenshot(page, "login-wrong-password")
    await log_in(page, "tina.tenant", PASSWORD, page.url)
    assert re.search(r"/portal/$", page.url), page.url


async def test_an_ended_session_logs_in_again_and_returns(
    app: FastAPI, new_page: NewPage, portal: LiveServer
) -> None:
    await make_person(app, "olga.owner", AccountRole.customer)
    page = await new_page()
    await log_in(page, "olga.owner", PASSWORD)
    await page.goto("/portal/access-log")
    # The session ends (expired or logged out elsewhere): the cookie no longer opens it.
    await page.context.clear_cookies()
    await page.context.add_cookies(
        [{"name": "datahub_session", "value": "ended", "url": portal.url}]
    )
    await page.goto("/portal/mandates?lang=en")
    await expect(page.get_by_role("alert")).to_have_text(
        "Your session has ended. Please log in again."
    )
    await screenshot(page, "login-session-ended")
    await log_in(page, "olga.owner", PASSWORD, page.url)
    assert page.url.endswith("/portal/mandates?lang=en"), page.url
    await expect(page.get_by_role("heading", name="My consents")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    assert "/portal/login" in page.url
    await page.goto("/portal/mandates")
    assert "/portal/login" in page.url


async def test_the_login_page_links_to_registration_in_dutch_and_english(
    new_page: NewPage,
) -> None:
    """The link's words were looked up under a key no table has: an empty, invisible link."""
    page = await new_page()
    await page.goto("/portal/login")
    link = page.get_by_role("link", name="Energiedienstverlener zonder account?")
    await expect(link).to_have_attribute("href", "/portal/register")
    await screenshot(page, "login-register-link-nl")
    await page.get_by_role("link", name="EN", exact=True).click()
    await expect(page.get_by_role("link", name=re.compile("without an account"))).to_be_visible()
    await screenshot(page, "login-register-link-en")
