"""A small consent world: two ESPs, a tenant whose landlord is the grid user, an owner who is
both, and their access points, made through the real services and routes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.auth.principal import Role

from .access_point_data import access_point_body, fresh_ean
from .parties import Esp, auth_headers, make_esp, make_machine_client

PASSWORD = "a long demo password"


@dataclass
class Person:
    id: int
    username: str


@dataclass
class ConsentWorld:
    esp_a: Esp
    esp_b: Esp
    tenant: Person
    landlord: Person
    owner: Person
    tenant_eans: list[str]  # digital meters; the landlord is their grid user
    tenant_km_ean: str  # a KM meter: not eligible for API/portal consent
    owner_ean: str
    operator_headers: dict[str, str]


async def make_person(app: FastAPI, username: str, role: AccountRole) -> Person:
    async with app.state.database.write_sessions() as session:
        account = Account(
            username=username,
            password_hash=hash_password(PASSWORD),
            display_name=username.replace(".", " ").title(),
            role=role,
        )
        session.add(account)
        await session.commit()
        return Person(id=account.id, username=username)


async def put_access_point(
    client: httpx.AsyncClient, headers: dict[str, str], ean: str, **body: Any
) -> None:
    response = await client.put(
        f"/api/v1/access-points/{ean}", json=access_point_body(**body), headers=headers
    )
    assert response.status_code in (200, 201), response.text


async def make_consent_world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    esp_a = await make_esp(app, "ESP A")
    esp_b = await make_esp(app, "ESP B")
    tenant = await make_person(app, "tina.tenant", AccountRole.customer)
    landlord = await make_person(app, "larry.landlord", AccountRole.grid_user)
    owner = await make_person(app, "olga.owner", AccountRole.customer)
    operator = await make_machine_client(app, Role.operator)
    headers = await auth_headers(client, operator)
    tenant_eans = [fresh_ean(), fresh_ean()]
    for ean in tenant_eans:
        await put_access_point(
            client, headers, ean, grid_user=landlord.id, customer_ids=(tenant.id,)
        )
    km = fresh_ean()
    await put_access_point(
        client,
        headers,
        km,
        grid_user=landlord.id,
        customer_ids=(tenant.id,),
        meter_type="KM",
        communication_periods=[],
    )
    owner_ean = fresh_ean()
    await put_access_point(client, headers, owner_ean, grid_user=owner.id, customer_ids=(owner.id,))
    return ConsentWorld(
        esp_a=esp_a,
        esp_b=esp_b,
        tenant=tenant,
        landlord=landlord,
        owner=owner,
        tenant_eans=tenant_eans,
        tenant_km_ean=km,
        owner_ean=owner_ean,
        operator_headers=headers,
    )


async def log_in(app: FastAPI, person: Person) -> httpx.AsyncClient:
    """A separate client (its own cookie jar) logged in as ``person``; close it after use."""
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    response = await browser.post(
        "/api/v1/auth/login", json={"username": person.username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    browser.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return browser


def field(html: str, name: str) -> str:
    """The value of the form field ``name`` of a portal page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


async def browser_login(
    browser: httpx.AsyncClient, username: str, next_path: str
) -> httpx.Response:
    """Log in through the portal's login form, as a browser does."""
    page = await browser.get(f"/portal/login?next={next_path}")
    assert page.status_code == 200
    return await browser.post(
        "/portal/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": field(page.text, "csrf_token"),
            "next": field(page.text, "next"),
        },
    )


def consent_request(esp: Esp, **over: object) -> dict[str, object]:
    """A Fluvius ``shortUrlIdentifier`` body for ``esp``; ``over`` replaces fields."""
    body: dict[str, object] = {
        "dataAccessContractNumber": esp.contract_number,
        "referenceNumber": "customer-4711",
        "flow": "B2C",
        "dataServices": [
            {
                "dataServiceType": "VH_kwartier_uur",
                "dataPeriodFrom": "2025-01-01T00:00:00Z",
                "dataPeriodTo": "2027-01-01T00:00:00Z",
            }
        ],
        "numberOfEans": 2,
        "returnUrlSuccess": "https://esp.example/consent/ok",
        "returnUrlFailed": "https://esp.example/consent/failed",
    }
    body.update(over)
    return body


async def open_consent(client: httpx.AsyncClient, esp: Esp, **over: object) -> str:
    """Open a consent session on the Fluvius face; its ``shortUrlIdentifier``."""
    response = await client.post(
        "/v3/api/shortUrlIdentifier",
        json=consent_request(esp, **over),
        headers=await auth_headers(client, esp),
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "success"
    return str(response.json()["data"]["shortUrlIdentifier"])


async def decide(
    app: FastAPI, person: Person, identifier: str, eans: list[str], *, approve: bool = True
) -> httpx.Response:
    """``person`` logs in and answers the consent session."""
    browser = await log_in(app, person)
    try:
        return await browser.post(
            f"/api/v1/consent-sessions/{identifier}/decision",
            json={"decision": "approve" if approve else "reject", "eans": eans},
        )
    finally:
        await browser.aclose()


async def owner_mandate(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, **over: object
) -> int:
    """An approved mandate of ESP A on the owner's EAN (the owner is its grid user)."""
    identifier = await open_consent(client, world.esp_a, numberOfEans=1, **over)
    decided = await decide(app, world.owner, identifier, [world.owner_ean])
    assert decided.status_code == 200, decided.text
    return int(decided.json()["mandates"][0]["id"])
