"""``from`` and ``to`` of ``/v3`` energy requests as real clients write them: UTC midnights
(PyPI ``fluvius-energy-api``), ``<day>T00:00Z`` .. ``<day>T23:59:59Z`` (EDDIE), .NET's seven
fraction digits, local offsets, naive times, dates, instants inside a slot; both 2024 clock
changes; gas days; ``DataServiceType`` as EDDIE sends it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.brussels_days import BRUSSELS, day_start, gas_day_start
from datahub_api.fluvius_v3.windows import UnreadableBound, WindowRequest, parse_bound
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data.granularity import Granularity

from ..support.consent_world import ConsentWorld, make_consent_world
from ..support.meter_data import day_rows
from ..support.parties import Esp, auth_headers
from ..support.v3_world import ingest, register_point

URL = "/v3/api/mandate/energy"
SPRING = date(2024, 3, 31)  # 23 hours: 92 quarter-hours
AUTUMN = date(2024, 10, 27)  # 25 hours: 100 quarter-hours
QUARTERS = {SPRING: 92, AUTUMN: 100}


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shapes(day: date) -> list[tuple[str, str]]:
    """One calendar day as real clients write it."""
    after = day + timedelta(days=1)
    return [
        (f"{day}T00:00:00Z", f"{after}T00:00:00Z"),  # PyPI fluvius-energy-api
        (f"{day}T00:00Z", f"{day}T23:59:59Z"),  # EDDIE (Java's ISO_DATE_TIME)
        (f"{day}T00:00:00.0000000Z", f"{day}T23:59:59.9999999Z"),  # .NET, round trip
        (f"{day}T00:00:00.000000000Z", f"{day}T23:59:59.999999999Z"),  # nanoseconds
        (z(day_start(day)), z(day_start(after))),  # Brussels midnights written in UTC
        (
            datetime.combine(day, datetime.min.time(), BRUSSELS).isoformat(),
            datetime.combine(after, datetime.min.time(), BRUSSELS).isoformat(),
        ),  # local offsets (+01:00 / +02:00)
        (f"{day}T00:00:00+0100", f"{day}T23:59:59+0100"),  # offset without a colon
        (f"{day}T00:00:00", f"{day}T23:59:59.9999999"),  # naive: Brussels wall clock
        (f"{day}T00:00:00+01:00[Europe/Brussels]", f"{after}T00:00:00+01:00[Europe/Brussels]"),
        (str(day), str(after)),  # dates
    ]


# --- the rule, without a server ------------------------------------------------------------


@pytest.mark.parametrize("day", [SPRING, AUTUMN, date(2024, 1, 15)])
@pytest.mark.parametrize("granularity", [Granularity.PT15M, Granularity.P1D])
def test_every_shape_of_a_calendar_day_is_that_day(day: date, granularity: Granularity) -> None:
    for first, last in shapes(day):
        window = WindowRequest(parse_bound(first), parse_bound(last, inclusive_end=True)).window(
            granularity, gas=False
        )
        assert (window.start, window.end) == (day_start(day), day_start(day + timedelta(days=1))), (
            first,
            last,
        )
        expected = QUARTERS.get(day, 96) if granularity is Granularity.PT15M else 1
        assert window.bucket_count() == expected


@pytest.mark.parametrize(
    ("first", "last", "granularity", "start", "end"),
    [
        # Inside a quarter-hour: every quarter-hour the window touches.
        ("2024-05-02T08:07:00Z", "2024-05-02T08:52:30Z", Granularity.PT15M,
         "2024-05-02T08:00:00Z", "2024-05-02T09:00:00Z"),
        ("2024-05-02T08:14:59Z", "2024-05-02T08:29:59Z", Granularity.PT15M,
         "2024-05-02T08:00:00Z", "2024-05-02T08:30:00Z"),
        ("2024-05-02T08:30:00.5+02:00", "2024-05-02T09:00:00+02:00", Granularity.PT1H,
         "2024-05-02T06:00:00Z", "2024-05-02T07:00:00Z"),
        # Inside a day, for days: the days it touches.
        ("2024-05-02T10:00:00Z", "2024-05-03T10:00:00Z", Granularity.P1D,
         "2024-05-01T22:00:00Z", "2024-05-03T22:00:00Z"),
        # The README example of fluvius-energy-api: January to May.
        ("2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z", Granularity.P1D,
         "2023-12-31T23:00:00Z", "2024-05-31T22:00:00Z"),
        # A UTC midnight start with a time inside the day: the day from its start.
        ("2024-05-02T00:00:00Z", "2024-05-02T12:00:00Z", Granularity.PT15M,
         "2024-05-01T22:00:00Z", "2024-05-02T12:00:00Z"),
    ],
)  # fmt: skip
def test_other_windows_widen_to_the_grid(
    first: str, last: str, granularity: Granularity, start: str, end: str
) -> None:
    window = WindowRequest(parse_bound(first), parse_bound(last, inclusive_end=True)).window(
        granularity, gas=False
    )
    assert (z(window.start), z(window.end)) == (start, end)


def test_the_readme_window_has_152_days() -> None:
    window = WindowRequest(
        parse_bound("2024-01-01T00:00:00Z"), parse_bound("2024-06-01T00:00:00Z", inclusive_end=True)
    ).window(Granularity.P1D, gas=False)
    assert window.bucket_count() == 152  # 1 January up to and including 31 May


@pytest.mark.parametrize(
    ("first", "last", "days"),
    [
        ("2024-03-30T00:00:00Z", "2024-03-30T23:59:59Z", [date(2024, 3, 30)]),
        ("2024-03-29", "2024-04-01", [date(2024, 3, 29), date(2024, 3, 30), date(2024, 3, 31)]),
        # Gas-day starts written in UTC name those gas days.
        ("2024-10-26T04:00:00Z", "2024-10-27T05:00:00Z", [date(2024, 10, 26)]),
        # Inside a gas day (03:00 Brussels is the gas day before): the gas days it touches.
        ("2024-10-26T01:00:00Z", "2024-10-26T08:00:00Z", [date(2024, 10, 25), date(2024, 10, 26)]),
    ],
)  # fmt: skip
def test_gas_windows_are_the_gas_days_they_name(first: str, last: str, days: list[date]) -> None:
    window = (
        WindowRequest(parse_bound(first), parse_bound(last, inclusive_end=True))
        .window(Granularity.P1D, gas=True)
        .as_gas()
    )
    assert (window.start, window.end) == (
        gas_day_start(days[0]),
        gas_day_start(days[-1] + timedelta(days=1)),
    )
    assert window.bucket_count() == len(days)


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T24:30:00Z",
     "2024-01-01T00:00:00+25:00", "2024-01-01T00", "2024-01-01T00:00:00.1234567890Z",
     "20240101T000000Z", "2024-01-01T00:00:00Zjunk"],
)  # fmt: skip
def test_unparseable_bounds_are_refused(raw: str) -> None:
    with pytest.raises(UnreadableBound):
        parse_bound(raw)


# --- over HTTP -----------------------------------------------------------------------------


async def mandate_2024(app: FastAPI, esp: Esp, ean: str, service: str, reference: str) -> None:
    principal = Principal(
        subject=esp.client_id, role=Role.esp, scopes=ESP_SCOPES, organisation_id=esp.organisation_id
    )
    async with app.state.database.write_sessions() as session:
        await mandates_service.make_sandbox_mandate(
            session,
            principal,
            mandates_service.MockMandate(
                reference_number=reference,
                ean=ean,
                data_service_type=DataServiceType(service),
                data_period_from=day_start(date(2024, 1, 1)),
                data_period_to=day_start(date(2025, 1, 1)),
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
async def headers(client: httpx.AsyncClient, world: ConsentWorld) -> dict[str, str]:
    return await auth_headers(client, world.esp_a)


@pytest.fixture
async def electricity(app: FastAPI, world: ConsentWorld) -> str:
    """ESP A's EAN with a quarter-hour and a daily mandate over 2024, and every quarter-hour
    of both clock-change days stored."""
    ean = await register_point(app)
    await mandate_2024(app, world.esp_a, ean, "VH_kwartier_uur", "quarters")
    await mandate_2024(app, world.esp_a, ean, "VH_dag", "days")
    await ingest(app, day_rows(ean, SPRING) + day_rows(ean, AUTUMN))
    return ean


def meter_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    [meter] = response.json()["data"]["headpoint"]["physicalMeters"]
    return dict(meter)


async def test_clients_windows_read_the_day_they_mean(
    client: httpx.AsyncClient, headers: dict[str, str], electricity: str
) -> None:
    for day in (SPRING, AUTUMN):
        count = QUARTERS[day]
        expected = [(slot + 1) / 1000 for slot in range(count)]
        for first, last in shapes(day):
            params = {"ean": electricity, "periodType": "readTime", "from": first, "to": last}
            meter = meter_of(
                await client.get(
                    URL, params={**params, "granularity": "hourly_quarterhourly,daily"},
                    headers=headers,
                )
            )  # fmt: skip
            quarters = meter["quarterHourlyEnergy"]
            assert [q["start"] for q in quarters[:1]] == [z(day_start(day))], (first, last)
            assert quarters[-1]["end"] == z(day_start(day + timedelta(days=1)))
            assert [q["measurements"][0]["offtake"]["total"]["value"] for q in quarters] == (
                expected
            )
            [daily] = meter["dailyEnergy"]
            assert daily["measurements"][0]["offtake"]["total"]["value"] == round(sum(expected), 3)


async def test_the_readme_request_of_the_pypi_client_is_january_to_may(
    client: httpx.AsyncClient, headers: dict[str, str], electricity: str
) -> None:
    params = {
        "ean": electricity,
        "periodType": "readTime",
        "granularity": "daily",
        "from": "2024-01-01T00:00:00Z",
        "to": "2024-06-01T00:00:00Z",
    }
    daily = meter_of(await client.get(URL, params=params, headers=headers))["dailyEnergy"]
    assert len(daily) == 152
    assert (daily[0]["start"], daily[-1]["end"]) == ("2023-12-31T23:00:00Z", "2024-05-31T22:00:00Z")
    spring = next(d for d in daily if d["start"] == z(day_start(SPRING)))
    assert spring["end"] == z(day_start(SPRING + timedelta(days=1)))
    assert spring["measurements"][0]["offtake"]["total"]["value"] == round(
        sum(range(1, 93)) / 1000, 3
    )


async def test_an_instant_inside_a_quarter_hour_reads_the_quarter_hours_it_touches(
    client: httpx.AsyncClient, headers: dict[str, str], electricity: str
) -> None:
    params = {
        "ean": electricity,
        "periodType": "readTime",
        "granularity": "hourly_quarterhourly",
        "from": "2024-10-27T01:07:00+01:00",
        "to": "2024-10-27T01:44:59.9999999+01:00",
    }
    quarters = meter_of(await client.get(URL, params=params, headers=headers))[
        "quarterHourlyEnergy"
    ]
    assert [q["start"] for q in quarters] == [
        "2024-10-27T00:00:00Z",
        "2024-10-27T00:15:00Z",
        "2024-10-27T00:30:00Z",
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2024-03-31T00:00:00Z", "2024-03-30T00:00:00Z", "must be later than 'from'"),
        ("2024-03-31T00:00:00Z", "2024-03-31T00:00:00Z", "must be later than 'from'"),
        # Both name the same day once on the day grid.
        ("2024-03-31T00:00:00Z", "2024-03-30T23:00:00Z", "must be later than 'from'"),
        ("31/03/2024", "2024-04-01T00:00:00Z", "Parameter 'from' must be a date-time"),
        ("2024-03-31T00:00:00Z", "2024-04-31T00:00:00Z", "Parameter 'to' must be a date-time"),
    ],
)
async def test_truly_invalid_windows_stay_400_with_fluvius_body(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    electricity: str,
    start: str,
    end: str,
    message: str,
) -> None:
    params = {"ean": electricity, "periodType": "readTime", "granularity": "daily"}
    response = await client.get(URL, params={**params, "from": start, "to": end}, headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["type"], body["code"]) == (
        "AppValidationException",
        "RequestModelValidation.Failed",
    )
    assert any(message in m for m in body["validationErrorMessages"]), body


async def test_a_calendar_day_window_on_a_gas_ean_reads_the_gas_days_it_names(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, headers: dict[str, str]
) -> None:
    ean = await register_point(app, energy_type="G")
    await mandate_2024(app, world.esp_a, ean, "VH_kwartier_uur", "gas")
    rows = []
    for offset in range(-2, 3):
        rows += day_rows(ean, SPRING + timedelta(days=offset), granularity=Granularity.PT1H,
                         unit="m3")  # fmt: skip
    await ingest(app, rows)
    params = {"ean": ean, "periodType": "readTime", "granularity": "hourly_quarterhourly,daily"}
    for first, last in [("2024-03-30T00:00:00Z", "2024-03-30T23:59:59Z"),
                        ("2024-03-30T00:00:00Z", "2024-03-31T00:00:00Z"),
                        ("2024-03-30", "2024-03-31")]:  # fmt: skip
        meter = meter_of(
            await client.get(URL, params={**params, "from": first, "to": last}, headers=headers)
        )
        hours, days = meter["hourlyEnergy"], meter["dailyEnergy"]
        assert len(hours) == 23, (first, last)  # the gas day of 30 March 2024
        assert hours[0]["start"] == z(gas_day_start(date(2024, 3, 30)))
        assert hours[-1]["end"] == z(gas_day_start(date(2024, 3, 31)))
        assert [(d["start"], d["end"]) for d in days] == [
            (z(gas_day_start(date(2024, 3, 30))), z(gas_day_start(date(2024, 3, 31))))
        ]
    two = meter_of(
        await client.get(
            URL,
            params={**params, "granularity": "daily", "from": "2024-03-29T00:00:00Z",
                    "to": "2024-03-31T00:00:00Z"},
            headers=headers,
        )
    )  # fmt: skip
    assert [d["start"] for d in two["dailyEnergy"]] == [
        z(gas_day_start(date(2024, 3, 29))),
        z(gas_day_start(date(2024, 3, 30))),
    ]


# --- DataServiceType -----------------------------------------------------------------------


async def test_data_service_type_picks_the_mandate_and_granularity_as_eddie_sends_it(
    client: httpx.AsyncClient, headers: dict[str, str], electricity: str
) -> None:
    # EDDIE's Fluvius connector: no granularity, the data service in `DataServiceType`.
    eddie = (
        f"/v3/api/Mandate/energy?referenceNumber=quarters&ean={electricity}"
        "&DataServiceType=VH_kwartier_uur&PeriodType=readTime"
        "&from=2024-03-31T00:00Z&to=2024-03-31T23:59:59Z"
    )
    meter = meter_of(await client.get(eddie, headers=headers))
    assert len(meter["quarterHourlyEnergy"]) == 92
    assert "dailyEnergy" not in meter
    daily = meter_of(
        await client.get(
            eddie.replace("quarters", "days").replace("VH_kwartier_uur", "VH_dag"), headers=headers
        )
    )
    assert len(daily["dailyEnergy"]) == 1
    assert "quarterHourlyEnergy" not in daily
    # Without a reference: only the VH_dag mandate may grant, so quarter-hours are refused.
    only_days = eddie.replace("referenceNumber=quarters&", "").replace("VH_kwartier_uur", "VH_dag")
    assert len(meter_of(await client.get(only_days, headers=headers))["dailyEnergy"]) == 1
    refused = await client.get(only_days + "&granularity=hourly_quarterhourly", headers=headers)
    assert refused.status_code == 403, refused.text
    # A data service none of the caller's mandates has: as for an unknown EAN.
    none = await client.get(eddie.replace("VH_kwartier_uur", "IG"), headers=headers)
    assert none.status_code == 404, none.text
    assert none.json()["type"] == "MandatesNotFoundException"
    # An unknown value (EDDIE's VH_half_uur is not Fluvius's): 400 with the Fluvius body.
    unknown = await client.get(eddie.replace("VH_kwartier_uur", "VH_half_uur"), headers=headers)
    assert unknown.status_code == 400, unknown.text
    body = unknown.json()
    assert body["type"] == "AppValidationException"
    assert any("'VH_half_uur' is not one of" in m for m in body["validationErrorMessages"])


async def test_the_mandate_list_takes_data_service_type_in_either_spelling(
    client: httpx.AsyncClient, headers: dict[str, str], electricity: str
) -> None:
    async def references(**params: str) -> list[str]:
        response = await client.get("/v3/api/mandate", params={"ean": electricity, **params},
                                    headers=headers)  # fmt: skip
        assert response.status_code == 200, response.text
        return sorted(m["referenceNumber"] for m in response.json()["data"]["mandates"])

    assert await references() == ["days", "quarters"]
    assert await references(dataServiceTypes="VH_dag") == ["days"]
    assert await references(DataServiceType="VH_kwartier_uur") == ["quarters"]
    assert await references(dataservicetypes="VH_dag,VH_kwartier_uur") == ["days", "quarters"]
    unknown = await client.get(
        "/v3/api/mandate", params={"DataServiceType": "VH_half_uur"}, headers=headers
    )
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["type"] == "AppValidationException"
