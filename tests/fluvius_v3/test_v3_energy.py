"""``GET /v3/api/mandate/energy``: Fluvius's energy body over the stored series, behind the
read gate. Every answer is validated against Fluvius's spec by the ``client`` fixture; some
are also parsed with the real ``fluvius-energy-api`` client's models."""

from __future__ import annotations

import itertools
import sys
import tarfile
import types
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.brussels_days import day_start
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.reads import Release, series_of
from datahub_api.meter_data.series import ReadWindow

from ..support.access_point_data import fresh_ean
from ..support.consent_world import ConsentWorld, log_in, make_consent_world, owner_mandate
from ..support.fluvius_spec import sdist_path
from ..support.meter_data import METER, day_rows
from ..support.parties import Esp, auth_headers
from ..support.v3_world import db_clock, ingest, register_point

URL = "/v3/api/mandate/energy"
DAY = date(2026, 2, 10)  # a Tuesday: 96 quarter-hours
SPRING = date(2026, 3, 29)  # 23 hours: 92 quarter-hours
AUTUMN = date(2026, 10, 25)  # 25 hours: 100 quarter-hours
UNKNOWN_EAN = "999999999999999999"
NOT_FOUND = {
    "type": "MandatesNotFoundException",
    "code": "Mandates.NotFound",
    "message": "No Mandates were found.",
}


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def days(first: date, count: int = 1, granularity: str = "hourly_quarterhourly") -> dict[str, str]:
    """``readTime`` params for ``count`` Brussels days from ``first``."""
    return {
        "periodType": "readTime",
        "granularity": granularity,
        "from": z(day_start(first)),
        "to": z(day_start(first + timedelta(days=count))),
    }


async def sandbox_mandate(
    app: FastAPI, esp: Esp, ean: str, service_type: str = "VH_kwartier_uur"
) -> None:
    principal = Principal(
        subject=esp.client_id, role=Role.esp, scopes=ESP_SCOPES, organisation_id=esp.organisation_id
    )
    async with app.state.database.write_sessions() as session:
        await mandates_service.make_sandbox_mandate(
            session,
            principal,
            mandates_service.MockMandate(
                reference_number="sandbox",
                ean=ean,
                data_service_type=DataServiceType(service_type),
                data_period_from=datetime(2025, 1, 1, tzinfo=UTC),
                data_period_to=datetime(2027, 1, 1, tzinfo=UTC),
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
async def headers_a(client: httpx.AsyncClient, world: ConsentWorld) -> dict[str, str]:
    return await auth_headers(client, world.esp_a)


@pytest.fixture(scope="session")
def fluvius_client_models(tmp_path_factory: pytest.TempPathFactory) -> types.ModuleType:
    """The real client's energy models (``fluvius_energy_api.models.energy``) from the
    sdist; its package ``__init__`` is skipped (it needs PyJWT for the token provider)."""
    into = tmp_path_factory.mktemp("fluvius-client")
    with tarfile.open(sdist_path()) as tar:
        members = [m for m in tar.getmembers() if "/src/fluvius_energy_api/" in m.name]
        tar.extractall(into, members=members, filter="data")
    [package_dir] = list(into.glob("*/src/fluvius_energy_api"))
    package = types.ModuleType("fluvius_energy_api")
    package.__path__ = [str(package_dir)]
    sys.modules.setdefault("fluvius_energy_api", package)
    from fluvius_energy_api.models import energy  # type: ignore[import-not-found]

    assert Path(energy.__file__).is_relative_to(into)
    assert isinstance(energy, types.ModuleType)
    return energy


def meters_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["headpoint"]["physicalMeters"])


def values(
    slices: list[dict[str, Any]], direction: str = "offtake", register: str = "total"
) -> list[Any]:
    return [
        s["measurements"][0][direction][register].get("value") if s["measurements"] else "none"
        for s in slices
    ]


# --- the body -----------------------------------------------------------------------------


async def test_quarter_hours_of_an_ordinary_day(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    headers_a: dict[str, str],
    fluvius_client_models: types.ModuleType,
) -> None:
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    await ingest(
        app,
        day_rows(ean, DAY) + day_rows(ean, DAY, direction="injection", value="0.010", state="EST"),
    )
    response = await client.get(URL, params={"ean": ean, **days(DAY)}, headers=headers_a)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    headpoint = body["data"]["headpoint"]
    assert list(headpoint) == ["$type", "ean", "energyType", "physicalMeters"]
    assert (headpoint["$type"], headpoint["ean"], headpoint["energyType"]) == (
        "metering-on-meter",
        ean,
        "E",
    )
    [meter] = headpoint["physicalMeters"]
    assert (meter["seqNumber"], meter["meterID"]) == ("1", METER)
    assert list(meter) == ["seqNumber", "meterID", "quarterHourlyEnergy"]
    slices = meter["quarterHourlyEnergy"]
    assert len(slices) == 96
    assert slices[0] == {
        "start": "2026-02-09T23:00:00Z",
        "end": "2026-02-09T23:15:00Z",
        "measurements": [
            {
                "offtake": {"total": {"value": 0.001, "unit": "kWh", "validationState": "READ"}},
                "injection": {"total": {"value": 0.01, "unit": "kWh", "validationState": "EST"}},
            }
        ],
    }
    assert slices[-1]["end"] == "2026-02-10T23:00:00Z"
    assert values(slices) == [(slot + 1) / 1000 for slot in range(96)]
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(slices))
    fetched = datetime.fromisoformat(body["_meta"]["fetchTime"].replace("Z", "+00:00"))
    assert body["_meta"]["fetchTime"].endswith("Z")
    assert fetched.microsecond == 0
    # The real client reads it.
    parsed = fluvius_client_models.GetEnergyResponseApiDataResponse.model_validate(body)
    assert type(parsed.data.headpoint).__name__ == "MeteringOnMeter"
    first = parsed.data.headpoint.physical_meters[0].quarter_hourly_energy[0]
    assert first.measurements[0].offtake.total.value == 0.001
    assert first.start == datetime(2026, 2, 9, 23, tzinfo=UTC)


