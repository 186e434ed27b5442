"""An operator judges an ESP's signed paper mandate (an NPS audit) in the browser."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from datahub_api.accounts.models import AccountRole

from ..support.browser import NewPage, log_in, playwright_api, screenshot
from ..support.consent_world import PASSWORD, make_person
from ..support.nps_world import make_nps_world, open_audit, signed_mandate, signed_pdf, upload

expect = playwright_api().expect


async def test_an_operator_accepts_a_signed_mandate(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    world = await make_nps_world(app, client)
    document = signed_pdf("paper mandate")
    mandate_id = await signed_mandate(client, world, document)
    audit = await open_audit(client, world, mandate_id)
    uploaded = await upload(client, world.a, mandate_id, document)
    assert uploaded.status_code == 200, uploaded.text
    await make_person(app, "oscar.operator", AccountRole.operator)

    operator = await new_page()
    await log_in(operator, "oscar.operator", PASSWORD)
    await operator.get_by_role("navigation").get_by_role("link", name="NPS-controles").click()
    row = (
        operator.get_by_role("row")
        .filter(has_text=f"{audit['id']}")
        .filter(has_text="document ontvangen")
    )
    await expect(row).to_contain_text(world.owner_ean)
    await expect(row.get_by_role("link", name="Document openen")).to_be_visible()
    await screenshot(operator, "operator-nps-audits")
    await row.get_by_label("Opmerking (optioneel)").fill("Handtekening klopt.")
    await row.get_by_role("button", name="Aanvaarden").click()
    await expect(operator.get_by_role("status")).to_contain_text("Het document is aanvaard.")
    await expect(operator.get_by_text("Handtekening klopt.")).to_be_visible()
    await screenshot(operator, "operator-nps-audit-accepted")

    mine = await client.get("/api/v1/nps/audits", headers=world.a)
    statuses = {item["id"]: item["status"] for item in mine.json()["items"]}
    assert statuses[audit["id"]] == "accepted"
