"""The login page in a real browser: a wrong password, then a login that lands where the
person was going."""

from __future__ import annotations

import re

from fastapi import FastAPI

from datahub_api.accounts.models import AccountRole

from ..consent_world import PASSWORD, make_person
from .conftest import NewPage, log_in, screenshot


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
