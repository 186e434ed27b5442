"""An operator approves an ESP's contract application in the browser (and the ESP's backend
gets the channel's scopes), and finds their way to the other operator pages."""

from __future__ import annotations

import re
from datetime import date

import httpx
from fastapi import FastAPI

from datahub_api.accounts.models import AccountRole
from datahub_api.contracts.models import Channel

from ..support.browser import NewPage, log_in, playwright_api, screenshot
from ..support.consent_world import PASSWORD, make_consent_world, make_person
from ..support.parties import make_esp
from ..support.portal import seed_sla_month

expect = playwright_api().expect


async def scopes_of(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    token = await client.post(
        "/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert token.status_code == 200, token.text
    return str(token.json().get("scope", ""))


async def test_an_operator_approves_a_contract_application(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    world = await make_consent_world(app, client)
    applicant = await make_esp(app, "Zonnig BV", channels=[Channel.api], approve=False)
    await make_esp(app, "Wolk NV", channels=[Channel.nps], approve=False)
    await make_person(app, "oscar.operator", AccountRole.operator)
    assert "mandates:read" not in await scopes_of(
        client, applicant.client_id, applicant.client_secret
    )

    operator = await new_page()
    await log_in(operator, "oscar.operator", PASSWORD)
    await screenshot(operator, "home-operator")
    await operator.get_by_role("navigation").get_by_role("link", name="Contractaanvragen").click()
    row = operator.get_by_role("row").filter(has_text="Zonnig BV")
    await expect(row).to_contain_text("via API")
    await screenshot(operator, "operator-contract-applications")
    await row.get_by_role("button", name="Goedkeuren").click()
    await expect(operator.get_by_role("status")).to_contain_text(
        f"Contract {applicant.contract_number} is goedgekeurd."
    )
    await expect(operator.get_by_role("row").filter(has_text="Wolk NV")).to_have_count(1)
    await screenshot(operator, "operator-contract-approved")
    assert "mandates:read" in await scopes_of(client, applicant.client_id, applicant.client_secret)

    await (
        operator.get_by_role("navigation").get_by_role("link", name="Toegangspunten zoeken").click()
    )
    await operator.get_by_label("EAN (of het begin ervan)").fill(world.owner_ean[:16])
    await operator.get_by_role("button", name="Zoeken").click()
    await expect(operator.get_by_role("row").filter(has_text=world.owner_ean)).to_contain_text(
        "Olga Owner"
    )
    await screenshot(operator, "operator-access-points")

    await seed_sla_month(app, applicant, date(2026, 10, 1))
    await operator.get_by_role("navigation").get_by_role("link", name="Dienstniveaus (SLA)").click()
    await operator.get_by_label("Maand", exact=True).fill("2026-10")
    await operator.get_by_role("button", name="Tonen").click()
    await expect(operator).to_have_url(re.compile(r"month=2026-10"))
    months = operator.locator("svg.chart-svg[data-days]")
    await expect(months).to_have_count(2)  # API, website (NPS: GVM only)
    await expect(months.first).to_have_attribute(
        "aria-label", re.compile("Kanaal API, oktober 2026")
    )
    await screenshot(operator, "operator-sla")

    await operator.get_by_role("navigation").get_by_role("link", name="NPS-controles").click()
    await expect(operator.get_by_role("heading", name="NPS-controles")).to_be_visible()
    await screenshot(operator, "operator-nps-audits")
