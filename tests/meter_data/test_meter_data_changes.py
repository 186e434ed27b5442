"""The ESP's incremental pull, GET /api/v1/meter-data/changes: paging, corrections, mandate
windows (data period, tenure, data service), isolation, revocation, the access log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.events.event_types import METER_DATA_AVAILABLE
from datahub_api.jobs import JobQueue
from datahub_api.meter_data.granularity import Granularity
from datahub_api.settings import Settings

from ..support.access_point_data import fresh_ean
from ..support.consent_world import ConsentWorld, make_consent_world
from ..support.environment import make_settings
from ..support.meter_data import day_rows, one, start_of
from ..support.parties import auth_headers
from ..support.reading_world import (
    access_log,
    deliver,
    head_end_headers,
    mandate,
    moved_in_ean,
    revoke,
)
from ..support.webhook_receiver import Receiver, running_receiver

URL = "/api/v1/meter-data/changes"
SPRING = date(2026, 3, 29)  # 92 quarter-hours
AUTUMN = date(2026, 10, 25)  # 100 quarter-hours
DAY = date(2026, 2, 10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def settings(receiver: Receiver) -> Settings:
    # Every block is handed out at once (the margin is tested on its own below).
    return make_settings(
        meter_data_changes_margin_seconds=0,
        webhook_allowed_hosts=[receiver.host],
        webhook_allowed_ports=[receiver.port],
    )


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


@pytest.fixture
async def head_end(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    return await head_end_headers(app, client)


async def changes(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def everything(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await changes(client, headers, **({"after": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items


async def test_pages_through_new_blocks_then_waits_with_the_same_cursor(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    days = [date(2026, 2, 10), date(2026, 2, 11), date(2026, 2, 12)]
    for day in days:
        await deliver(client, head_end, day_rows(ean, day))
    headers = await auth_headers(client, world.esp_a)

    first = await changes(client, headers, limit=2)
    assert [item["day"] for item in first["items"]] == ["2026-02-10", "2026-02-11"]
    assert first["has_more"] is True
    item = first["items"][0]
    assert {k: v for k, v in item.items() if k not in ("values", "states", "inserted_at")} == {
        "ean": ean,
        "meter": "1SAG2120063032",
        "direction": "offtake",
        "register": "total",
        "granularity": "PT15M",
        "day": "2026-02-10",
        "version": 1,
        "start": "2026-02-09T23:00:00+00:00",
        "step": "PT15M",
        "unit": "kWh",
    }
    assert item["values"][:3] == [0.001, 0.002, 0.003]
    assert item["values"][-1] == 0.096
    assert item["states"] == ["READ"] * 96

    second = await changes(client, headers, after=first["next_cursor"], limit=2)
    assert [item["day"] for item in second["items"]] == ["2026-02-12"]
    assert second["has_more"] is False
    third = await client.get(URL, params={"after": second["next_cursor"]}, headers=headers)
    assert third.json()["items"] == []
    assert third.json()["next_cursor"] == second["next_cursor"]
    unchanged = await client.get(
        URL,
        params={"after": second["next_cursor"]},
        headers={**headers, "If-None-Match": third.headers["ETag"]},
    )
    assert unchanged.status_code == 304


async def test_a_correction_comes_again_with_its_new_version(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, DAY, slots=range(0, 48)))
    headers = await auth_headers(client, world.esp_a)
    page = await changes(client, headers)
    [first] = page["items"]
    assert first["values"][47:49] == [0.048, None]  # a gap is null, never 0
    assert first["states"][47:49] == ["READ", None]

    corrected = await deliver(
        client, head_end, [one(ean, start_of(DAY, Granularity.PT15M, 0), "1.500", state="VAL")]
    )
    assert corrected["blocks_corrected"] == 1
    later = await changes(client, headers, after=page["next_cursor"])
    [again] = later["items"]
    assert (again["day"], again["version"]) == (first["day"], 2)
    assert again["inserted_at"] > first["inserted_at"]
    assert again["values"][:2] == [1.5, 0.002]
    assert again["states"][:2] == ["VAL", "READ"]
    # From the beginning the block comes once, as it is now.
    assert [(i["day"], i["version"]) for i in await everything(client, headers)] == [
        ("2026-02-10", 2)
    ]


@pytest.mark.parametrize(("day", "slots"), [(SPRING, 92), (AUTUMN, 100)])
async def test_dst_days_have_their_own_number_of_values(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    head_end: dict[str, str],
    day: date,
    slots: int,
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, day))
    await deliver(client, head_end, day_rows(ean, day, granularity=Granularity.PT1H))
    items = await everything(client, await auth_headers(client, world.esp_a))
    by_step = {item["step"]: item for item in items}
    assert len(by_step["PT15M"]["values"]) == slots
    assert len(by_step["PT1H"]["values"]) == slots // 4
    assert by_step["PT15M"]["values"][-1] == slots / 1000


async def test_esp_b_never_sees_esp_a_eans(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    await mandate(app, client, world.esp_a, world.owner, world.owner_ean)
    other_ean = await moved_in_ean(
        client, world, fresh_ean(), metered_since="2024-01-01", moved_in="2024-01-01"
    )
    await mandate(app, client, world.esp_b, world.owner, other_ean)
    await deliver(client, head_end, day_rows(world.owner_ean, DAY) + day_rows(other_ean, DAY))
    seen_a = await everything(client, await auth_headers(client, world.esp_a))
    seen_b = await everything(client, await auth_headers(client, world.esp_b))
    assert {item["ean"] for item in seen_a} == {world.owner_ean}
    assert {item["ean"] for item in seen_b} == {other_ean}


async def test_a_daily_mandate_gets_daily_blocks_only(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean, service="VH_dag")
    await deliver(
        client,
        head_end,
        day_rows(ean, DAY)
        + day_rows(ean, DAY, granularity=Granularity.PT1H)
        + day_rows(ean, DAY, granularity=Granularity.P1D, value="4.656"),
    )
    items = await everything(client, await auth_headers(client, world.esp_a))
    assert [(item["granularity"], item["values"]) for item in items] == [("P1D", [4.656])]


async def test_an_installation_mandate_reads_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean, service="IG")
    await deliver(client, head_end, day_rows(ean, DAY, granularity=Granularity.P1D, value="1"))
    assert await everything(client, await auth_headers(client, world.esp_a)) == []


async def test_a_revoked_mandate_stops_the_next_call(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    mandate_id = await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, DAY))
    headers = await auth_headers(client, world.esp_a)
    assert len((await changes(client, headers))["items"]) == 1
    await revoke(app, world.owner, mandate_id)
    assert (await changes(client, headers))["items"] == []


async def test_only_days_inside_the_data_period_and_the_tenure(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    # Metered since 2023; the owner moved in on 2024-06-01; the mandate covers 2024
    # (dataPeriodTo 2025-01-01T00:00Z is 01:00 in Brussels: 1 January is not wholly inside).
    ean = await moved_in_ean(
        client, world, fresh_ean(), metered_since="2023-01-01", moved_in="2024-06-01"
    )
    await mandate(
        app,
        client,
        world.esp_a,
        world.owner,
        ean,
        period_from="2024-01-01T00:00:00Z",
        period_to="2025-01-01T00:00:00Z",
    )
    days = [date(2024, 5, 31), date(2024, 6, 1), date(2024, 12, 31), date(2025, 1, 1)]
    for day in days:
        await deliver(client, head_end, day_rows(ean, day, granularity=Granularity.P1D, value="2"))
    items = await everything(client, await auth_headers(client, world.esp_a))
    assert [item["day"] for item in items] == ["2024-06-01", "2024-12-31"]


async def test_each_read_is_in_the_customers_access_log(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, DAY) + day_rows(ean, date(2026, 2, 12)))
    headers = await auth_headers(client, world.esp_a)
    await changes(client, headers)
    [record] = await access_log(app, world.owner, ean)
    assert (record["reader"], record["granularity"], record["via"]) == ("ESP A", "PT15M", "api-v1")
    assert (record["period_from"], record["period_to"]) == (
        "2026-02-09T23:00:00Z",
        "2026-02-12T23:00:00Z",
    )
    # A call that returns nothing reads nothing.
    await changes(client, headers, after=(await changes(client, headers))["next_cursor"])
    assert len(await access_log(app, world.owner, ean)) == 2


async def test_bad_cursors_and_callers_are_refused(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    headers = await auth_headers(client, world.esp_a)
    for cursor in ("not-a-cursor", "eyJ2IjoxLCJ0IjoiMjAyNiIsImIiOiJ4In0", "e30"):
        response = await client.get(URL, params={"after": cursor}, headers=headers)
        assert response.status_code == 422, cursor
        assert response.headers["content-type"] == "application/problem+json"
        assert "cursor" in response.json()["detail"]
    too_many = await client.get(URL, params={"limit": 5000}, headers=headers)
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == "application/problem+json"
    assert (await client.get(URL, headers=head_end)).status_code == 403
    assert (await client.get(URL)).status_code == 401


@pytest.mark.parametrize("settings", [make_settings()])  # the default margin
async def test_the_margin_holds_back_blocks_of_transactions_that_may_still_commit(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    await mandate(app, client, world.esp_a, world.owner, world.owner_ean)
    await deliver(client, head_end, day_rows(world.owner_ean, DAY))
    page = await changes(client, await auth_headers(client, world.esp_a))
    assert page["items"] == []
    assert page["has_more"] is False


# --- meter_data.available events -----------------------------------------------------------


async def available_events(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    response = await client.get(
        "/api/v1/events", params={"types": METER_DATA_AVAILABLE}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [item["data"] for item in response.json()["items"]]


async def test_one_event_per_esp_ean_and_batch_with_the_days(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    mandate_id = await mandate(app, client, world.esp_a, world.owner, ean, reference="cust-1")
    second_id = await mandate(
        app, client, world.esp_a, world.owner, ean, service="VH_dag", reference="cust-1-daily"
    )
    other_ean = await moved_in_ean(
        client, world, fresh_ean(), metered_since="2024-01-01", moved_in="2024-01-01"
    )
    headers_a = await auth_headers(client, world.esp_a)
    headers_b = await auth_headers(client, world.esp_b)
    days = [date(2026, 2, 10), date(2026, 2, 11)]
    rows = [row for day in days for row in day_rows(ean, day)]
    rows += day_rows(ean, days[0], granularity=Granularity.PT1H)
    rows += day_rows(other_ean, days[0])  # nobody's mandate
    stored = await deliver(client, head_end, rows)
    assert stored["blocks_created"] == 4

    [event] = await available_events(client, headers_a)
    assert event == {
        "ean": ean,
        "days": ["2026-02-10", "2026-02-11"],
        "first_day": "2026-02-10",
        "last_day": "2026-02-11",
        "day_count": 2,
        "corrected": False,
        "inserted_at": event["inserted_at"],
        "mandate_ids": sorted([mandate_id, second_id]),
        "reference_numbers": ["cust-1", "cust-1-daily"],
    }
    assert event["inserted_at"].replace("Z", "+00:00") == str(stored["inserted_at"]).replace(
        "Z", "+00:00"
    )
    assert await available_events(client, headers_b) == []

    # The same readings again change nothing, and nobody is told.
    assert (await deliver(client, head_end, rows))["blocks_unchanged"] == 4
    assert len(await available_events(client, headers_a)) == 1
    # A correction of one day: one more event, for that day.
    await deliver(client, head_end, [one(ean, start_of(days[1], Granularity.PT15M, 5), "9.999")])
    events = await available_events(client, headers_a)
    assert [(e["days"], e["corrected"]) for e in events] == [
        (["2026-02-10", "2026-02-11"], False),
        (["2026-02-11"], True),
    ]


async def test_days_outside_the_window_tell_nobody(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = await moved_in_ean(
        client, world, fresh_ean(), metered_since="2023-01-01", moved_in="2024-06-01"
    )
    await mandate(
        app,
        client,
        world.esp_a,
        world.owner,
        ean,
        period_from="2024-01-01T00:00:00Z",
        period_to="2025-01-01T00:00:00Z",
    )
    await mandate(app, client, world.esp_b, world.owner, ean, service="IG")
    for day in (date(2024, 5, 31), date(2025, 1, 1), date(2024, 6, 2)):
        await deliver(client, head_end, day_rows(ean, day, granularity=Granularity.P1D, value="1"))
    events = await available_events(client, await auth_headers(client, world.esp_a))
    assert [event["days"] for event in events] == [["2024-06-02"]]
    assert await available_events(client, await auth_headers(client, world.esp_b)) == []


async def test_events_reach_the_webhook(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    head_end: dict[str, str],
    receiver: Receiver,
) -> None:
    ean = world.owner_ean
    headers = await auth_headers(client, world.esp_a)
    registered = await client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "event_types": [METER_DATA_AVAILABLE]},
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, DAY))
    queue: JobQueue = app.state.jobs
    await queue.run_until_idle()
    [request] = receiver.requests
    message = json.loads(request.body)
    assert message["type"] == METER_DATA_AVAILABLE
    assert (message["data"]["ean"], message["data"]["days"]) == (ean, ["2026-02-10"])


async def test_many_events_get_consecutive_positions_per_organisation(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    from datahub_api.events.service import EventToPublish, publish, publish_many
    from datahub_api.jobs import commit

    a, b = world.esp_a.organisation_id, world.esp_b.organisation_id
    async with app.state.database.write_sessions() as session:
        await publish(session, b, METER_DATA_AVAILABLE, {"ean": "first"})
        await commit(session, app.state.jobs)
    async with app.state.database.write_sessions() as session:
        ids = await publish_many(
            session,
            [
                EventToPublish(a, METER_DATA_AVAILABLE, {"ean": "a1"}),
                EventToPublish(b, METER_DATA_AVAILABLE, {"ean": "b1"}),
                EventToPublish(a, METER_DATA_AVAILABLE, {"ean": "a2"}),
            ],
        )
        await commit(session, app.state.jobs)
    assert len(set(ids)) == 3
    feed_a = (
        await client.get("/api/v1/events", headers=await auth_headers(client, world.esp_a))
    ).json()["items"]
    feed_b = (
        await client.get("/api/v1/events", headers=await auth_headers(client, world.esp_b))
    ).json()["items"]
    assert [(e["position"], e["data"]["ean"]) for e in feed_a] == [(1, "a1"), (2, "a2")]
    assert [(e["position"], e["data"]["ean"]) for e in feed_b] == [(1, "first"), (2, "b1")]
    assert [e["id"] for e in feed_a] == [ids[0], ids[2]]