@pytest.mark.parametrize(("day", "slots"), [(SPRING, 92), (AUTUMN, 100)])
async def test_dst_days_have_92_and_100_quarter_hours(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    headers_a: dict[str, str],
    day: date,
    slots: int,
) -> None:
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    await ingest(app, day_rows(ean, day))
    [meter] = meters_of(await client.get(URL, params={"ean": ean, **days(day)}, headers=headers_a))
    slices = meter["quarterHourlyEnergy"]
    assert len(slices) == slots
    assert values(slices) == [(slot + 1) / 1000 for slot in range(slots)]
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(slices))
    assert (slices[0]["start"], slices[-1]["end"]) == (
        z(day_start(day)),
        z(day_start(day + timedelta(days=1))),
    )
    # The same day summed: one slice of 23 or 25 hours.
    [meter] = meters_of(
        await client.get(
            URL, params={"ean": ean, **days(day, granularity="daily")}, headers=headers_a
        )
    )
    [whole] = meter["dailyEnergy"]
    assert whole["measurements"][0]["offtake"]["total"] == {
        "value": slots * (slots + 1) / 2 / 1000,
        "unit": "kWh",
        "validationState": "READ",
    }
    # Both granularities at once, in the spec's field order.
    [meter] = meters_of(
        await client.get(
            URL,
            params={"ean": ean, **days(day, granularity="hourly_quarterhourly;daily")},
            headers=headers_a,
        )
    )
    assert list(meter) == ["seqNumber", "meterID", "dailyEnergy", "quarterHourlyEnergy"]
    assert (len(meter["dailyEnergy"]), len(meter["quarterHourlyEnergy"])) == (1, slots)


