"""A mandate never outlives the tenure of the people who gave it (issue 15, items 1, 12, 13).

A tenant's whole story: consent, the landlord's co-consent, reads, a move-out the registry
learns in advance and then dated today, the next tenant, and every face refusing the first
tenant's mandate; a move-out dated later ending the mandate then, by the daily job or not;
a new grid user; refusals that name only the mandate's own bounds; expiry on both DST days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points.repository import Tenure, merged_tenures, tenure_holding
from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.errors import NotFound
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.access import authorize_read, readable_portfolio
from datahub_api.meter_data.granularity import Granularity
from datahub_api.settings import Settings

from ..support.consent_world import ConsentWorld, log_in, make_consent_world
from ..support.environment import make_settings
from ..support.meter_data import day_rows
from ..support.parties import Esp, auth_headers
from ..support.reading_world import deliver, head_end_headers, mandate
from ..support.tenancy_world import BEFORE, DURING, MOVE_IN, SINCE, Tenancy, make_tenancy
from ..support.time_faces import z

HOOK = "127.0.0.1:9"  # deliveries are queued, never sent (no worker runs in tests)
API = ("api", "nps")


@pytest.fixture
def settings() -> Settings:
    return make_settings(
        meter_data_changes_margin_seconds=0, webhook_allowed_hosts=[HOOK], webhook_allowed_ports=[9]
    )


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> Tenancy:
    return await make_tenancy(app, client)


def esp_principal(esp: Esp) -> Principal:
    return Principal(
        subject=esp.client_id, role=Role.esp, scopes=ESP_SCOPES, organisation_id=esp.organisation_id
    )


async def events(client: httpx.AsyncClient, esp: Esp, *types: str) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {"limit": 1000}
    if types:
        params["types"] = ",".join(types)
    answer = await client.get(
        "/api/v1/events", params=params, headers=await auth_headers(client, esp)
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def hook(client: httpx.AsyncClient, esp: Esp) -> int:
    answer = await client.post(
        "/api/v1/webhooks",
        json={"url": f"http://{HOOK}/hooks"},
        headers=await auth_headers(client, esp),
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def delivered_types(client: httpx.AsyncClient, esp: Esp, endpoint: int) -> list[str]:
    answer = await client.get(
        f"/api/v1/webhooks/{endpoint}/deliveries",
        params={"limit": 1000},
        headers=await auth_headers(client, esp),
    )
    assert answer.status_code == 200, answer.text
    return sorted(item["event_type"] for item in answer.json()["items"])


async def v3_mandates(client: httpx.AsyncClient, esp: Esp) -> list[dict[str, Any]]:
    answer = await client.get("/v3/api/mandate", headers=await auth_headers(client, esp))
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"]["mandates"])


async def access_log(app: FastAPI, person: Any, ean: str) -> list[dict[str, Any]]:
    browser = await log_in(app, person)
    try:
        answer = await browser.get(f"/api/v1/access-points/{ean}/access-log")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])
    finally:
        await browser.aclose()


async def test_a_tenants_whole_story(
    app: FastAPI, client: httpx.AsyncClient, world: Tenancy
) -> None:
    endpoint = await hook(client, world.esp_a)
    faces, portal = await world.faces()
    try:
        # Consent: the tenant is not the grid user, so the landlord must co-consent.
        given = await world.consent(world.tenant, "tina")
        assert (given["status"], given["waiting_for_grid_user"]) == ("requested", True)
        assert await faces.native(world.ean, DURING) is None  # nothing before the co-consent
        await world.co_consent()
        mandate_id = int(given["id"])
        assert (await world.mandate(mandate_id))["status"] == "approved"

        # Reads: the tenant's days, on every face; the previous tenant's day is a gap.
        for day, expected in ((MOVE_IN, 92), (DURING, 96), (BEFORE, 0)):
            assert await faces.every_day_face(world.ean, day) == dict.fromkeys(
                ("native", "native_csv", "v3_read", "bulk", "portal_chart", "portal_csv"),
                expected,
            ), day
        # (In this story the tenant lives there until today: every later day is hers.)
        assert BEFORE not in await faces.changes(world.ean)
        assert MOVE_IN in await faces.changes(world.ean)

        # The registry learns the tenant leaves tomorrow: the mandate still reads today, and
        # says when it ends, on both faces, with an event and a webhook.
        today = today_in_brussels()
        tomorrow = today + timedelta(days=1)
        await world.occupy(
            (world.previous, SINCE, MOVE_IN.isoformat()),
            (world.tenant, MOVE_IN.isoformat(), tomorrow.isoformat()),
            (world.following, tomorrow.isoformat(), None),
        )
        ending = await world.mandate(mandate_id)
        assert ending["status"] == "approved"
        assert ending["ends_at"] == z(day_start(tomorrow))
        assert ending["expiration_date"] == "2027-06-01T00:00:00Z"  # as consented
        [v3] = await v3_mandates(client, world.esp_a)
        assert (v3["status"], v3["mandateExpirationDate"]) == ("Approved", z(day_start(tomorrow)))
        [told] = await events(client, world.esp_a, "mandate.ends_at_changed")
        assert told["data"]["ends_at"] == day_start(tomorrow).isoformat()
        assert await faces.native(world.ean, DURING) == 96
        # From the end instant on, nothing reads, whether or not the daily job has run.
        async with app.state.database.read_sessions() as session:
            with pytest.raises(NotFound):
                await authorize_read(
                    session,
                    esp_principal(world.esp_a),
                    world.ean,
                    start=day_start(DURING),
                    end=day_start(DURING + timedelta(days=1)),
                    granularities=[Granularity.PT15M],
                    channels=API,
                    now=day_start(tomorrow),
                )
            assert (
                await readable_portfolio(
                    session, esp_principal(world.esp_a), channels=API, now=day_start(tomorrow)
                )
                == []
            )

        # The registry corrects itself: the tenant left yesterday, the next tenant came
        # then. The mandate ends in that very transaction. (Yesterday, not today: the next
        # tenant's readings must lie in the past whatever the hour the test runs at.)
        moved = today - timedelta(days=1)
        await world.occupy(
            (world.previous, SINCE, MOVE_IN.isoformat()),
            (world.tenant, MOVE_IN.isoformat(), moved.isoformat()),
            (world.following, moved.isoformat(), None),
        )
        ended = await world.mandate(mandate_id)
        assert (ended["status"], ended["finished_reason"]) == ("finished", "tenure_ended")
        [v3] = await v3_mandates(client, world.esp_a)
        assert v3["status"] == "Finished"
        [finished] = await events(client, world.esp_a, "mandate.finished")
        assert finished["data"]["mandate_id"] == mandate_id
        assert finished["data"]["finished_reason"] == "tenure_ended"
        assert "mandate.finished" in await delivered_types(client, world.esp_a, endpoint)
        assert "mandate.ends_at_changed" in await delivered_types(client, world.esp_a, endpoint)

        # Every face refuses the first tenant's mandate, for every day.
        for day in (BEFORE, MOVE_IN, DURING, moved):
            assert set((await faces.every_day_face(world.ean, day)).values()) == {None}, day
        assert await faces.changes(world.ean) == {}
        assert await faces.v3_inserted(world.ean, datetime(2026, 1, 1, tzinfo=UTC)) is None

        # The next tenant consents too (with the landlord): ESP A reads their days only.
        await deliver(client, world.head_end, day_rows(world.ean, moved, slots=range(4)))
        nora = await world.consent(world.following, "nora")
        await world.co_consent()
        assert (await world.mandate(int(nora["id"])))["status"] == "approved"
        for day in (BEFORE, MOVE_IN, DURING):
            assert set((await faces.every_day_face(world.ean, day)).values()) == {0}, day
        assert await faces.native(world.ean, moved) == 4
        # Corrections of the first tenant's days are announced to nobody; the next tenant's
        # day is.
        await world.deliver(DURING, value="7")
        await deliver(client, world.head_end, day_rows(world.ean, moved, slots=range(6)))
        announced = await events(client, world.esp_a, "meter_data.available")
        assert [e["data"]["days"] for e in announced] == [[moved.isoformat()]]
    finally:
        await portal.aclose()

    # Who read whose data: each sees the reads of their own days, the first tenant also
    # after moving out; the previous and the next tenant never see the reads of hers.
    tenant_reads = await access_log(app, world.tenant, world.ean)
    assert tenant_reads
    assert all(r["period_to"] <= day_start(moved).isoformat() for r in tenant_reads)
    assert all(r["period_from"] >= day_start(MOVE_IN).isoformat() for r in tenant_reads)
    following_reads = await access_log(app, world.following, world.ean)
    assert following_reads
    assert all(r["period_from"] >= day_start(moved).isoformat() for r in following_reads)
    assert await access_log(app, world.previous, world.ean) == []
    assert {r["mandate_id"] for r in following_reads} == {int(nora["id"])}
    assert {r["mandate_id"] for r in tenant_reads} == {mandate_id}


async def test_a_move_out_dated_later_ends_the_mandate_then(
    app: FastAPI, client: httpx.AsyncClient, world: Tenancy
) -> None:
    mandate_id = int((await world.consent(world.tenant, "tina"))["id"])
    await world.co_consent()
    moving = today_in_brussels() + timedelta(days=10)
    await world.occupy(
        (world.previous, SINCE, MOVE_IN.isoformat()),
        (world.tenant, MOVE_IN.isoformat(), moving.isoformat()),
    )
    assert (await world.mandate(mandate_id))["ends_at"] == z(day_start(moving))
    # The daily job before the day changes nothing; the first run after it ends it.
    async with app.state.database.write_sessions() as session:
        early = await mandates_service.expire_and_renew(
            session, day_start(moving) - timedelta(minutes=1)
        )
        await session.commit()
    assert early.tenures_ended == 0
    assert (await world.mandate(mandate_id))["status"] == "approved"
    async with app.state.database.write_sessions() as session:
        run = await mandates_service.expire_and_renew(
            session, day_start(moving) + timedelta(minutes=65)
        )
        await session.commit()
    assert run.tenures_ended == 1
    ended = await world.mandate(mandate_id)
    assert (ended["status"], ended["finished_reason"]) == ("finished", "tenure_ended")
    assert ended["renewal_status"] is None  # it did not expire
    [finished] = await events(client, world.esp_a, "mandate.finished")
    assert finished["data"]["finished_reason"] == "tenure_ended"


async def test_a_cancelled_move_out_is_forgotten(
    app: FastAPI, client: httpx.AsyncClient, world: Tenancy
) -> None:
    mandate_id = int((await world.consent(world.tenant, "tina"))["id"])
    await world.co_consent()
    moving = today_in_brussels() + timedelta(days=10)
    tenants = (world.previous, SINCE, MOVE_IN.isoformat())
    await world.occupy(tenants, (world.tenant, MOVE_IN.isoformat(), moving.isoformat()))
    await world.occupy(tenants, (world.tenant, MOVE_IN.isoformat(), None))
    again = await world.mandate(mandate_id)
    assert (again["status"], again["ends_at"]) == ("approved", None)
    told = await events(client, world.esp_a, "mandate.ends_at_changed")
    assert [e["data"]["ends_at"] for e in told] == [day_start(moving).isoformat(), None]
    # A registry write that leaves the tenure as it was tells nobody anything.
    await world.occupy(tenants, (world.tenant, MOVE_IN.isoformat(), None), gvm=True)
    assert len(await events(client, world.esp_a, "mandate.ends_at_changed")) == 2


async def test_a_new_grid_user_ends_the_mandate_they_co_signed_from_their_date(
    app: FastAPI, client: httpx.AsyncClient, world: Tenancy
) -> None:
    mandate_id = int((await world.consent(world.tenant, "tina"))["id"])
    await world.co_consent()
    sold = today_in_brussels() + timedelta(days=3)
    await world.occupy(
        (world.previous, SINCE, MOVE_IN.isoformat()),
        (world.tenant, MOVE_IN.isoformat(), None),
        grid_users=[
            {"account_id": world.landlord.id, "valid_from": SINCE, "valid_to": sold.isoformat()},
            {"account_id": world.following.id, "valid_from": sold.isoformat()},
        ],
    )
    assert (await world.mandate(mandate_id))["ends_at"] == z(day_start(sold))
    async with app.state.database.write_sessions() as session:
        await mandates_service.expire_and_renew(session, day_start(sold) + timedelta(minutes=5))
        await session.commit()
    ended = await world.mandate(mandate_id)
    assert (ended["status"], ended["finished_reason"]) == ("finished", "grid_user_changed")


async def test_a_registry_that_drops_the_consenting_customer_ends_the_mandate_at_once(
    app: FastAPI, client: httpx.AsyncClient, world: Tenancy
) -> None:
    """A correction after which the customer never held the flat on the day they
    consented: nothing of theirs to share, so the mandate ends (also a requested one)."""
    waiting = int((await world.consent(world.tenant, "tina"))["id"])
    await world.occupy((world.previous, SINCE, None))
    ended = await world.mandate(waiting)
    assert (ended["status"], ended["finished_reason"]) == ("finished", "tenure_ended")
    browser = await log_in(app, world.landlord)
    try:
        assert (await browser.get("/api/v1/co-consents")).json() == []
    finally:
        await browser.aclose()


# --- refusals name only the mandate's own bounds (item 12) ---------------------------------


async def test_refusals_never_name_the_customers_move_in_date(
    app: FastAPI, client: httpx.AsyncClient, world: Tenancy
) -> None:
    await world.consent(
        world.tenant,
        "tina",
        dataServices=[
            {
                "dataServiceType": "VH_kwartier_uur",
                "dataPeriodFrom": "2026-02-01T00:00:00Z",
                "dataPeriodTo": "2027-06-01T00:00:00Z",
            }
        ],
    )
    await world.co_consent()
    faces, portal = await world.faces()
    move_in = {MOVE_IN.isoformat(), "2026-03-28T23:00", "29-03-2026", "2026-03-29T"}
    try:
        outside = {"from": "2026-01-20", "to": "2026-02-10"}  # before the data period
        native = await client.get(
            f"/api/v1/access-points/{world.ean}/meter-data", params=outside, headers=faces.headers
        )
        bulk = await client.post(
            "/api/v1/meter-data/query",
            json={"eans": [world.ean], **outside, "granularity": "PT15M"},
            headers=faces.headers,
        )
        v3 = await client.get(
            "/v3/api/mandate/energy",
            params={
                "ean": world.ean,
                "periodType": "readTime",
                "granularity": "daily",
                "from": "2026-01-19T23:00:00Z",
                "to": "2026-02-09T23:00:00Z",
            },
            headers=faces.headers,
        )
        chart = await portal.get(
            f"/portal/esp/access-points/{world.ean}", params={"span": "month", "date": "2026-01-15"}
        )
        csv = await portal.get(
            f"/portal/esp/access-points/{world.ean}/csv",
            params={"span": "month", "date": "2026-01-15"},
        )
    finally:
        await portal.aclose()
    assert native.status_code == 403
    assert native.json()["allowed_from"] == "2026-02-01T00:00:00+00:00"
    assert native.json()["allowed_to"] == "2027-06-01T00:00:00+00:00"
    assert set(native.json()) - {"type", "title", "status", "detail", "instance", "request_id"} == {
        "allowed_from",
        "allowed_to",
    }
    assert b'"status":403' in bulk.content
    assert v3.status_code == 403, v3.text
    for answer in (native, bulk, v3, chart, csv):
        body = answer.text
        assert not any(mark in body for mark in move_in), (answer.request.url, body[:500])
    # Inside the data period, the previous tenant's days are gaps: no refusal to compare.
    assert await faces.native(world.ean, BEFORE) == 0
    assert await faces.native(world.ean, date(2026, 2, 2)) == 0


# --- expiry (item 13) -------------------------------------------------------------------------


@pytest.fixture
async def owners(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


async def test_a_consent_for_a_past_period_reads_for_thirty_days(
    app: FastAPI, client: httpx.AsyncClient, owners: ConsentWorld
) -> None:
    """Expiry defaults to the end of the data period, but never sooner than 30 days after
    the consent: a consent for a past period is not expired at once."""
    mandate_id = await mandate(
        app,
        client,
        owners.esp_a,
        owners.owner,
        owners.owner_ean,
        period_from="2024-03-01T00:00:00Z",
        period_to="2024-11-01T00:00:00Z",
    )
    head_end = await head_end_headers(app, client)
    await deliver(client, head_end, day_rows(owners.owner_ean, date(2024, 3, 31)))
    headers = await auth_headers(client, owners.esp_a)
    made = (await client.get(f"/api/v1/mandates/{mandate_id}", headers=headers)).json()
    created = datetime.fromisoformat(made["created_at"])
    expires = datetime.fromisoformat(made["expiration_date"])
    assert abs(expires - (created + timedelta(days=30))) < timedelta(minutes=1)
    answer = await client.get(
        f"/api/v1/access-points/{owners.owner_ean}/meter-data",
        params={"from": "2024-03-31", "to": "2024-04-01"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["series"][0]["values"]) == 92


@pytest.mark.parametrize(
    ("dst_day", "utc_midnight"),
    [
        (date(2024, 3, 31), datetime(2024, 3, 30, 23, 0, tzinfo=UTC)),  # 23 hours
        (date(2024, 10, 27), datetime(2024, 10, 26, 22, 0, tzinfo=UTC)),  # 25 hours
    ],
)
async def test_past_its_expiration_instant_a_mandate_reads_nothing_on_dst_days(
    app: FastAPI,
    client: httpx.AsyncClient,
    owners: ConsentWorld,
    dst_day: date,
    utc_midnight: datetime,
) -> None:
    """A mandate expiring at the end of a DST day (Brussels midnight: 22:00 or 23:00 UTC)
    reads that whole day up to the instant and nothing after it, although the daily job
    only finishes it at 23:05 UTC."""
    assert day_start(dst_day) == utc_midnight
    end_of_day = day_start(dst_day + timedelta(days=1))
    mandate_id = await mandate(
        app,
        client,
        owners.esp_a,
        owners.owner,
        owners.owner_ean,
        period_from="2024-01-01T00:00:00Z",
        period_to="2025-01-01T00:00:00Z",
    )
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE mandates SET expiration_date = :at WHERE id = :id"),
            {"at": end_of_day, "id": mandate_id},
        )
        await session.commit()
    principal = esp_principal(owners.esp_a)

    async def read(now: datetime) -> None:
        async with app.state.database.read_sessions() as session:
            await authorize_read(
                session,
                principal,
                owners.owner_ean,
                start=day_start(dst_day),
                end=end_of_day,
                granularities=[Granularity.PT15M],
                channels=API,
                now=now,
            )

    await read(end_of_day - timedelta(microseconds=1))
    for now in (end_of_day, end_of_day + timedelta(minutes=30)):
        with pytest.raises(NotFound):
            await read(now)
    # The daily job (23:05 UTC) then puts the status in step.
    job = datetime.combine(end_of_day.date(), datetime.min.time(), tzinfo=UTC).replace(
        hour=23, minute=5
    )
    assert job > end_of_day
    async with app.state.database.write_sessions() as session:
        run = await mandates_service.expire_and_renew(session, job)
        await session.commit()
    assert run.expired == 1
    async with app.state.database.read_sessions() as session:
        status = await session.scalar(
            text("SELECT status FROM mandates WHERE id = :id"), {"id": mandate_id}
        )
    assert status == "finished"


async def test_an_expired_mandate_reads_nothing_on_any_face_before_the_job(
    app: FastAPI, client: httpx.AsyncClient, world: Tenancy
) -> None:
    mandate_id = int((await world.consent(world.tenant, "tina"))["id"])
    await world.co_consent()
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text(
                "UPDATE mandates SET expiration_date = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": mandate_id},
        )
        await session.commit()
    assert (await world.mandate(mandate_id))["status"] == "approved"  # the job has not run
    faces, portal = await world.faces()
    try:
        assert set((await faces.every_day_face(world.ean, DURING)).values()) == {None}
        assert await faces.changes(world.ean) == {}
        assert await faces.v3_inserted(world.ean, datetime(2026, 1, 1, tzinfo=UTC)) is None
    finally:
        await portal.aclose()


def test_periods_that_touch_are_one_tenure() -> None:
    d = date.fromisoformat
    spans = merged_tenures(
        [
            (d("2024-01-01"), d("2024-06-01")),
            (d("2024-06-01"), d("2024-09-01")),  # touches: the same tenure
            (d("2024-08-01"), d("2024-08-15")),  # inside it
            (d("2024-09-02"), None),  # a day apart: another one
        ]
    )
    assert spans == [Tenure(d("2024-01-01"), d("2024-09-01")), Tenure(d("2024-09-02"), None)]
    assert tenure_holding(spans, d("2024-09-01")) is None
    assert tenure_holding(spans, d("2030-01-01")) == spans[1]
