"""``GET /api/v1/access-points/{ean}/meter-data``: JSON, CSV and XLSX, every slot, DST days,
sums, and the mandate gate before everything else."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.auth.principal import Role
from datahub_api.brussels_days import day_start
from datahub_api.meter_data.granularity import Granularity

from ..support.consent_world import ConsentWorld, log_in, make_consent_world, owner_mandate
from ..support.meter_data import METER, csv_body, day_rows
from ..support.parties import auth_headers, make_machine_client

INGEST = "/api/v1/ingest/meter-readings"
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
JUNE_MONDAY = date(2026, 6, 1)


def url(ean: str) -> str:
    return f"/api/v1/access-points/{ean}/meter-data"


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


@pytest.fixture
async def esp_a(client: httpx.AsyncClient, world: ConsentWorld) -> dict[str, str]:
    return await auth_headers(client, world.esp_a)


async def ingest(app: FastAPI, client: httpx.AsyncClient, rows: list[list[str]]) -> None:
    head_end = await auth_headers(client, await make_machine_client(app, Role.head_end))
    response = await client.post(
        INGEST, content=csv_body(rows), headers={**head_end, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text


async def read(
    client: httpx.AsyncClient, headers: dict[str, str], ean: str, **params: str
) -> httpx.Response:
    return await client.get(url(ean), params=params, headers=headers)


@pytest.fixture
async def mandated(app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld) -> str:
    """ESP A's quarter-hour mandate on the owner's EAN, with data on both DST days and a
    June Monday (offtake, and injection on the Monday)."""
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    rows = [*day_rows(ean, SPRING), *day_rows(ean, AUTUMN), *day_rows(ean, JUNE_MONDAY)]
    rows += day_rows(ean, JUNE_MONDAY, direction="injection", value="0.500")
    await ingest(app, client, rows)
    return ean


@pytest.mark.parametrize(("day", "slots"), [(SPRING, 92), (AUTUMN, 100)])
async def test_dst_days_have_92_and_100_quarter_hours_in_json(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str, day: date, slots: int
) -> None:
    next_day = date.fromordinal(day.toordinal() + 1).isoformat()
    response = await read(client, esp_a, mandated, **{"from": day.isoformat(), "to": next_day})
    assert response.status_code == 200, response.text
    (series,) = response.json()["series"]
    assert len(series["values"]) == slots
    assert series["values"][0] == 0.001
    assert series["values"][-1] == slots / 1000
    assert series["states"] == ["READ"] * slots
    assert series["unit"] == "kWh"
    assert series["meter"] == METER


@pytest.mark.parametrize(("day", "hours"), [(SPRING, 23), (AUTUMN, 25)])
async def test_dst_days_have_23_and_25_hours_and_one_day(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str, day: date, hours: int
) -> None:
    bounds = {"from": day.isoformat(), "to": date.fromordinal(day.toordinal() + 1).isoformat()}
    hourly = await read(client, esp_a, mandated, granularity="PT1H", **bounds)
    (series,) = hourly.json()["series"]
    assert len(series["values"]) == hours
    slots = hours * 4
    daily = await read(client, esp_a, mandated, granularity="P1D", **bounds)
    (day_series,) = daily.json()["series"]
    assert day_series["values"] == [pytest.approx(slots * (slots + 1) / 2 / 1000)]
    assert day_series["incomplete"] == []


async def test_gaps_are_null_and_whole_days_without_data_still_appear(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await read(
        client, esp_a, mandated, granularity="P1D", **{"from": "2026-05-31", "to": "2026-06-03"}
    )
    offtake = response.json()["series"][0]
    assert offtake["direction"] == "offtake"
    assert offtake["values"][0] is None
    assert offtake["values"][1] == pytest.approx(96 * 97 / 2 / 1000)
    assert offtake["values"][2] is None
    assert offtake["states"] == [None, "READ", None]


async def test_month_sums_are_marked_incomplete(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await read(
        client, esp_a, mandated, granularity="P1M", **{"from": "2026-06-01", "to": "2026-07-01"}
    )
    offtake, injection = response.json()["series"]
    assert offtake["values"] == [pytest.approx(96 * 97 / 2 / 1000)]
    assert offtake["incomplete"] == [0]
    assert injection["values"] == [pytest.approx(48.0)]


async def test_an_instant_window_with_offset(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await read(
        client,
        esp_a,
        mandated,
        direction="injection",
        **{"from": "2026-06-01T10:00:00+02:00", "to": "2026-06-01T11:00:00+02:00"},
    )
    assert response.status_code == 200, response.text
    (series,) = response.json()["series"]
    assert series["values"] == [0.5] * 4
    assert series["start"] == "2026-06-01T08:00:00Z"


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


async def test_csv_follows_the_fluvius_export_layout(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await client.get(
        url(mandated),
        params={"from": "2026-06-01", "to": "2026-06-02"},
        headers={**esp_a, "Accept": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = csv_rows(response)
    assert list(rows[0]) == [
        "Van (datum)",
        "Van (tijdstip)",
        "Tot (datum)",
        "Tot (tijdstip)",
        "EAN-code",
        "Meter",
        "Metertype",
        "Register",
        "Volume",
        "Eenheid",
        "Validatiestatus",
        "Omschrijving",
    ]
    assert len(rows) == 2 * 96  # one Afname and one Injectie row per quarter-hour
    first, second = rows[0], rows[1]
    assert first["Van (datum)"] == "01-06-2026"
    assert first["Van (tijdstip)"] == "00:00:00"
    assert first["Tot (tijdstip)"] == "00:15:00"
    assert first["EAN-code"] == f'="{mandated}"'
    assert first["Metertype"] == "Digitale meter"
    assert first["Register"] == "Afname Nacht"  # before 07:00
    assert first["Volume"] == "0,001"
    assert first["Eenheid"] == "kWh"
    assert first["Validatiestatus"] == "Uitgelezen"
    assert second["Register"] == "Injectie Nacht"
    assert second["Volume"] == "0,500"
    at_seven = rows[2 * 28]
    assert (at_seven["Van (tijdstip)"], at_seven["Register"]) == ("07:00:00", "Afname Dag")
    at_ten_pm = rows[2 * 88]
    assert (at_ten_pm["Van (tijdstip)"], at_ten_pm["Register"]) == ("22:00:00", "Afname Nacht")
    last = rows[-1]
    assert (last["Tot (datum)"], last["Tot (tijdstip)"]) == ("02-06-2026", "00:00:00")


async def test_csv_marks_gaps_and_weekends_are_night(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    # 2026-10-25 is a Sunday (and the autumn DST day): night all day; no injection stored.
    response = await read(
        client, esp_a, mandated, format="csv", **{"from": "2026-10-25", "to": "2026-10-26"}
    )
    rows = csv_rows(response)
    assert len(rows) == 2 * 100
    assert {row["Register"] for row in rows} == {"Afname Nacht", "Injectie Nacht"}
    injection = [row for row in rows if row["Register"].startswith("Injectie")]
    assert {row["Volume"] for row in injection} == {""}
    assert {row["Validatiestatus"] for row in injection} == {"Geen verbruik"}
    # The repeated hour 02:00-03:00 appears twice, in local time.
    assert [row["Van (tijdstip)"] for row in rows[::2]].count("02:00:00") == 2


async def test_daily_csv_splits_day_and_night(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await read(
        client,
        esp_a,
        mandated,
        format="csv",
        granularity="P1D",
        direction="offtake",
        **{"from": "2026-06-01", "to": "2026-06-03"},
    )
    rows = csv_rows(response)
    assert [(row["Van (datum)"], row["Register"]) for row in rows] == [
        ("01-06-2026", "Afname Dag"),
        ("01-06-2026", "Afname Nacht"),
        ("02-06-2026", "Afname Dag"),
        ("02-06-2026", "Afname Nacht"),
    ]
    # Day: quarter-hours 28..87 (07:00-22:00) hold 29..88 Wh.
    day_wh = sum(range(29, 89))
    night_wh = sum(range(1, 97)) - day_wh
    assert rows[0]["Volume"] == f"{day_wh // 1000},{day_wh % 1000:03d}"
    assert rows[1]["Volume"] == f"{night_wh // 1000},{night_wh % 1000:03d}"
    assert rows[2]["Volume"] == ""


async def test_xlsx_has_the_same_columns_and_numbers(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await client.get(
        url(mandated),
        params={"from": "2026-03-29", "to": "2026-03-30", "direction": "offtake"},
        headers={
            **esp_a,
            "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    rows: list[Any] = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Van (datum)"
    assert len(rows) == 1 + 92  # the 92 quarter-hours of a 23-hour day
    assert rows[1][4] == mandated
    assert rows[1][8] == pytest.approx(0.001)


async def test_json_and_csv_carry_the_same_numbers(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    bounds = {"from": "2026-06-01", "to": "2026-06-02", "direction": "offtake"}
    as_json = (await read(client, esp_a, mandated, **bounds)).json()["series"][0]["values"]
    as_csv = csv_rows(await read(client, esp_a, mandated, format="csv", **bounds))
    afname = [row for row in as_csv if row["Register"].startswith("Afname")]
    assert [float(row["Volume"].replace(",", ".")) for row in afname] == as_json


async def test_no_mandate_answers_like_an_unknown_ean_before_any_validation(
    client: httpx.AsyncClient, world: ConsentWorld, mandated: str
) -> None:
    esp_b = await auth_headers(client, world.esp_b)
    bad = {"from": "yesterday", "to": "x", "granularity": "PT7M"}
    theirs = await read(client, esp_b, mandated, **bad)
    unknown = await read(client, esp_b, "541448800000000000", **bad)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace(mandated, "X") == unknown.json()["detail"].replace(
        "541448800000000000", "X"
    )
    # A tenant's EAN ESP A holds no mandate for is unknown to ESP A too.
    esp_a = await auth_headers(client, world.esp_a)
    assert (await read(client, esp_a, world.tenant_eans[0], **bad)).status_code == 404


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"from": "2026-06-01T00:00:00", "to": "2026-06-02"}, "offset"),
        ({"from": "2026-06-01", "to": "2026-06-01"}, "later"),
        ({"from": "2026-06-01T00:07:00+02:00", "to": "2026-06-02"}, "grid"),
        ({"from": "2026-06-01", "to": "2026-06-02", "granularity": "PT5M"}, "granularity"),
        ({"from": "2026-06-02", "to": "2026-07-01", "granularity": "P1M"}, "grid"),
        ({"from": "2026-06-01", "to": "2026-06-02", "direction": "sideways"}, "direction"),
        ({"from": "2026-06-01", "to": "2026-06-02", "format": "pdf"}, "format"),
        ({"from": "2020-01-01", "to": "2026-06-02"}, "at most"),
    ],
)
async def test_bad_parameters_are_problems(
    client: httpx.AsyncClient,
    esp_a: dict[str, str],
    mandated: str,
    params: dict[str, str],
    fragment: str,
) -> None:
    response = await read(client, esp_a, mandated, **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in response.json()["detail"]


async def test_unsupported_accept_is_406(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await client.get(
        url(mandated),
        params={"from": "2026-06-01", "to": "2026-06-02"},
        headers={**esp_a, "Accept": "application/pdf"},
    )
    assert response.status_code == 406


async def test_outside_the_mandate_is_refused_with_the_window(
    client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    response = await read(client, esp_a, mandated, **{"from": "2024-12-01", "to": "2025-02-01"})
    assert response.status_code == 403
    assert response.json()["allowed_from"].startswith("2025-01-01T00:00")


async def test_a_daily_mandate_gets_days_not_quarter_hours(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, esp_a: dict[str, str]
) -> None:
    daily = {
        "dataServiceType": "VH_dag",
        "dataPeriodFrom": "2025-01-01T00:00:00Z",
        "dataPeriodTo": "2027-01-01T00:00:00Z",
    }
    await owner_mandate(app, client, world, dataServices=[daily])
    await ingest(app, client, day_rows(world.owner_ean, JUNE_MONDAY))
    bounds = {"from": "2026-06-01", "to": "2026-06-02"}
    refused = await read(client, esp_a, world.owner_ean, **bounds)
    assert refused.status_code == 403
    assert "granularity" in refused.json()["detail"]
    days = await read(client, esp_a, world.owner_ean, granularity="P1D", **bounds)
    assert days.status_code == 200
    assert days.json()["series"][0]["values"] == [pytest.approx(96 * 97 / 2 / 1000)]


async def test_a_revoked_mandate_stops_the_next_read(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, esp_a: dict[str, str]
) -> None:
    mandate_id = await owner_mandate(app, client, world)
    bounds = {"from": "2026-06-01", "to": "2026-06-02"}
    assert (await read(client, esp_a, world.owner_ean, **bounds)).status_code == 200
    browser = await log_in(app, world.owner)
    try:
        revoked = await browser.post(f"/api/v1/mandates/{mandate_id}/revoke")
        assert revoked.status_code == 200, revoked.text
    finally:
        await browser.aclose()
    assert (await read(client, esp_a, world.owner_ean, **bounds)).status_code == 404


async def test_every_read_is_in_the_owners_access_log(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    esp_a: dict[str, str],
    mandated: str,
) -> None:
    await read(client, esp_a, mandated, **{"from": "2026-06-01", "to": "2026-06-02"})
    await read(client, esp_a, mandated, format="csv", **{"from": "2026-06-01", "to": "2026-06-02"})
    refused = await read(client, esp_a, mandated, **{"from": "2020-06-01", "to": "2020-06-02"})
    assert refused.status_code == 403
    browser = await log_in(app, world.owner)
    try:
        log = await browser.get(f"/api/v1/access-points/{mandated}/access-log")
    finally:
        await browser.aclose()
    items = log.json()["items"]
    assert [item["via"] for item in items] == ["native", "native"]
    assert items[0]["period_from"].startswith("2026-05-31T22:00")


async def test_a_stored_daily_series_is_preferred_for_days(
    app: FastAPI, client: httpx.AsyncClient, esp_a: dict[str, str], mandated: str
) -> None:
    daily = day_rows(mandated, JUNE_MONDAY, granularity=Granularity.P1D, value="7.000")
    await ingest(app, client, daily)
    response = await read(
        client,
        esp_a,
        mandated,
        granularity="P1D",
        direction="offtake",
        **{"from": "2026-06-01", "to": "2026-06-02"},
    )
    assert response.json()["series"][0]["values"] == [7.0]
    async with app.state.database.read_sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM meter_day_blocks WHERE ean = :ean"), {"ean": mandated}
        )
    assert count == 5


@pytest.mark.parametrize(
    ("day", "granularity", "v3_granularity", "key"),
    [
        (SPRING, "PT15M", "hourly_quarterhourly", "quarterHourlyEnergy"),
        (AUTUMN, "PT15M", "hourly_quarterhourly", "quarterHourlyEnergy"),
        (JUNE_MONDAY, "P1D", "daily", "dailyEnergy"),
    ],
)
async def test_both_faces_give_the_same_numbers(
    client: httpx.AsyncClient,
    esp_a: dict[str, str],
    mandated: str,
    day: date,
    granularity: str,
    v3_granularity: str,
    key: str,
) -> None:
    next_day = date.fromordinal(day.toordinal() + 1)
    native = await read(
        client,
        esp_a,
        mandated,
        granularity=granularity,
        **{"from": day.isoformat(), "to": next_day.isoformat()},
    )
    v3 = await client.get(
        "/v3/api/mandate/energy",
        params={
            "ean": mandated,
            "periodType": "readTime",
            "granularity": v3_granularity,
            "from": day_start(day).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "to": day_start(next_day).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        headers=esp_a,
    )
    assert v3.status_code == 200, v3.text
    (meter,) = v3.json()["data"]["headpoint"]["physicalMeters"]
    slices = meter[key]
    for series in native.json()["series"]:
        from_v3 = [
            s["measurements"][0][series["direction"]]["total"].get("value")
            if s["measurements"] and series["direction"] in s["measurements"][0]
            else None
            for s in slices
        ]
        assert from_v3 == series["values"]
        assert len(from_v3) == {SPRING: 92, AUTUMN: 100}.get(day, len(from_v3))