async def test_gaps_are_null_and_every_slot_appears(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    later = DAY + timedelta(days=2)
    await ingest(
        app,
        day_rows(ean, DAY)
        + day_rows(ean, later, slots=range(40), state="VAL")
        + day_rows(ean, later, slots=range(40, 48), state="EST"),
    )
    [meter] = meters_of(
        await client.get(URL, params={"ean": ean, **days(DAY, 3, "daily")}, headers=headers_a)
    )
    daily = meter["dailyEnergy"]
    assert [s["start"] for s in daily] == [z(day_start(DAY + timedelta(days=n))) for n in range(3)]
    assert [s["measurements"][0]["offtake"]["total"] for s in daily] == [
        {"value": 4.656, "unit": "kWh", "validationState": "READ"},
        {"value": None, "unit": "kWh"},  # nothing that day: a gap, not zero
        {"value": 1.176, "unit": "kWh", "validationState": "EST"},  # the worst of its parts
    ]
    [meter] = meters_of(
        await client.get(URL, params={"ean": ean, **days(later)}, headers=headers_a)
    )
    quarters = meter["quarterHourlyEnergy"]
    assert len(quarters) == 96
    assert values(quarters) == [(slot + 1) / 1000 for slot in range(48)] + [None] * 48
    assert quarters[50]["measurements"] == [{"offtake": {"total": {"value": None, "unit": "kWh"}}}]
    # A day before any reading: every slot, with no measurements at all.
    [meter] = meters_of(
        await client.get(
            URL, params={"ean": ean, **days(DAY - timedelta(days=1))}, headers=headers_a
        )
    )
    assert len(meter["quarterHourlyEnergy"]) == 96
    assert all(s["measurements"] == [] for s in meter["quarterHourlyEnergy"])


async def test_the_numbers_are_those_of_the_series_module(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    """What every face serves: the v3 body carries exactly the series' numbers."""
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    await ingest(app, day_rows(ean, AUTUMN, slots=range(0, 100, 3)) + day_rows(ean, SPRING))
    for granularity, read in (
        ("hourly_quarterhourly", Granularity.PT15M),
        ("daily", Granularity.P1D),
    ):
        params = {
            "ean": ean,
            "periodType": "readTime",
            "granularity": granularity,
            "from": z(day_start(SPRING)),
            "to": z(day_start(AUTUMN + timedelta(days=1))),
        }
        [meter] = meters_of(await client.get(URL, params=params, headers=headers_a))
        field = "quarterHourlyEnergy" if read is Granularity.PT15M else "dailyEnergy"
        window = ReadWindow(day_start(SPRING), day_start(AUTUMN + timedelta(days=1)), read)
        async with app.state.database.read_sessions() as session:
            [series] = await series_of(
                session, Release(ean, (window.first_day, window.end_day)), window
            )
        assert values(meter[field]) == [None if v is None else v / 1000 for v in series.values]
        assert [s["start"] for s in meter[field]] == [
            z(start) for start, _ in series.bucket_bounds()
        ]


async def test_gas_is_hourly_in_cubic_metres(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    ean = await register_point(app, energy_type="G")
    await sandbox_mandate(app, world.esp_a, ean)
    await ingest(app, day_rows(ean, SPRING, granularity=Granularity.PT1H, unit="m3"))
    response = await client.get(
        URL,
        params={
            "ean": ean,
            **days(SPRING, granularity="hourly_quarterhourly,daily"),
            "complexEnergyTypes": "reactive",
        },
        headers=headers_a,
    )
    assert response.json()["data"]["headpoint"]["energyType"] == "G"
    [meter] = meters_of(response)
    hours = meter["hourlyEnergy"]
    assert "quarterHourlyEnergy" not in meter
    # The gas day asked runs from 06:00 to 06:00 (24 hours: the clocks went forward in the
    # night before); the stored calendar day gives it its hours from 06:00 on.
    assert len(hours) == 24
    assert hours[0]["measurements"] == [
        {"offtake": {"total": {"value": 0.006, "unit": "m3", "validationState": "READ"}}},
        {"offtake": {"total": {"value": None, "unit": "kWh"}}},  # no calorific value yet
    ]
    daily = meter["dailyEnergy"][0]["measurements"][0]["offtake"]["total"]
    assert daily["value"] == sum(range(6, 24)) / 1000


async def test_complex_energy_types_pick_active_or_reactive(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    await ingest(
        app,
        day_rows(ean, DAY) + day_rows(ean, DAY, register="reactive", unit="kVArh", value="0.002"),
    )

    async def registers(kinds: str | None) -> dict[str, Any]:
        params = {"ean": ean, **days(DAY)}
        if kinds is not None:
            params["complexEnergyTypes"] = kinds
        [meter] = meters_of(await client.get(URL, params=params, headers=headers_a))
        return dict(meter["quarterHourlyEnergy"][0]["measurements"][0]["offtake"])

    both = await registers(None)
    assert both == {
        "total": {"value": 0.001, "unit": "kWh", "validationState": "READ"},
        "reactive": {"value": 0.002, "unit": "kVArh", "validationState": "READ"},
    }
    assert await registers("active,reactive") == both
    assert list(await registers("reactive")) == ["reactive"]
    assert list(await registers("active")) == ["total"]


async def test_metering_on_headpoint_with_sub_headpoints(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    headers_a: dict[str, str],
    fluvius_client_models: types.ModuleType,
) -> None:
    pv_ean = fresh_ean()
    ean = await register_point(
        app,
        meter_type="KM",
        metering="metering-on-headpoint",
        gvm=True,
        communication_periods=[],
        sub_headpoints=[
            {"type": "submetering-offtake", "seq_number": "2"},
            {
                "type": "submetering-production",
                "seq_number": "1",
                "ean": pv_ean,
                "vreg_id": "G10345678",
                "installation_type": "PV",
            },
        ],
    )
    await sandbox_mandate(app, world.esp_a, ean)
    await ingest(
        app,
        day_rows(ean, DAY, state="VAL")
        + day_rows(ean, DAY, direction="production", value="0.500", state="NVAL"),
    )
    response = await client.get(URL, params={"ean": ean, **days(DAY)}, headers=headers_a)
    assert response.status_code == 200, response.text
    headpoint = response.json()["data"]["headpoint"]
    assert list(headpoint) == ["$type", "ean", "energyType", "quarterHourlyEnergy", "subHeadpoints"]
    assert headpoint["$type"] == "metering-on-headpoint"
    quarters = headpoint["quarterHourlyEnergy"]
    assert len(quarters) == 96
    assert quarters[3]["measurements"] == [
        {"offtake": {"total": {"value": 0.004, "unit": "kWh", "validationState": "VAL"}}}
    ]
    production, offtake = headpoint["subHeadpoints"]
    assert {k: v for k, v in production.items() if k != "quarterHourlyEnergy"} == {
        "$type": "submetering-production",
        "ean": pv_ean,
        "seqNumber": "1",
        "vregId": "G10345678",
        "type": "PV",
    }
    assert production["quarterHourlyEnergy"][0]["measurements"] == [
        {"production": {"total": {"value": 0.5, "unit": "kWh", "validationState": "NVAL"}}}
    ]
    assert offtake["$type"] == "submetering-offtake"
    assert [s["measurements"] for s in offtake["quarterHourlyEnergy"]] == [[]] * 96
    parsed = fluvius_client_models.GetEnergyResponseApiDataResponse.model_validate(response.json())
    assert type(parsed.data.headpoint).__name__ == "MeteringOnHeadpoint"
    assert type(parsed.data.headpoint.sub_headpoints[0]).__name__ == "ProductionSubHeadpoint"


async def test_metering_on_headpoint_and_meter_shows_both(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    ean = await register_point(
        app, meter_type="KM", metering="metering-on-headpoint-and-meter", communication_periods=[]
    )
    await sandbox_mandate(app, world.esp_a, ean)
    await ingest(app, day_rows(ean, DAY, granularity=Granularity.P1D, value="12.345"))
    response = await client.get(
        URL, params={"ean": ean, **days(DAY, 2, "daily")}, headers=headers_a
    )
    headpoint = response.json()["data"]["headpoint"]
    assert list(headpoint) == [
        "$type",
        "ean",
        "energyType",
        "physicalMeters",
        "dailyEnergy",
        "subHeadpoints",
    ]
    [meter] = headpoint["physicalMeters"]
    assert meter["dailyEnergy"] == headpoint["dailyEnergy"]
    assert values(headpoint["dailyEnergy"]) == [12.345, None]
    assert headpoint["subHeadpoints"] == []


async def test_a_meter_exchange_shows_each_meter_while_installed(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    exchange = DAY + timedelta(days=1)
    ean = await register_point(
        app,
        physical_meters=[
            {
                "seq_number": "1",
                "meter_id": "OLD1",
                "installed_from": "2024-01-01",
                "installed_to": exchange.isoformat(),
            },
            {"seq_number": "1", "meter_id": "NEW1", "installed_from": exchange.isoformat()},
        ],
    )
    await sandbox_mandate(app, world.esp_a, ean)
    await ingest(
        app, day_rows(ean, DAY, meter_id="OLD1") + day_rows(ean, exchange, meter_id="NEW1")
    )
    old, new = meters_of(
        await client.get(URL, params={"ean": ean, **days(DAY, 2)}, headers=headers_a)
    )
    assert (old["meterID"], new["meterID"]) == ("OLD1", "NEW1")
    assert old["quarterHourlyEnergy"][0]["start"] == z(day_start(DAY))
    assert (
        old["quarterHourlyEnergy"][-1]["end"]
        == new["quarterHourlyEnergy"][0]["start"]
        == z(day_start(exchange))
    )
    assert len(old["quarterHourlyEnergy"]) == len(new["quarterHourlyEnergy"]) == 96
    # Only the meter installed in the window is listed.
    [meter] = meters_of(
        await client.get(URL, params={"ean": ean, **days(exchange)}, headers=headers_a)
    )
    assert meter["meterID"] == "NEW1"


async def test_insert_time_returns_the_days_inserted_or_corrected(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    before = await db_clock(app)
    await ingest(app, day_rows(ean, DAY))
    between = await db_clock(app)
    await ingest(app, day_rows(ean, SPRING, state="EST"))

    async def inserted(since: datetime, **extra: str) -> dict[str, Any]:
        params = {"ean": ean, "periodType": "insertTime", "from": since.isoformat(), **extra}
        [meter] = meters_of(await client.get(URL, params=params, headers=headers_a))
        return meter

    meter = await inserted(between)
    assert len(meter["quarterHourlyEnergy"]) == 92
    assert meter["quarterHourlyEnergy"][0]["start"] == z(day_start(SPRING))
    meter = await inserted(before)
    starts = [s["start"] for s in meter["quarterHourlyEnergy"]]
    assert len(starts) == 96 + 92
    assert (starts[0], starts[96]) == (z(day_start(DAY)), z(day_start(SPRING)))
    meter = await inserted(before, granularity="daily")
    assert values(meter["dailyEnergy"]) == [4.656, 4.278]
    # A correction moves the day into a later insert window, with its new values.
    corrected = await db_clock(app)
    await ingest(app, day_rows(ean, DAY, value="0.100", state="VAL"))
    meter = await inserted(corrected)
    assert values(meter["quarterHourlyEnergy"]) == [0.1] * 96
    assert (
        meter["quarterHourlyEnergy"][0]["measurements"][0]["offtake"]["total"]["validationState"]
        == "VAL"
    )
    # Nothing inserted since: no slices at all.
    assert (await inserted(await db_clock(app)))["quarterHourlyEnergy"] == []


# --- who may read what --------------------------------------------------------------------


async def test_no_mandate_answers_like_an_unknown_ean(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(app, client, world)
    headers_b = await auth_headers(client, world.esp_b)
    answers = []
    for ean, headers in (
        (UNKNOWN_EAN, headers_a),
        (world.tenant_eans[0], headers_a),  # exists, no mandate of A
        (world.owner_ean, headers_b),  # A's mandate, asked by B
    ):
        for params in (days(DAY), {"periodType": "bogus", "from": "yesterday"}, {}):
            response = await client.get(URL, params={"ean": ean, **params}, headers=headers)
            answers.append((response.status_code, response.json()))
    assert answers == [(404, NOT_FOUND)] * len(answers)
    # A reference number none of A's mandates carries: the same.
    response = await client.get(
        URL,
        params={"ean": world.owner_ean, **days(DAY), "referenceNumber": "other"},
        headers=headers_a,
    )
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    response = await client.get(
        URL,
        params={"ean": world.owner_ean, **days(DAY), "referenceNumber": "customer-4711"},
        headers=headers_a,
    )
    assert response.status_code == 200


async def test_a_period_outside_the_mandate_is_refused_with_the_allowed_window(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(app, client, world)  # 2025-01-01T00:00Z .. 2027-01-01T00:00Z
    response = await client.get(
        URL,
        params={"ean": world.owner_ean, **days(date(2024, 12, 31), 3, "daily")},
        headers=headers_a,
    )
    assert response.status_code == 403
    body = response.json()
    assert (body["type"], body["code"]) == ("ForbiddenException", "Request.Forbidden")
    assert "2025-01-01T00:00:00+00:00" in body["message"]
    assert "2027-01-01T00:00:00+00:00" in body["message"]
    assert await reads_logged(app, world) == []


async def test_a_daily_mandate_refuses_quarter_hours(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(
        app,
        client,
        world,
        dataServices=[
            {
                "dataServiceType": "VH_dag",
                "dataPeriodFrom": "2025-01-01T00:00:00Z",
                "dataPeriodTo": "2027-01-01T00:00:00Z",
            }
        ],
    )
    ean = world.owner_ean
    await ingest(app, day_rows(ean, DAY))
    refused = await client.get(URL, params={"ean": ean, **days(DAY)}, headers=headers_a)
    assert refused.status_code == 403
    assert "VH_dag" in refused.json()["message"]
    for params in (
        days(DAY, granularity="daily"),
        {k: v for k, v in days(DAY).items() if k != "granularity"},
    ):
        [meter] = meters_of(await client.get(URL, params={"ean": ean, **params}, headers=headers_a))
        assert list(meter) == ["seqNumber", "meterID", "dailyEnergy"]
        assert values(meter["dailyEnergy"]) == [4.656]


async def test_a_revoked_mandate_is_refused_on_the_next_call(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    mandate_id = await owner_mandate(app, client, world)
    params = {"ean": world.owner_ean, **days(DAY)}
    assert (await client.get(URL, params=params, headers=headers_a)).status_code == 200
    owner = await log_in(app, world.owner)
    try:
        assert (await owner.post(f"/api/v1/mandates/{mandate_id}/revoke")).status_code == 200
    finally:
        await owner.aclose()
    response = await client.get(URL, params=params, headers=headers_a)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


async def reads_logged(app: FastAPI, world: ConsentWorld) -> list[tuple[str, str, str, str, str]]:
    owner = await log_in(app, world.owner)
    try:
        log = await owner.get(f"/api/v1/access-points/{world.owner_ean}/access-log")
    finally:
        await owner.aclose()
    assert log.status_code == 200, log.text
    return [
        (r["reader"], r["via"], r["granularity"], r["period_from"], r["period_to"])
        for r in log.json()["items"]
    ]


async def test_each_successful_read_is_in_the_access_log(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    await ingest(app, day_rows(ean, SPRING))
    assert (
        await client.get(URL, params={"ean": ean, **days(SPRING)}, headers=headers_a)
    ).status_code == 200
    assert await reads_logged(app, world) == [
        ("ESP A", "v3", "PT15M", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")
    ]
    # Refusals and malformed requests are not reads.
    for params in ({**days(SPRING), "granularity": "weekly"}, days(date(2024, 6, 1))):
        assert (
            await client.get(URL, params={"ean": ean, **params}, headers=headers_a)
        ).status_code in (400, 403)
    inserted = {
        "ean": ean,
        "periodType": "insertTime",
        "from": "2020-01-01T00:00:00Z",
        "granularity": "daily",
    }
    assert (await client.get(URL, params=inserted, headers=headers_a)).status_code == 200
    assert len(await reads_logged(app, world)) == 2
    assert (await reads_logged(app, world))[0] == (
        "ESP A",
        "v3",
        "P1D",
        "2026-03-28T23:00:00Z",
        "2026-03-29T22:00:00Z",
    )


# --- the request --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ean": None}, "Parameter 'ean' is mandatory."),
        ({"ean": "54144880000000431"}, "Parameter 'ean' must contain 18 digits."),
        ({"periodType": None}, "Parameter 'periodType' is mandatory."),
        ({"periodType": "sometime"}, "Parameter 'periodType': 'sometime' is not one of"),
        ({"granularity": "monthly"}, "Parameter 'granularity': 'monthly' is not one of"),
        ({"complexEnergyTypes": "apparent"}, "Parameter 'complexEnergyTypes': 'apparent'"),
        ({"from": "yesterday"}, "Parameter 'from' must be a date-time"),
        ({"to": "2026-02-11T25:00:00"}, "Parameter 'to' must be a date-time"),
        ({"to": "2026-02-09T23:00:00Z"}, "Parameter 'to' must be later than 'from'."),
        ({"from": "2025-02-08T23:00:00Z"}, "may last at most 366 days"),
    ],
)
async def test_bad_parameters_get_fluvius_validation_bodies(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    headers_a: dict[str, str],
    params: dict[str, str | None],
    message: str,
) -> None:
    await owner_mandate(app, client, world)
    query = {"ean": world.owner_ean, **days(DAY), **params}
    response = await client.get(
        URL, params={k: v for k, v in query.items() if v is not None}, headers=headers_a
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["type"], body["code"], body["message"]) == (
        "AppValidationException",
        "RequestModelValidation.Failed",
        "Request model validation failed.",
    )
    assert any(message in m for m in body["validationErrorMessages"]), body


async def test_paths_and_names_in_any_case_and_defaults(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers_a: dict[str, str]
) -> None:
    await owner_mandate(app, client, world)
    ean = world.owner_ean
    await ingest(app, day_rows(ean, DAY))
    params = {
        "EanNumber": ean,
        "PeriodType": "readTime",
        "FROM": z(day_start(DAY)),
        "To": z(day_start(DAY + timedelta(days=1))),
    }
    [meter] = meters_of(
        await client.get("/v3/API/Mandate/Energy", params=params, headers=headers_a)
    )
    assert len(meter["quarterHourlyEnergy"]) == 96  # the finest the mandate allows
    # Without `from`: the Brussels day before `to`; an offset's '+' may come unescaped.
    to = "2026-02-11T00:00:00 01:00"
    [meter] = meters_of(
        await client.get(
            URL, params={"ean": ean, "periodType": "readTime", "to": to}, headers=headers_a
        )
    )
    assert values(meter["quarterHourlyEnergy"]) == [(slot + 1) / 1000 for slot in range(96)]


async def test_only_esps_with_meter_data_scope_may_call(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, bearer: Any
) -> None:
    await owner_mandate(app, client, world)
    params = {"ean": world.owner_ean, **days(DAY)}
    assert (await client.get(URL, params=params)).status_code == 401
    no_scope = bearer(Role.esp, ["mandates:read"], organisation_id=world.esp_a.organisation_id)
    assert (await client.get(URL, params=params, headers=no_scope)).status_code == 403
