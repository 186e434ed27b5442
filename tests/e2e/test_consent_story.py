"""A tenant (a customer who is not the grid user) approves a consent session in the
browser, the landlord (the grid user) co-consents, and the ESP's mandate list shows the
mandate approved."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI

from ..support.browser import NewPage, log_in, playwright_api, screenshot
from ..support.consent_world import PASSWORD, make_consent_world, open_consent
from ..support.parties import auth_headers

if TYPE_CHECKING:
    from playwright.async_api import Route

expect = playwright_api().expect


async def esp_site(route: Route) -> None:
    """The ESP's own website (outside this service): a thank-you page."""
    await route.fulfill(status=200, content_type="text/html", body="<h1>ESP A: bedankt</h1>")


async def test_tenant_consents_and_the_grid_user_co_consents(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    world = await make_consent_world(app, client)
    identifier = await open_consent(client, world.esp_a, numberOfEans=1, referenceNumber="klant-7")
    esp = await auth_headers(client, world.esp_a)

    tenant = await new_page()
    await tenant.route("https://esp.example/**", esp_site)
    await tenant.goto(f"/consent/{identifier}")
    assert "/portal/login" in tenant.url  # log in first, then back to the link
    await log_in(tenant, "tina.tenant", PASSWORD, tenant.url)
    assert tenant.url.endswith(f"/consent/{identifier}")
    await expect(tenant.get_by_text("vraagt toestemming")).to_be_visible()
    await expect(tenant.get_by_text("klant-7")).to_be_visible()
    await expect(tenant.get_by_text("u bent niet de netgebruiker").first).to_be_visible()
    await tenant.get_by_label(re.compile(world.tenant_eans[0])).check()
    await screenshot(tenant, "consent-page")
    await tenant.get_by_role("button", name="Toestemming geven").click()
    await expect(tenant.get_by_text("ESP A: bedankt")).to_be_visible()
    listed = await client.get("/api/v1/mandates", headers=esp)
    assert [m["status"] for m in listed.json()["items"]] == ["requested"]
    await tenant.goto(f"/consent/{identifier}")  # the link again: already used
    await expect(tenant.get_by_text("Deze vraag is al beantwoord.")).to_be_visible()
    await screenshot(tenant, "consent-link-used")
    await tenant.goto("/portal/mandates")
    await expect(tenant.get_by_text("wacht op de toestemming van de netgebruiker")).to_be_visible()
    await screenshot(tenant, "my-mandates-waiting-for-grid-user")

    landlord = await new_page()
    await log_in(landlord, "larry.landlord", PASSWORD)
    await screenshot(landlord, "home-grid-user")
    await (
        landlord.get_by_role("navigation")
        .get_by_role("link", name="Toestemming als netgebruiker")
        .click()
    )
    row = landlord.get_by_role("row").filter(has_text=world.tenant_eans[0])
    await expect(row).to_contain_text("ESP A")
    await expect(row).to_contain_text("Tina Tenant")
    await screenshot(landlord, "co-consent-inbox")
    await row.get_by_role("button", name="Akkoord").click()
    await expect(landlord.get_by_role("status")).to_contain_text("U ging akkoord")
    await screenshot(landlord, "co-consent-done")

    listed = await client.get("/api/v1/mandates", headers=esp)
    items = listed.json()["items"]
    assert [(m["ean"], m["status"]) for m in items] == [(world.tenant_eans[0], "approved")]
