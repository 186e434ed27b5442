"""The portal's login and consent pages, driven as a browser would (forms, cookies,
redirects); the real-browser stories come with the portal."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from ..support.consent_world import PASSWORD, ConsentWorld, browser_login, field, make_consent_world
from ..support.parties import auth_headers


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


async def consent_link(client: httpx.AsyncClient, world: ConsentWorld, **over: object) -> str:
    body = {
        "dataAccessContractNumber": world.esp_a.contract_number,
        "referenceNumber": "portal-1",
        "flow": "B2C",
        "dataServices": [{"dataServiceType": "VH_kwartier_uur"}],
        "numberOfEans": 2,
        **over,
    }
    made = await client.post(
        "/v3/api/shortUrlIdentifier", json=body, headers=await auth_headers(client, world.esp_a)
    )
    return f"/consent/{made.json()['data']['shortUrlIdentifier']}"


async def test_a_tenant_consents_through_the_pages(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    link = await consent_link(client, world, returnUrlSuccess="https://esp.example/thanks")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        first = await browser.get(link)
        assert first.status_code == 303
        assert first.headers["location"] == f"/portal/login?next={link}"
        logged_in = await browser_login(browser, "tina.tenant", link)
        assert logged_in.status_code == 303
        assert logged_in.headers["location"] == link
        page = await browser.get(link)
        assert page.status_code == 200
        assert "ESP A" in page.text
        assert "vraagt toestemming" in page.text  # Dutch first
        for ean in world.tenant_eans:
            assert ean in page.text
        assert world.tenant_km_ean not in page.text
        english = await browser.get(f"{link}?lang=en")
        assert "asks for your consent" in english.text
        decided = await browser.post(
            link,
            data={
                "csrf_token": field(page.text, "csrf_token"),
                "decision": "approve",
                "eans": world.tenant_eans[0],
            },
        )
        assert decided.status_code == 303
        assert decided.headers["location"] == "https://esp.example/thanks"
        again = await browser.get(link)
        assert again.status_code == 409
    mandates = await client.get("/api/v1/mandates", headers=await auth_headers(client, world.esp_a))
    assert [m["status"] for m in mandates.json()["items"]] == ["requested"]


async def test_the_pages_refuse_bad_input_clearly(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    link = await consent_link(client, world)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await browser.get("/portal/login")
        no_csrf = await browser.post(
            "/portal/login", data={"username": "tina.tenant", "password": PASSWORD}
        )
        assert no_csrf.status_code == 403
        wrong = await browser.post(
            "/portal/login",
            data={
                "username": "tina.tenant",
                "password": "nope",
                "csrf_token": field(no_csrf.text, "csrf_token"),  # each answer is a fresh form
            },
        )
        unknown = await browser.post(
            "/portal/login",
            data={
                "username": "nobody",
                "password": "nope",
                "csrf_token": field(wrong.text, "csrf_token"),
            },
        )
        assert wrong.status_code == unknown.status_code == 401
        assert "Verkeerde gebruikersnaam of wachtwoord." in wrong.text
        assert "Verkeerde gebruikersnaam of wachtwoord." in unknown.text
        await browser_login(browser, "tina.tenant", "//evil.example/")
        assert (await browser.get("/consent/does-not-exist")).status_code == 404
        consent = await browser.get(link)
        forged = await browser.post(link, data={"csrf_token": "forged", "decision": "reject"})
        assert forged.status_code == 403
        not_mine = await browser.post(
            link,
            data={
                "csrf_token": field(consent.text, "csrf_token"),
                "decision": "approve",
                "eans": world.owner_ean,
            },
        )
        assert not_mine.status_code == 403
        assert "Traceback" not in not_mine.text


async def test_open_redirects_are_refused(app: FastAPI, world: ConsentWorld) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        response = await browser_login(browser, "tina.tenant", "//evil.example/")
        assert response.headers["location"] == "/portal/"
