"""Gas: m3 as metered and kWh converted with the operator's calorific values; gas days from
06:00 to 06:00 Brussels on every read (the gas days across the 2024 clock changes last 23 and
25 hours); a definitive value re-sends the data converted with the predictive one."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.brussels_days import BRUSSELS, gas_day_start
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data import repository
from datahub_api.meter_data.granularity import Granularity

from ..support.consent_world import ConsentWorld, make_consent_world
from ..support.meter_data import day_rows
from ..support.parties import Esp, auth_headers, make_machine_client
from ..support.v3_world import db_clock, ingest, register_point

VALUES = "/api/v1/operator/gas-calorific-values"
ZONES = "/api/v1/operator/gas-zones"
ENERGY = "/v3/api/mandate/energy"
SPRING = date(2024, 3, 31)  # clocks go forward: the gas day of 30 March lasts 23 hours
AUTUMN = date(2024, 10, 27)  # clocks go back: the gas day of 26 October lasts 25 hours
FACTOR = Decimal("11.5")


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def gas_mandate(app: FastAPI, esp: Esp, ean: str) -> None:
    principal = Principal(
        subject=esp.client_id, role=Role.esp, scopes=ESP_SCOPES, organisation_id=esp.organisation_id
    )
    async with app.state.database.write_sessions() as session:
        await mandates_service.make_sandbox_mandate(
            session,
            principal,
            mandates_service.MockMandate(
                reference_number="gas",
                ean=ean,
                data_service_type=DataServiceType("VH_kwartier_uur"),
                data_period_from=datetime(2024, 1, 1, tzinfo=UTC),
                data_period_to=datetime(2025, 1, 1, tzinfo=UTC),
                status=None,
                expiration=None,
                renewal_status=None,
            ),
        )
        await session.commit()


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


@pytest.fixture
async def operator(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    return await auth_headers(client, await make_machine_client(app, Role.operator))


@pytest.fixture
async def gas(app: FastAPI, world: ConsentWorld) -> str:
    """A gas EAN of ESP A's, with every hour of the days around both clock changes."""
    ean = await register_point(app, energy_type="G")
    await gas_mandate(app, world.esp_a, ean)
    rows = []
    for middle in (SPRING, AUTUMN):
        for offset in range(-2, 3):
            rows += day_rows(ean, middle + timedelta(days=offset), granularity=Granularity.PT1H,
                             unit="m3")  # fmt: skip
    await ingest(app, rows)
    return ean


