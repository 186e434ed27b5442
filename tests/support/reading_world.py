"""Shared by the tests of the ESP's reads (change feed, bulk query): mandates of a chosen
data service and period, readings delivered by the head-end, revocation."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from fastapi import FastAPI

from datahub_api.auth.principal import Role

from .consent_world import ConsentWorld, Person, decide, log_in, open_consent, put_access_point
from .meter_data import csv_body
from .parties import Esp, auth_headers, make_machine_client

INGEST = "/api/v1/ingest/meter-readings"


async def head_end_headers(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    party = await make_machine_client(app, Role.head_end)
    return await auth_headers(client, party)


async def deliver(
    client: httpx.AsyncClient, head_end: dict[str, str], rows: Sequence[Sequence[str]]
) -> dict[str, object]:
    """Readings through the head-end route; the ingest result."""
    response = await client.post(
        INGEST, content=csv_body(rows), headers={**head_end, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


async def mandate(
    app: FastAPI,
    client: httpx.AsyncClient,
    esp: Esp,
    person: Person,
    ean: str,
    *,
    service: str = "VH_kwartier_uur",
    period_from: str = "2025-01-01T00:00:00Z",
    period_to: str = "2027-01-01T00:00:00Z",
    reference: str | None = None,
) -> int:
    """An approved mandate of ``esp`` on ``ean``, given by ``person`` (its grid user)."""
    identifier = await open_consent(
        client,
        esp,
        numberOfEans=1,
        referenceNumber=reference or f"ref-{service}-{ean[-6:]}",
        dataServices=[
            {
                "dataServiceType": service,
                "dataPeriodFrom": period_from,
                "dataPeriodTo": period_to,
            }
        ],
    )
    decided = await decide(app, person, identifier, [ean])
    assert decided.status_code == 200, decided.text
    [made] = decided.json()["mandates"]
    assert made["status"] == "approved", made
    return int(made["id"])


async def revoke(app: FastAPI, person: Person, mandate_id: int) -> None:
    browser = await log_in(app, person)
    try:
        response = await browser.post(f"/api/v1/mandates/{mandate_id}/revoke")
        assert response.status_code == 200, response.text
    finally:
        await browser.aclose()


async def access_log(app: FastAPI, person: Person, ean: str) -> list[dict[str, object]]:
    browser = await log_in(app, person)
    try:
        response = await browser.get(f"/api/v1/access-points/{ean}/access-log")
        assert response.status_code == 200, response.text
        items: list[dict[str, object]] = response.json()["items"]
        return items
    finally:
        await browser.aclose()


async def moved_in_ean(
    client: httpx.AsyncClient,
    world: ConsentWorld,
    ean: str,
    *,
    metered_since: str,
    moved_in: str,
    energy_type: str = "E",
) -> str:
    """An access point metered since ``metered_since`` whose owner (grid user and customer)
    moved in on ``moved_in``: the data before it is a previous occupant's."""
    await put_access_point(
        client,
        world.operator_headers,
        ean,
        since=metered_since,
        energy_type=energy_type,
        grid_users=[{"account_id": world.owner.id, "valid_from": moved_in}],
        customers=[{"account_id": world.owner.id, "valid_from": moved_in}],
    )
    return ean
