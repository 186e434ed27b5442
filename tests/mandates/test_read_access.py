"""The gate of every metering-data read: mandate, channel, period, tenure, granularity;
and the access log the customer sees."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.access_log import service as access_log_service
from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.errors import Forbidden, NotFound
from datahub_api.mandates.access import authorize_read
from datahub_api.meter_data.granularity import Granularity

from ..support.consent_world import ConsentWorld, decide, log_in, make_consent_world
from ..support.parties import Esp, auth_headers

API = ("api", "nps")


def esp_principal(esp: Esp) -> Principal:
    return Principal(
        subject=esp.client_id, role=Role.esp, scopes=ESP_SCOPES, organisation_id=esp.organisation_id
    )


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


async def mandate(
    client: httpx.AsyncClient, app: FastAPI, world: ConsentWorld, service_type: str, **period: str
) -> int:
    body = {
        "dataAccessContractNumber": world.esp_a.contract_number,
        "referenceNumber": f"read-{service_type}",
        "flow": "B2C",
        "dataServices": [{"dataServiceType": service_type, **period}],
        "numberOfEans": 1,
    }
    made = await client.post(
        "/v3/api/shortUrlIdentifier", json=body, headers=await auth_headers(client, world.esp_a)
    )
    identifier = made.json()["data"]["shortUrlIdentifier"]
    decided = await decide(app, world.owner, identifier, [world.owner_ean])
    return int(decided.json()["mandates"][0]["id"])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_no_mandate_reads_like_an_unknown_ean(app: FastAPI, world: ConsentWorld) -> None:
    async with app.state.database.read_sessions() as session:
        with pytest.raises(NotFound) as without:
            await authorize_read(
                session,
                esp_principal(world.esp_a),
                world.owner_ean,
                start=at("2025-01-01"),
                end=at("2025-01-02"),
                granularities=[Granularity.P1D],
                channels=API,
            )
        with pytest.raises(NotFound) as unknown:
            await authorize_read(
                session,
                esp_principal(world.esp_a),
                "541448800000000000",
                start=at("2025-01-01"),
                end=at("2025-01-02"),
                granularities=[Granularity.P1D],
                channels=API,
            )
    assert str(without.value).replace(world.owner_ean, "X") == str(unknown.value).replace(
        "541448800000000000", "X"
    )


async def test_period_granularity_tenure_and_channel(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await mandate(
        client,
        app,
        world,
        "VH_dag",
        dataPeriodFrom="2023-01-01T00:00:00Z",
        dataPeriodTo="2027-01-01T00:00:00Z",
    )
    principal = esp_principal(world.esp_a)
    async with app.state.database.read_sessions() as session:
        grant = await authorize_read(
            session,
            principal,
            world.owner_ean,
            start=at("2025-03-01"),
            end=at("2025-04-01"),
            granularities=[Granularity.P1D],
            channels=API,
        )
        # The ESP may ask for its data period; the owner's tenure began 2024-01-01 (Brussels
        # midnight): earlier data is not theirs and is never released.
        assert grant.allowed_from == datetime(2023, 1, 1, tzinfo=UTC)
        assert grant.released_from == datetime(2023, 12, 31, 23, 0, tzinfo=UTC)
        with pytest.raises(Forbidden) as granularity:
            await authorize_read(
                session,
                principal,
                world.owner_ean,
                start=at("2025-03-01"),
                end=at("2025-03-02"),
                granularities=[Granularity.PT15M],
                channels=API,
            )
        assert "granularity" in str(granularity.value)
        before_tenure = await authorize_read(
            session,
            principal,
            world.owner_ean,
            start=at("2023-06-01"),
            end=at("2023-07-01"),
            granularities=[Granularity.P1D],
            channels=API,
        )
        assert before_tenure.released_part(at("2023-06-01"), at("2023-07-01")) is None
        with pytest.raises(Forbidden) as outside:
            await authorize_read(
                session,
                principal,
                world.owner_ean,
                start=at("2022-12-01"),
                end=at("2023-07-01"),
                granularities=[Granularity.P1D],
                channels=API,
            )
        # Only the mandate's own bounds, never the customer's move-in date.
        assert outside.value.extra == {
            "allowed_from": "2023-01-01T00:00:00+00:00",
            "allowed_to": "2027-01-01T00:00:00+00:00",
        }
        assert "2023-12-31" not in outside.value.detail
        with pytest.raises(NotFound):
            await authorize_read(
                session,
                principal,
                world.owner_ean,
                start=at("2025-03-01"),
                end=at("2025-04-01"),
                granularities=[Granularity.P1D],
                channels=("portal",),
            )
        with pytest.raises(NotFound):
            await authorize_read(
                session,
                esp_principal(world.esp_b),
                world.owner_ean,
                start=at("2025-03-01"),
                end=at("2025-04-01"),
                granularities=[Granularity.P1D],
                channels=API,
            )


async def test_a_revoked_mandate_stops_the_next_read(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    mandate_id = await mandate(client, app, world, "VH_kwartier_uur")
    principal = esp_principal(world.esp_a)
    start = end = datetime.now(UTC)
    async with app.state.database.read_sessions() as session:
        await authorize_read(
            session,
            principal,
            world.owner_ean,
            granularities=[Granularity.PT15M],
            channels=API,
            start=start,
            end=end,
        )
    owner = await log_in(app, world.owner)
    try:
        assert (await owner.post(f"/api/v1/mandates/{mandate_id}/revoke")).status_code == 200
    finally:
        await owner.aclose()
    async with app.state.database.read_sessions() as session:
        with pytest.raises(NotFound):
            await authorize_read(
                session,
                principal,
                world.owner_ean,
                granularities=[Granularity.PT15M],
                channels=API,
                start=start,
                end=end,
            )


async def test_the_customer_sees_who_read_their_data(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await mandate(client, app, world, "VH_kwartier_uur", dataPeriodFrom="2025-01-01T00:00:00Z")
    principal = esp_principal(world.esp_a)
    async with app.state.database.write_sessions() as session:
        grant = await authorize_read(
            session,
            principal,
            world.owner_ean,
            start=at("2025-02-01"),
            end=at("2025-02-02"),
            granularities=[Granularity.PT15M],
            channels=API,
        )
        access_log_service.record_read(
            session,
            principal,
            grant,
            start=at("2025-02-01"),
            end=at("2025-02-02"),
            granularity="PT15M",
            face="api-v1",
        )
        await session.commit()
    owner = await log_in(app, world.owner)
    tenant = await log_in(app, world.tenant)
    try:
        log = await owner.get(f"/api/v1/access-points/{world.owner_ean}/access-log")
        assert log.status_code == 200
        assert [(r["reader"], r["granularity"], r["via"]) for r in log.json()["items"]] == [
            ("ESP A", "PT15M", "api-v1")
        ]
        assert (
            await tenant.get(f"/api/v1/access-points/{world.owner_ean}/access-log")
        ).status_code == 404
    finally:
        await owner.aclose()
        await tenant.aclose()
    esp = await client.get(
        f"/api/v1/access-points/{world.owner_ean}/access-log",
        headers=await auth_headers(client, world.esp_a),
    )
    assert esp.status_code == 403