def upload(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


async def put_values(
    client: httpx.AsyncClient, operator: dict[str, str], lines: list[str]
) -> httpx.Response:
    return await client.put(
        VALUES, content=upload(lines), headers={**operator, "Content-Type": "text/csv"}
    )


def values_for(days: list[date], factor: str, value: Decimal = FACTOR) -> list[str]:
    return ["zone,gas_day,kwh_per_m3,factor"] + [f"default,{d},{value},{factor}" for d in days]


def around(middle: date) -> list[date]:
    return [middle + timedelta(days=offset) for offset in range(-3, 3)]


def stored_litres(start: datetime, end: datetime) -> list[int]:
    """The hourly litres ``day_rows`` stored (slot i of a calendar day: i + 1 litres)."""
    found = []
    hour = start
    while hour < end:
        local = hour.astimezone(BRUSSELS)
        midnight = datetime.combine(local.date(), datetime.min.time(), tzinfo=BRUSSELS)
        slot = (hour - midnight.astimezone(UTC)) // timedelta(hours=1)
        found.append(slot + 1)
        hour += timedelta(hours=1)
    return found


def wh(litres: list[int], factor: Decimal = FACTOR) -> int:
    return sum(int((Decimal(x) * factor).to_integral_value(ROUND_HALF_UP)) for x in litres)


@pytest.mark.parametrize(("first", "hours"), [(date(2024, 3, 29), [24, 23, 24]),
                                              (date(2024, 10, 25), [24, 25, 24])])  # fmt: skip
async def test_gas_days_run_from_six_to_six_across_both_clock_changes(
    client: httpx.AsyncClient,
    world: ConsentWorld,
    operator: dict[str, str],
    gas: str,
    first: date,
    hours: list[int],
) -> None:
    assert (await put_values(client, operator, values_for(around(first), "P"))).status_code == 200
    answer = await client.get(
        f"/api/v1/access-points/{gas}/meter-data",
        params={"from": str(first), "to": str(first + timedelta(days=3)), "granularity": "P1D"},
        headers=await auth_headers(client, world.esp_a),
    )
    assert answer.status_code == 200, answer.text
    volume, energy = answer.json()["series"]
    assert (volume["unit"], energy["unit"]) == ("m3", "kWh")
    for series in (volume, energy):
        assert series["step"] == "P1D"
        assert series["start"] == z(gas_day_start(first))  # 06:00 Brussels
        assert series["end"] == z(gas_day_start(first + timedelta(days=3)))
        assert series["incomplete"] == []
    bounds = [gas_day_start(first + timedelta(days=n)) for n in range(4)]
    assert [(b - a) // timedelta(hours=1) for a, b in itertools.pairwise(bounds)] == hours
    litres = [stored_litres(a, b) for a, b in itertools.pairwise(bounds)]
    assert volume["values"] == [sum(day) / 1000 for day in litres]
    assert energy["values"] == [wh(day) / 1000 for day in litres]

    months = await client.get(
        f"/api/v1/access-points/{gas}/meter-data",
        params={"from": f"{first:%Y-%m}-01", "to": "2024-12-01", "granularity": "P1M"},
        headers=await auth_headers(client, world.esp_a),
    )
    assert months.status_code == 200, months.text
    assert months.json()["series"][0]["start"] == z(gas_day_start(first.replace(day=1)))


async def test_the_gas_csv_has_m3_and_kwh_rows_in_gas_hours(
    client: httpx.AsyncClient, world: ConsentWorld, operator: dict[str, str], gas: str
) -> None:
    await put_values(client, operator, values_for(around(AUTUMN), "P"))
    await put_values(client, operator, values_for([date(2024, 10, 25)], "D"))
    headers = await auth_headers(client, world.esp_a)
    answer = await client.get(
        f"/api/v1/access-points/{gas}/meter-data",
        params={"from": "2024-10-25", "to": "2024-10-27", "granularity": "PT1H", "format": "csv"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="Verbruikshistoriek_gas_{gas}_20241025_20241026_uurtotalen.csv"'
    )
    text_ = answer.content.decode("utf-8")
    assert text_.startswith("\ufeff")
    lines = text_[1:].split("\r\n")[:-1]
    header, rows = lines[0].split(";"), [line.split(";") for line in lines[1:]]
    assert header == [
        "Van (datum)", "Van (tijdstip)", "Tot (datum)", "Tot (tijdstip)", "EAN-code", "Meter",
        "Metertype", "Register", "Volume", "Eenheid", "Validatiestatus",
        "Calorische bovenwaarde", "Omschrijving",
    ]  # fmt: skip
    assert len(rows) == 2 * (24 + 25)  # the gas days of 25 and 26 October, m³ and kWh
    assert rows[0][:4] == ["25-10-2024", "06:00:00", "25-10-2024", "07:00:00"]
    assert rows[-1][:4] == ["27-10-2024", "05:00:00", "27-10-2024", "06:00:00"]
    assert {r[7] for r in rows} == {"Afname"}
    assert [r[9] for r in rows[:4]] == ["m³", "kWh", "m³", "kWh"]
    for volume, energy in zip(rows[::2], rows[1::2], strict=True):
        assert volume[:9] != energy[:9]
        assert volume[:8] == energy[:8]
        assert volume[11] == ""
        litres = int(volume[8].replace(",", ""))
        assert int(energy[8].replace(",", "")) == wh([litres])
    assert {r[11] for r in rows[1:48:2]} == {"Definitief"}  # gas day 25 October
    assert {r[11] for r in rows[49::2]} == {"Voorlopig"}  # gas day 26 October
    # The repeated hour of 27 October, in clock order: 02:00-02:00, then 02:00-03:00.
    twos = [r[:4] for r in rows if r[1] == "02:00:00" and r[0] == "27-10-2024"]
    assert (
        twos
        == [["27-10-2024", "02:00:00", "27-10-2024", "02:00:00"]] * 2
        + [["27-10-2024", "02:00:00", "27-10-2024", "03:00:00"]] * 2
    )

    daily = await client.get(
        f"/api/v1/access-points/{gas}/meter-data",
        params={"from": "2024-10-25", "to": "2024-10-27", "granularity": "P1D", "format": "csv"},
        headers=headers,
    )
    day_rows_ = list(csv.reader(io.StringIO(daily.content.decode("utf-8-sig")), delimiter=";"))
    assert [r[:4] for r in day_rows_[1:]] == [
        ["25-10-2024", "06:00:00", "26-10-2024", "06:00:00"],
        ["25-10-2024", "06:00:00", "26-10-2024", "06:00:00"],
        ["26-10-2024", "06:00:00", "27-10-2024", "06:00:00"],
        ["26-10-2024", "06:00:00", "27-10-2024", "06:00:00"],
    ]
    assert [r[11] for r in day_rows_[1:]] == ["", "Definitief", "", "Voorlopig"]
    assert daily.headers["content-disposition"].endswith('_20241025_20241026_dagtotalen.csv"')


async def test_v3_gas_has_m3_and_kwh_and_a_definitive_value_is_resent(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    operator: dict[str, str],
    gas: str,
) -> None:
    await put_values(client, operator, values_for(around(SPRING), "P"))
    headers = await auth_headers(client, world.esp_a)
    params: dict[str, Any] = {
        "ean": gas,
        "periodType": "readTime",
        "granularity": "hourly_quarterhourly,daily",
        # Brussels midnights (the dates): for gas they mean the gas day's 06:00.
        "from": z(datetime(2024, 3, 30, tzinfo=BRUSSELS)),
        "to": z(datetime(2024, 3, 31, tzinfo=BRUSSELS)),
    }
    answer = await client.get(ENERGY, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    [meter] = answer.json()["data"]["headpoint"]["physicalMeters"]
    hours, days_ = meter["hourlyEnergy"], meter["dailyEnergy"]
    assert len(hours) == 23  # the gas day of 30 March 2024
    litres = stored_litres(gas_day_start(date(2024, 3, 30)), gas_day_start(date(2024, 3, 31)))
    first = hours[0]["measurements"]
    volume = {"value": litres[0] / 1000, "unit": "m3", "validationState": "READ"}
    energy = {"value": wh(litres[:1]) / 1000, "unit": "kWh", "validationState": "READ"}
    assert first == [
        {"offtake": {"total": volume}},
        {"offtake": {"total": {**energy, "gasConversionFactor": "P"}}},
    ]
    assert [d["start"] for d in days_] == [z(gas_day_start(date(2024, 3, 30)))]
    assert days_[0]["measurements"][1]["offtake"]["total"]["value"] == wh(litres) / 1000

    before = await db_clock(app)
    definitive = await put_values(
        client, operator, values_for([date(2024, 3, 30)], "D", Decimal("11.61"))
    )
    assert definitive.status_code == 200, definitive.text
    assert definitive.json() == {
        "received": 1,
        "created": 0,
        "updated": 1,
        "unchanged": 0,
        "blocks_resent": 2,
    }  # fmt: skip: the calendar days 30 and 31 March hold the gas day's hours
    async with app.state.database.read_sessions() as session:
        blocks = await repository.read_blocks(session, gas, date(2024, 3, 29), date(2024, 4, 2))
    versions = {b.key.day: (b.version, b.last_inserted_at > before) for b in blocks}
    # Version 2: the predictive values arrived after the data (its kWh appeared); 3: the
    # definitive value of the gas day of 30 March changed the kWh of its hours again.
    assert versions == {
        date(2024, 3, 29): (2, False),
        date(2024, 3, 30): (3, True),
        date(2024, 3, 31): (3, True),
        date(2024, 4, 1): (2, False),
    }
    inserted = await client.get(
        ENERGY,
        params={**params, "periodType": "insertTime", "from": z(before),
                "to": z(await db_clock(app) + timedelta(seconds=1))},
        headers=headers,
    )  # fmt: skip
    assert inserted.status_code == 200, inserted.text
    [meter] = inserted.json()["data"]["headpoint"]["physicalMeters"]
    factors = {
        slice_["start"]: slice_["measurements"][1]["offtake"]["total"].get("gasConversionFactor")
        for slice_ in meter["hourlyEnergy"]
        if len(slice_["measurements"]) > 1
    }
    assert factors[z(gas_day_start(date(2024, 3, 30)))] == "D"
    again = await put_values(
        client, operator, values_for([date(2024, 3, 30)], "D", Decimal("11.61"))
    )
    assert again.json()["unchanged"] == 1
    assert again.json()["blocks_resent"] == 0


async def test_uploads_are_all_or_nothing_and_name_the_lines(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str], gas: str
) -> None:
    refused = await put_values(
        client,
        operator,
        [
            "zone,gas_day,kwh_per_m3,factor",
            "default,2024-03-30,11.5,P",
            "default,2024-03-31,11.5,X",
            "default,2024-03-30,11.4,P",
            "north,2024-13-01,11.5,D",
            "north,2024-03-30,42,D",
        ],
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["line"] for e in refused.json()["errors"]] == [3, 4, 5, 6]
    async with app.state.database.read_sessions() as session:
        count = await session.scalar(text("SELECT count(*) FROM gas_calorific_values"))
    assert count == 0, "nothing stored"

    assert (await put_values(client, operator, values_for([SPRING], "D"))).status_code == 200
    back = await put_values(client, operator, values_for([SPRING], "P"))
    assert back.status_code == 422
    assert back.json()["errors"] == [
        {
            "line": 2,
            "detail": "zone default, gas day 2024-03-31 already has a definitive value; it can "
            "only be corrected by another definitive one",
        }
    ]

    electricity = await register_point(app)
    zones = await client.put(
        ZONES,
        content=upload(["ean,zone", f"{gas},north", f"{electricity},north", "123,north"]),
        headers={**operator, "Content-Type": "text/csv"},
    )
    assert zones.status_code == 422, zones.text
    assert [e["line"] for e in zones.json()["errors"]] == [3, 4]
    zones = await client.put(
        ZONES, content=upload(["ean,zone", f"{gas},north"]),
        headers={**operator, "Content-Type": "text/csv"},
    )  # fmt: skip
    assert zones.json() == {"stored": 1}


async def test_the_bulk_query_gives_gas_in_gas_days_as_two_lines(
    client: httpx.AsyncClient, world: ConsentWorld, operator: dict[str, str], gas: str
) -> None:
    await put_values(client, operator, values_for(around(AUTUMN), "P"))
    answer = await client.post(
        "/api/v1/meter-data/query",
        json={"eans": [gas], "from": "2024-10-25", "to": "2024-10-28", "granularity": "P1D"},
        headers=await auth_headers(client, world.esp_a),
    )
    assert answer.status_code == 200, answer.text
    lines = [json.loads(line) for line in answer.text.splitlines()]
    start = gas_day_start(date(2024, 10, 25))
    assert [(line["unit"], datetime.fromisoformat(line["start"])) for line in lines] == [
        ("m3", start),
        ("kWh", start),
    ]
    bounds = [gas_day_start(date(2024, 10, 25) + timedelta(days=n)) for n in range(4)]
    litres = [stored_litres(a, b) for a, b in itertools.pairwise(bounds)]
    assert [len(day) for day in litres] == [24, 25, 24]
    assert lines[0]["values"] == [sum(day) / 1000 for day in litres]
    assert lines[1]["values"] == [wh(day) / 1000 for day in litres]
