"""Fluvius's sandbox test EANs: in sandbox mode a mock mandate on one registers the synthetic
access point its digits name, with demo-world data; production keeps the strict registry."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.access_points.ean import is_valid
from datahub_api.access_points.models import EnergyType
from datahub_api.access_points.sandbox import SandboxKind, sandbox_kind
from datahub_api.auth.principal import Role
from datahub_api.brussels_days import today_in_brussels

from ..support.consent_world import ConsentWorld, make_consent_world
from ..support.parties import auth_headers, make_machine_client

MOCK = "/v3/api/mandate/mock"
ENERGY = "/v3/api/mandate/energy"
E, G = EnergyType.electricity, EnergyType.gas


@pytest.mark.parametrize(
    ("ean", "kind"),
    [
        # Fluvius's Postman collection and the PyPI client's README.
        ("541448860000000016", SandboxKind(E, injection=True, quarter_hours=True)),
        # The PyPI client's sandbox example (its documented pattern).
        ("541450000000000001", SandboxKind(E, injection=False, quarter_hours=False)),
        ("541451120000000999", SandboxKind(G, injection=False, quarter_hours=True)),
        # EDDIE's MockEan: 54144 + energy + injection + granularity + 0000000001.
        ("541440110000000001", SandboxKind(E, injection=True, quarter_hours=True)),
        ("541440100000000001", SandboxKind(E, injection=True, quarter_hours=False)),
        ("541441110000000001", SandboxKind(G, injection=False, quarter_hours=True)),
        ("541441000000000001", SandboxKind(G, injection=False, quarter_hours=True)),
        ("541440010000000001", SandboxKind(E, injection=False, quarter_hours=True)),
        # Not sandbox test EANs: real (valid) ones and other digits.
        ("541448800000004312", None),
        ("541448820046255080", None),
        ("541442000000000001", None),  # energy digit 2
        ("541440030000000001", None),  # granularity digit 3
        ("541440000000100001", None),  # not 000000 in the middle
        ("541460000000000001", None),  # 54146
        ("541448860000000116", None),
    ],
)
def test_the_digits_of_a_sandbox_ean_name_its_kind(ean: str, kind: SandboxKind | None) -> None:
    assert sandbox_kind(ean) == kind


def test_the_sandbox_eans_need_no_check_digit() -> None:
    assert not is_valid("541448860000000016")
    assert not is_valid("541450000000000001")
    assert not is_valid("541440110000000001")


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


def mock_body(ean: str, service: str = "VH_kwartier_uur", reference: str = "sbx") -> dict[str, Any]:
    return {
        "referenceNumber": reference,
        "ean": ean,
        "dataServiceType": service,
        "dataPeriodFrom": "2024-01-01T00:00:00Z",
        "dataPeriodTo": f"{today_in_brussels().year + 2}-12-31T23:59:59Z",
        "status": "Approved",
    }


def last_week() -> dict[str, str]:
    today = today_in_brussels()
    return {"from": str(today - timedelta(days=8)), "to": str(today - timedelta(days=1))}


async def read(
    client: httpx.AsyncClient, headers: dict[str, str], ean: str, granularity: str
) -> dict[str, Any]:
    response = await client.get(
        ENERGY,
        params={"ean": ean, "periodType": "readTime", "granularity": granularity, **last_week()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["headpoint"])


def registers(slices: list[dict[str, Any]]) -> set[str]:
    return {
        direction
        for one in slices
        for measurement in one["measurements"]
        for direction, cells in measurement.items()
        if any(cell.get("value") is not None for cell in cells.values())
    }


async def test_a_mock_mandate_on_a_sandbox_ean_makes_its_access_point_and_data(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"sandbox": True})
    headers = await auth_headers(client, world.esp_a)
    for ean in ("541448860000000016", "541440010000000001", "541441110000000001",
                "541450000000000001"):  # fmt: skip
        made = await client.post(MOCK, json=mock_body(ean), headers=headers)
        assert made.status_code == 200, made.text
    listed = await client.get("/v3/api/mandate", params={"ean": "541441110000000001"},
                              headers=headers)  # fmt: skip
    assert listed.status_code == 200, listed.text
    [gas_mandate] = listed.json()["data"]["mandates"]
    assert (gas_mandate["energyType"], gas_mandate["dataPeriodFrom"]) == (
        "G",
        "2023-12-31T23:00:00Z",  # 2024-01-01T00:00:00Z names 1 January
    )
    # Fluvius's example EAN: electricity with injection, per quarter-hour.
    meter = await read(client, headers, "541448860000000016", "hourly_quarterhourly")
    assert meter["$type"] == "metering-on-headpoint-and-meter"
    assert len(meter["quarterHourlyEnergy"]) >= 7 * 92
    assert registers(meter["quarterHourlyEnergy"]) == {"offtake", "injection"}
    # Electricity without injection.
    meter = await read(client, headers, "541440010000000001", "daily")
    assert registers(meter["dailyEnergy"]) == {"offtake"}
    # Gas: hours in m3 (and kWh once calorific values exist).
    gas = await read(client, headers, "541441110000000001", "hourly_quarterhourly")
    assert gas["energyType"] == "G"
    cells = [
        m["offtake"]["total"]
        for one in gas["physicalMeters"][0]["hourlyEnergy"]
        for m in one["measurements"][:1]
    ]
    assert {cell["unit"] for cell in cells} == {"m3"}
    assert sum(cell.get("value") is not None for cell in cells) > 100
    # A daily meter (granularity digit 0): days only, quarter-hours are gaps.
    meter = await read(client, headers, "541450000000000001", "daily,hourly_quarterhourly")
    assert registers(meter["dailyEnergy"]) == {"offtake"}
    assert registers(meter["quarterHourlyEnergy"]) == set()
    # A second mock mandate on the same EAN reuses the access point.
    again = await client.post(
        MOCK, json=mock_body("541448860000000016", "VH_dag", "sbx-2"), headers=headers
    )
    assert again.status_code == 200, again.text


async def test_concurrent_mock_mandates_register_a_sandbox_ean_once(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"sandbox": True})
    headers = await auth_headers(client, world.esp_a)
    answers = await asyncio.gather(
        *(
            client.post(
                MOCK, json=mock_body("541440110000000007", reference=f"c{n}"), headers=headers
            )
            for n in range(3)
        )
    )
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]


async def test_other_unknown_eans_stay_unknown_in_the_sandbox(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"sandbox": True})
    headers = await auth_headers(client, world.esp_a)
    for ean in ("541448800000000000", "541442000000000001", "541448860000000116"):
        refused = await client.post(MOCK, json=mock_body(ean), headers=headers)
        assert refused.status_code == 400, refused.text
        assert any("No access point" in m for m in refused.json()["validationErrorMessages"])


async def test_production_keeps_the_strict_registry_and_check_digit(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    assert not app.state.settings.sandbox
    headers = await auth_headers(client, world.esp_a)
    mocked = await client.post(MOCK, json=mock_body("541448860000000016"), headers=headers)
    assert mocked.status_code == 404
    read = await client.get(
        ENERGY, params={"ean": "541448860000000016", "periodType": "readTime"}, headers=headers
    )
    assert read.status_code == 404
    assert read.json()["type"] == "MandatesNotFoundException"
    operator = await auth_headers(client, await make_machine_client(app, Role.operator))
    registered = await client.put(
        "/api/v1/access-points/541448860000000016",
        json={"energy_type": "E", "meter_type": "DM"},
        headers=operator,
    )
    assert registered.status_code == 422, registered.text
    assert "check digit" in registered.text
