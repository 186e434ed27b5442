"""A customer sees who read their data, revokes the consent in the browser, and the ESP's
next API call is refused."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from ..support.browser import NewPage, log_in, playwright_api, screenshot
from ..support.consent_world import PASSWORD, make_consent_world, owner_mandate
from ..support.parties import auth_headers

expect = playwright_api().expect


async def test_a_customer_revokes_and_the_esp_is_refused(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    world = await make_consent_world(app, client)
    await owner_mandate(app, client, world)
    esp = await auth_headers(client, world.esp_a)
    data_url = f"/api/v1/access-points/{world.owner_ean}/meter-data"
    window = {"from": "2026-06-01", "to": "2026-06-02"}
    assert (await client.get(data_url, params=window, headers=esp)).status_code == 200

    owner = await new_page()
    await log_in(owner, "olga.owner", PASSWORD)
    await screenshot(owner, "home-customer")
    await owner.get_by_role("navigation").get_by_role("link", name="Wie las mijn gegevens").click()
    reads = owner.get_by_role("row").filter(has_text="ESP A")
    await expect(reads).to_have_count(1)
    await expect(reads).to_contain_text("01-06-2026 00:00")
    await screenshot(owner, "access-log")

    await owner.get_by_role("navigation").get_by_role("link", name="Mijn toestemmingen").click()
    row = owner.get_by_role("row").filter(has_text=world.owner_ean)
    await expect(row).to_contain_text("goedgekeurd")
    await screenshot(owner, "my-mandates")
    await row.get_by_role("button", name="Intrekken").click()
    await expect(owner.get_by_role("status")).to_contain_text("De toestemming is ingetrokken")
    await expect(row).to_contain_text("beëindigd")
    await expect(row.get_by_role("button", name="Intrekken")).to_have_count(0)
    await screenshot(owner, "my-mandates-revoked")

    refused = await client.get(data_url, params=window, headers=esp)
    assert refused.status_code in (403, 404), refused.text
    listed = await client.get("/api/v1/mandates", headers=esp)
    assert [m["status"] for m in listed.json()["items"]] == ["finished"]

    # English, by a link; the choice stays while browsing.
    await owner.get_by_role("link", name="EN", exact=True).click()
    await expect(owner.get_by_role("heading", name="My consents")).to_be_visible()
    await owner.get_by_role("navigation").get_by_role("link", name="Who read my data").click()
    await expect(owner.get_by_role("heading", name="Who read my data")).to_be_visible()
