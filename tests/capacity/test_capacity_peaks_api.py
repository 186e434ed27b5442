"""``GET /api/v1/access-points/{ean}/monthly-peaks``: DST months, gaps and empty months, the
rolling average, a correction followed at once and told on the change feed, the mandate gate
before every parameter, the tenure, problem+json for odd input, and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.brussels_days import days_between
from datahub_api.events.event_types import CAPACITY_PEAK_CHANGED
from datahub_api.meter_data.granularity import Granularity

from ..support.access_point_data import fresh_ean
from ..support.consent_world import ConsentWorld, make_consent_world, owner_mandate
from ..support.meter_data import day_rows, one, start_of
from ..support.parties import auth_headers
from ..support.reading_world import access_log, deliver, head_end_headers, mandate, moved_in_ean

SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)


def url(ean: str) -> str:
    return f"/api/v1/access-points/{ean}/monthly-peaks"


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


@pytest.fixture
async def esp_a(client: httpx.AsyncClient, world: ConsentWorld) -> dict[str, str]:
    return await auth_headers(client, world.esp_a)


@pytest.fixture
async def head_end(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    return await head_end_headers(app, client)


def with_peak(
    rows: list[list[str]], start: str, value: str, state: str = "READ"
) -> list[list[str]]:
    """``rows`` with the reading starting at ``start`` set to ``value`` in ``state``."""
    return [[*row[:6], value, row[7], state] if row[4] == start else row for row in rows]


def march_rows(ean: str) -> list[list[str]]:
    """Every quarter-hour of March 2026 at 0.100 kWh, 1.500 kWh at 03:00 CEST on the spring
    day (slot 8: the first after the missing hour)."""
    rows: list[list[str]] = []
    for day in days_between(date(2026, 3, 1), date(2026, 4, 1)):
        rows += day_rows(ean, day, value="0.100")
    return with_peak(rows, start_of(SPRING, Granularity.PT15M, 8), "1.500")


def autumn_rows(ean: str) -> list[list[str]]:
    """The autumn day only: 100 quarter-hours at 0.100 kWh and an estimated 0.900 kWh at the
    second 02:15 (slot 13, 02:15 CET)."""
    rows = day_rows(ean, AUTUMN, value="0.100")
    return with_peak(rows, start_of(AUTUMN, Granularity.PT15M, 13), "0.900", "EST")


@pytest.fixture
async def mandated(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> str:
    """ESP A's quarter-hour mandate (2025-2026) on the owner's EAN, with March and the
    autumn DST day delivered."""
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    await deliver(client, head_end, march_rows(ean) + autumn_rows(ean))
    return ean


async def peaks(
    client: httpx.AsyncClient, headers: dict[str, str], ean: str, **params: str
) -> dict[str, Any]:
    response = await client.get(url(ean), params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_dst_months_gaps_and_empty_months(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    body = await peaks(client, esp_a, mandated, **{"from": "2026-03", "to": "2026-10"})
    assert body["ean"] == mandated
    by_month = {m["month"]: m for m in body["months"]}
    assert list(by_month) == [f"2026-{n:02d}" for n in range(3, 11)]
    march = by_month["2026-03"]
    assert march == {
        "month": "2026-03",
        "peak_kw": 6.0,
        "at": "2026-03-29T01:00:00Z",
        "validation_state": "READ",
        "billed_kw": 6.0,
        "rolling_12_month_average_kw": 6.0,
        "completeness": "complete",
        "quarter_hours": 31 * 96 - 4,
        "quarter_hours_expected": 31 * 96 - 4,
    }
    october = by_month["2026-10"]
    assert october["peak_kw"] == 3.6
    assert october["at"] == "2026-10-25T01:15:00Z"  # the second 02:15, in CET
    assert october["validation_state"] == "EST"
    assert (october["quarter_hours"], october["quarter_hours_expected"]) == (100, 31 * 96 + 4)
    assert october["completeness"] == "incomplete"
    june = by_month["2026-06"]
    assert (june["peak_kw"], june["billed_kw"], june["at"]) == (None, None, None)
    assert (june["completeness"], june["quarter_hours"]) == ("empty", 0)
    assert june["rolling_12_month_average_kw"] == 6.0  # March only, up to June
    assert body["rolling_12_month_average_kw"] == 4.8  # (6.0 + 3.6) / 2
    assert october["rolling_12_month_average_kw"] == 4.8


async def test_defaults_are_the_12_months_up_to_this_month(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    body = await peaks(client, esp_a, mandated, to="2026-12")
    assert [m["month"] for m in body["months"]] == [f"2026-{n:02d}" for n in range(1, 13)]


async def test_the_2_5_kw_minimum_is_billed(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str, head_end: dict[str, str]
) -> None:
    may = date(2026, 5, 4)
    await deliver(client, head_end, day_rows(mandated, may, value="0.300"))  # 1.2 kW
    body = await peaks(client, esp_a, mandated, **{"from": "2026-05", "to": "2026-05"})
    [month] = body["months"]
    assert (month["peak_kw"], month["billed_kw"]) == (1.2, 2.5)
    # The rolling average counts the billed 2.5 with March's 6.0.
    assert body["rolling_12_month_average_kw"] == 4.25


async def test_a_correction_changes_the_peak_at_once_and_is_on_the_change_feed(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str, head_end: dict[str, str]
) -> None:
    spring_peak = start_of(SPRING, Granularity.PT15M, 8)
    # A correction elsewhere in the month that leaves the peak as it was: no event.
    elsewhere = start_of(date(2026, 3, 2), Granularity.PT15M, 1)
    await deliver(client, head_end, [one(mandated, elsewhere, "0.150")])
    assert await capacity_events(client, esp_a) == []
    # The peak quarter-hour is corrected (and validated): March's peak follows.
    await deliver(client, head_end, [one(mandated, spring_peak, "0.200", state="VAL")])
    body = await peaks(client, esp_a, mandated, **{"from": "2026-03", "to": "2026-03"})
    [march] = body["months"]
    assert (march["peak_kw"], march["at"], march["validation_state"]) == (
        0.8,
        "2026-03-29T01:00:00Z",
        "VAL",
    )
    assert march["billed_kw"] == 2.5
    [event] = await capacity_events(client, esp_a)
    assert event["ean"] == mandated
    assert event["month"] == "2026-03"
    assert event["before"] == {
        "peak_kw": 6.0,
        "at": "2026-03-29T01:00:00Z",
        "validation_state": "READ",
        "billed_kw": 6.0,
    }
    assert event["after"]["peak_kw"] == 0.8
    assert event["after"]["validation_state"] == "VAL"
    # Validating October's peak quarter-hour changes its state only: told too.
    autumn_peak = start_of(AUTUMN, Granularity.PT15M, 13)
    await deliver(client, head_end, [one(mandated, autumn_peak, "0.900", state="VAL")])
    events = await capacity_events(client, esp_a)
    assert [e["month"] for e in events] == ["2026-03", "2026-10"]
    assert events[1]["before"]["validation_state"] == "EST"
    assert events[1]["after"] == {**events[1]["before"], "validation_state": "VAL"}


async def capacity_events(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/v1/events", params={"types": CAPACITY_PEAK_CHANGED}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [item["data"] for item in response.json()["items"]]


async def test_esp_b_gets_no_capacity_events(
    client: httpx.AsyncClient, world: ConsentWorld, mandated: str, head_end: dict[str, str]
) -> None:
    spring_peak = start_of(SPRING, Granularity.PT15M, 8)
    await deliver(client, head_end, [one(mandated, spring_peak, "0.200")])
    assert await capacity_events(client, await auth_headers(client, world.esp_b)) == []


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-13", "to": "2026-12"},
        {"from": "0001-01", "to": "0001-02"},
        {"from": "2026-01", "to": "9999-12"},
        {"from": "2026-3", "to": "2026-04"},
        {"from": "1999-12", "to": "2000-01"},
        {"to": "2100-01"},
        {"from": "2026-05", "to": "2026-04"},
        {"from": "2026-01-01"},
        {"from": "2023-01", "to": "2026-01"},  # 37 months
        {"format": "xml"},
        {"to": "\x00"},
    ],
)
async def test_odd_input_is_a_problem_not_a_5xx(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str, params: dict[str, str]
) -> None:
    response = await client.get(url(mandated), params=params, headers=esp_a)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_gate_comes_before_the_parameters(
    client: httpx.AsyncClient, world: ConsentWorld, mandated: str
) -> None:
    esp_b = await auth_headers(client, world.esp_b)
    bad = {"from": "0001-01", "to": "9999-12"}
    theirs = await client.get(url(mandated), params=bad, headers=esp_b)
    unknown = await client.get(url("541448800000000000"), params=bad, headers=esp_b)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace(mandated, "X") == unknown.json()["detail"].replace(
        "541448800000000000", "X"
    )


async def test_months_outside_the_data_period_are_refused_naming_it(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    for params in ({"from": "2024-01", "to": "2024-03"}, {"from": "2024-12", "to": "2025-02"}):
        response = await client.get(url(mandated), params=params, headers=esp_a)
        assert response.status_code == 403, response.text
        assert response.json()["allowed_from"] == "2025-01-01T00:00:00+00:00"
    # January 2025 starts inside it (at 01:00 Brussels time): answered, and incomplete.
    body = await peaks(client, esp_a, mandated, **{"from": "2025-01", "to": "2025-02"})
    assert [m["completeness"] for m in body["months"]] == ["empty", "empty"]


async def test_a_daily_mandate_does_not_read_peaks(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, esp_a: dict[str, str]
) -> None:
    await mandate(app, client, world.esp_a, world.owner, world.owner_ean, service="VH_dag")
    response = await client.get(url(world.owner_ean), headers=esp_a)
    assert response.status_code == 403, response.text
    assert response.json()["data_service_types"] == ["VH_dag"]


async def test_only_the_customers_days_count_and_the_read_is_logged(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    esp_a: dict[str, str],
    head_end: dict[str, str],
) -> None:
    ean = await moved_in_ean(
        client, world, fresh_ean(), metered_since="2026-01-01", moved_in="2026-06-12"
    )
    await mandate(app, client, world.esp_a, world.owner, ean)
    before = day_rows(ean, date(2026, 6, 5), value="2.000")  # the previous occupant's 8 kW
    after = day_rows(ean, date(2026, 6, 13), value="0.500")
    await deliver(client, head_end, before + after)
    body = await peaks(client, esp_a, ean, **{"from": "2026-06", "to": "2026-06"})
    [june] = body["months"]
    assert june["peak_kw"] == 2.0
    assert (june["quarter_hours"], june["completeness"]) == (96, "incomplete")
    [record] = [r for r in await access_log(app, world.owner, ean) if r["granularity"] == "PT15M"]
    assert record["period_from"] == "2026-06-11T22:00:00Z"  # released from the move-in


async def test_csv(client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str) -> None:
    response = await client.get(
        url(mandated), params={"from": "2026-03", "to": "2026-04", "format": "csv"}, headers=esp_a
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="capaciteitspieken_{mandated}_2026-03_2026-04.csv"'
    )
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["EAN", "Maand", "Piek (kW)"]
    assert rows[1] == [
        mandated,
        "2026-03",
        "6,000",
        "2026-03-29T03:00:00+02:00",
        "READ",
        "6,000",
        "6,000",
        "complete",
        "2972",
        "2972",
    ]
    assert rows[2][1:4] == ["2026-04", "", ""]
    assert rows[2][7:] == ["empty", "0", "2880"]


async def test_a_gas_access_point_has_no_capacity_peaks(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, esp_a: dict[str, str]
) -> None:
    ean = await moved_in_ean(
        client,
        world,
        fresh_ean(),
        metered_since="2024-01-01",
        moved_in="2024-01-01",
        energy_type="G",
    )
    await mandate(app, client, world.esp_a, world.owner, ean)
    response = await client.get(url(ean), headers=esp_a)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/not-electricity")
