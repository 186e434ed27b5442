"""Installation data (data service ``IG``): the registry's facts, ``GET /v3/api/mandate/
installation`` (Fluvius's ``GetInstallationResponseApiDataResponse``) and the native
``GET /api/v1/access-points/{ean}/installation``, under the gate of every data read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.brussels_days import today_in_brussels
from datahub_api.cli.welcome import describe_credentials
from datahub_api.db import create_database
from datahub_api.demo.service import DemoParameters, seed_demo_world
from datahub_api.settings import Settings

from ..support.access_point_data import access_point_body, fresh_ean
from ..support.cli import run_cli
from ..support.consent_world import (
    ConsentWorld,
    decide,
    log_in,
    make_consent_world,
    open_consent,
    put_access_point,
)
from ..support.database import create_scratch_database
from ..support.environment import make_settings
from ..support.fluvius_spec import validate_v3_component
from ..support.parties import auth_headers
from ..support.reading_world import access_log, mandate, revoke

V3 = "/v3/api/mandate/installation"
FACTS: dict[str, Any] = {
    "smr3": True,
    "local_production_installations": [
        {
            "vreg_id": "G10345678",
            "type": "PV",
            "converter_power": 5.604,
            "converter_power_unit": "kVA",
            "inspection_date": "2026-03-29",  # a DST day: 23 hours
        },
        {"type": "BAT", "converter_power": 5, "converter_power_unit": "kW"},
    ],
    "estimated_annual_volumes": [
        {
            "calculated_register": "offtake_high",
            "value": 1013,
            "unit": "kWh",
            "period_from": "2025-10-26",  # a DST day: 25 hours
            "period_to": "2026-10-25",
        },
        {
            "calculated_register": "offtake_low",
            "value": 1650,
            "unit": "kWh",
            "period_from": "2025-10-26",
            "period_to": "2026-10-25",
        },
        {
            "calculated_register": "injection_total_hours",
            "value": 3900,
            "unit": "kWh",
            "period_from": "2025-10-26",
            "period_to": "2026-10-25",
        },
    ],
}
# The consent period of the IG mandates: it holds today whenever the suite runs.
NOW = datetime.now(UTC)
PERIOD = {
    "period_from": "2020-01-01T00:00:00Z",  # the window starts with the tenure (2024)
    "period_to": (NOW + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ"),
}


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    world = await make_consent_world(app, client)
    stored = await client.put(
        f"/api/v1/access-points/{world.owner_ean}/installation",
        json=FACTS,
        headers=world.operator_headers,
    )
    assert stored.status_code == 200, stored.text
    return world


async def ig_mandate(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, **over: Any
) -> int:
    arguments: dict[str, Any] = {"service": "IG", "reference": "ig-4711", **PERIOD, **over}
    return await mandate(app, client, world.esp_a, world.owner, world.owner_ean, **arguments)


async def get_v3(
    client: httpx.AsyncClient, headers: dict[str, str], ean: str, **params: str
) -> httpx.Response:
    return await client.get(V3, params={"ean": ean, **params}, headers=headers)


def native(ean: str) -> str:
    return f"/api/v1/access-points/{ean}/installation"


# --- /v3 ---------------------------------------------------------------------------------


async def test_v3_answers_fluviuss_installation_body(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await ig_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    response = await get_v3(client, headers, world.owner_ean, referenceNumber="ig-4711")
    assert response.status_code == 200, response.text
    body = response.json()
    # (The client validates every /v3 answer against the spec; this names the component.)
    validate_v3_component("GetInstallationResponseApiDataResponse", body)
    assert body["_meta"]["fetchTime"].endswith("Z")
    assert body["data"] == {
        "installation": {
            "energyType": "E",
            "meterType": "DM",
            "smr3": True,
            "localProductionInstallations": [
                {
                    "vregId": "G10345678",
                    "type": "PV",
                    "converterPower": 5.604,
                    "converterPowerUnit": "kVA",
                    "inspectionDate": "2026-03-28T23:00:00Z",
                },
                {"type": "BAT", "converterPower": 5.0, "converterPowerUnit": "kW"},
            ],
            "estimatedVolumes": [
                {
                    "type": "EAV",
                    "calculatedRegister": register,
                    "value": value,
                    "unit": "kWh",
                    "consumptionStartDate": "2025-10-25T22:00:00Z",
                    "consumptionEndDate": "2026-10-24T22:00:00Z",
                }
                for register, value in (
                    ("InjectionTotalHours", 3900),
                    ("OfftakeHigh", 1013),
                    ("OfftakeLow", 1650),
                )
            ],
        }
    }


async def test_v3_path_and_names_ignore_case_like_aspnet(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await ig_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    expected = (await get_v3(client, headers, world.owner_ean)).json()["data"]
    for path, params in (
        ("/V3/API/Mandate/Installation", {"EAN": world.owner_ean}),
        ("/v3/api/mandate/installation/", {"EanNumber": world.owner_ean}),
        ("/v3/Api/MANDATE/installation", {"ean": world.owner_ean, "ReferenceNumber": "ig-4711"}),
    ):
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["data"] == expected


async def test_v3_refusals_are_fluvius_bodies(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await ig_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    missing = await client.get(V3, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["validationErrorMessages"] == ["Parameter 'ean' is mandatory."]
    malformed = await get_v3(client, headers, "54144")
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "RequestModelValidation.Failed"
    other_reference = await get_v3(client, headers, world.owner_ean, referenceNumber="nope")
    assert other_reference.status_code == 404
    assert other_reference.json() == {
        "type": "MandatesNotFoundException",
        "code": "Mandates.NotFound",
        "message": "No Mandates were found.",
    }
    unauthenticated = await client.get(V3, params={"ean": world.owner_ean})
    assert unauthenticated.status_code == 401


# --- native ------------------------------------------------------------------------------


async def test_native_answer_with_etag(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await ig_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    response = await client.get(native(world.owner_ean), headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    updated_at = body.pop("updated_at")
    assert datetime.fromisoformat(updated_at).tzinfo is not None
    assert body == {
        "ean": world.owner_ean,
        "energy_type": "E",
        "meter_type": "DM",
        "smr3": True,
        "local_production_installations": [
            FACTS["local_production_installations"][0],
            {
                "vreg_id": None,
                "type": "BAT",
                "converter_power": 5.0,
                "converter_power_unit": "kW",
                "inspection_date": None,
            },
        ],
        "estimated_annual_volumes": sorted(
            FACTS["estimated_annual_volumes"], key=lambda v: v["calculated_register"]
        ),
    }
    etag = response.headers["ETag"]
    again = await client.get(native(world.owner_ean), headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag


async def test_operator_reads_and_replaces_the_registry_facts(
    client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    headers = world.operator_headers
    stored = await client.get(native(world.owner_ean), headers=headers)
    assert stored.status_code == 200
    assert stored.json()["smr3"] is True
    whole = await client.get(f"/api/v1/access-points/{world.owner_ean}", headers=headers)
    assert whole.json()["installation"]["smr3"] is True
    assert len(whole.json()["installation"]["estimated_annual_volumes"]) == 3

    # The same facts again change nothing; other facts replace them whole.
    same = await client.put(native(world.owner_ean), json=FACTS, headers=headers)
    assert same.json()["updated_at"] == stored.json()["updated_at"]
    replaced = await client.put(native(world.owner_ean), json={"smr3": False}, headers=headers)
    assert replaced.status_code == 200
    assert replaced.json()["local_production_installations"] == []
    assert replaced.json()["estimated_annual_volumes"] == []

    never = await client.get(native(world.tenant_eans[0]), headers=headers)
    assert never.json()["updated_at"] is None
    assert never.json()["smr3"] is False
    unknown = await client.get(native("541448800000000000"), headers=headers)
    assert unknown.status_code == 404
    nowhere = await client.put(native(fresh_ean()), json=FACTS, headers=headers)
    assert nowhere.status_code == 404


# --- who may read ------------------------------------------------------------------------


async def _refusals(
    client: httpx.AsyncClient, headers: dict[str, str], ean: str
) -> tuple[httpx.Response, httpx.Response]:
    return await get_v3(client, headers, ean), await client.get(native(ean), headers=headers)


async def test_another_esp_or_no_mandate_reads_like_an_unknown_ean(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await ig_mandate(app, client, world)
    unknown = "541448800000000000"
    for esp in (world.esp_b, world.esp_a):
        headers = await auth_headers(client, esp)
        # ESP B on ESP A's EAN; ESP A on the tenant's EAN (no mandate there).
        ean = world.owner_ean if esp is world.esp_b else world.tenant_eans[0]
        theirs_v3, theirs_native = await _refusals(client, headers, ean)
        nothing_v3, nothing_native = await _refusals(client, headers, unknown)
        assert theirs_v3.status_code == nothing_v3.status_code == 404
        assert theirs_v3.json() == nothing_v3.json()
        assert theirs_native.status_code == nothing_native.status_code == 404
        assert theirs_native.json()["detail"].replace(ean, "X") == nothing_native.json()[
            "detail"
        ].replace(unknown, "X")


async def test_only_an_ig_mandate_grants_installation_data(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    """Fluvius serves installation data under IG only: a daily or quarter-hour mandate is
    the caller's own, so it answers 403 (not the unknown-EAN 404), naming its service."""
    for service in ("VH_dag", "VH_kwartier_uur"):
        await mandate(
            app, client, world.esp_a, world.owner, world.owner_ean, service=service, **PERIOD
        )
    headers = await auth_headers(client, world.esp_a)
    v3_answer, native_answer = await _refusals(client, headers, world.owner_ean)
    assert v3_answer.status_code == 403
    assert v3_answer.json()["type"] == "ForbiddenException"
    assert native_answer.status_code == 403
    assert native_answer.json()["data_service_types"] == ["VH_dag", "VH_kwartier_uur"]
    # With an IG mandate next to them, it is served.
    await ig_mandate(app, client, world)
    assert (await get_v3(client, headers, world.owner_ean)).status_code == 200
    assert (await client.get(native(world.owner_ean), headers=headers)).status_code == 200


async def test_an_ig_mandate_grants_no_metering_data(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await ig_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    meter_data = await client.get(
        f"/api/v1/access-points/{world.owner_ean}/meter-data",
        params={"from": "2026-01-01", "to": "2026-01-02", "granularity": "P1D"},
        headers=headers,
    )
    assert meter_data.status_code == 403
    energy = await client.get(
        "/v3/api/mandate/energy",
        params={"ean": world.owner_ean, "periodType": "insertTime"},
        headers=headers,
    )
    assert energy.status_code == 403


async def test_revoked_mandate_reads_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    mandate_id = await ig_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    assert (await get_v3(client, headers, world.owner_ean)).status_code == 200
    await revoke(app, world.owner, mandate_id)
    v3_answer, native_answer = await _refusals(client, headers, world.owner_ean)
    assert v3_answer.status_code == 404
    assert v3_answer.json()["type"] == "MandatesNotFoundException"
    assert native_answer.status_code == 404


async def test_a_mandate_whose_period_does_not_hold_today_reads_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    """Installation facts are as they are now: a consent for a past or a future period
    does not cover them."""
    past = {
        "period_from": (NOW - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period_to": (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    future = {
        "period_from": (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period_to": (NOW + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    await ig_mandate(app, client, world, reference="ig-past", **past)
    await ig_mandate(app, client, world, reference="ig-future", **future)
    headers = await auth_headers(client, world.esp_a)
    v3_answer, native_answer = await _refusals(client, headers, world.owner_ean)
    assert v3_answer.status_code == native_answer.status_code == 403


async def test_no_installation_data_once_the_customer_moved_out(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    """The tenant consents (the landlord co-signs), then the registry ends the tenant's
    customer period: the facts now describe the next occupant's home."""
    ean = world.tenant_eans[0]
    await client.put(native(ean), json=FACTS, headers=world.operator_headers)
    identifier = await open_consent(
        client,
        world.esp_a,
        numberOfEans=1,
        referenceNumber="tenant-ig",
        dataServices=[
            {
                "dataServiceType": "IG",
                "dataPeriodFrom": PERIOD["period_from"],
                "dataPeriodTo": PERIOD["period_to"],
            }
        ],
    )
    decided = await decide(app, world.tenant, identifier, [ean])
    assert decided.json()["mandates"][0]["status"] == "requested"
    landlord = await log_in(app, world.landlord)
    try:
        [task] = (await landlord.get("/api/v1/co-consents")).json()
        assert task["ean"] == ean
        assert task["data_service_type"] == "IG"
        approved = await landlord.post(
            f"/api/v1/co-consents/{task['id']}/decision", json={"decision": "approve"}
        )
        assert approved.status_code == 200, approved.text
    finally:
        await landlord.aclose()
    headers = await auth_headers(client, world.esp_a)
    assert (await get_v3(client, headers, ean)).status_code == 200

    today = today_in_brussels()
    await put_access_point(
        client,
        world.operator_headers,
        ean,
        since="2024-01-01",
        grid_users=[{"account_id": world.landlord.id, "valid_from": "2024-01-01"}],
        customers=[
            {"account_id": world.tenant.id, "valid_from": "2024-01-01", "valid_to": str(today)}
        ],
    )
    v3_answer, native_answer = await _refusals(client, headers, ean)
    assert v3_answer.status_code in (403, 404)
    assert native_answer.status_code == v3_answer.status_code


async def test_estimated_volumes_of_a_previous_occupants_years_are_left_out(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    ean = fresh_ean()
    moved_in = today_in_brussels() - timedelta(days=100)
    await put_access_point(
        client,
        world.operator_headers,
        ean,
        since="2022-01-01",
        grid_users=[{"account_id": world.owner.id, "valid_from": str(moved_in)}],
        customers=[{"account_id": world.owner.id, "valid_from": str(moved_in)}],
    )
    years = [
        (moved_in - timedelta(days=730), moved_in - timedelta(days=365)),  # before: left out
        (moved_in - timedelta(days=365), moved_in + timedelta(days=1)),  # overlaps the tenure
        (moved_in + timedelta(days=1), moved_in + timedelta(days=366)),
    ]
    facts = {
        "estimated_annual_volumes": [
            {
                "calculated_register": "offtake_total_hours",
                "value": 3000 + index,
                "period_from": str(start),
                "period_to": str(end),
            }
            for index, (start, end) in enumerate(years)
        ]
    }
    stored = await client.put(native(ean), json=facts, headers=world.operator_headers)
    assert stored.status_code == 200, stored.text
    await mandate(
        app,
        client,
        world.esp_a,
        world.owner,
        ean,
        service="IG",
        period_from="2020-01-01T00:00:00Z",
        period_to=PERIOD["period_to"],
    )
    headers = await auth_headers(client, world.esp_a)
    v3_volumes = (await get_v3(client, headers, ean)).json()["data"]["installation"][
        "estimatedVolumes"
    ]
    assert [v["value"] for v in v3_volumes] == [3001, 3002]
    native_volumes = (await client.get(native(ean), headers=headers)).json()[
        "estimated_annual_volumes"
    ]
    assert [v["value"] for v in native_volumes] == [3001, 3002]
    registry = await client.get(native(ean), headers=world.operator_headers)
    assert [v["value"] for v in registry.json()["estimated_annual_volumes"]] == [3000, 3001, 3002]


# --- the access log ----------------------------------------------------------------------


async def test_every_read_is_in_the_customers_access_log(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    mandate_id = await ig_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    assert (await get_v3(client, headers, world.owner_ean)).status_code == 200
    assert (await client.get(native(world.owner_ean), headers=headers)).status_code == 200
    # Refusals leave no record.
    assert (await get_v3(client, headers, world.owner_ean, referenceNumber="x")).status_code == 404
    records = await access_log(app, world.owner, world.owner_ean)
    assert [(r["via"], r["granularity"], r["mandate_id"]) for r in records] == [
        ("native", "IG", mandate_id),
        ("v3", "IG", mandate_id),
    ]
    assert all(r["reader"] == "ESP A" for r in records)
    assert all(r["period_from"] == r["period_to"] for r in records)

    browser = await log_in(app, world.owner)
    try:
        page = await browser.get("/portal/access-log")
        assert page.status_code == 200
        assert "installatiegegevens" in page.text
    finally:
        await browser.aclose()


# --- bad input ---------------------------------------------------------------------------


def _ndjson(*bodies: dict[str, Any]) -> str:
    return "\n".join(json.dumps(body) for body in bodies) + "\n"


def _volume(register: str, start: str, end: str, value: int = 1000) -> dict[str, Any]:
    return {
        "calculated_register": register,
        "value": value,
        "unit": "kWh",
        "period_from": start,
        "period_to": end,
    }


async def _installation_rows(app: FastAPI) -> int:
    async with app.state.database.read_sessions() as session:
        total = await session.scalar(
            text(
                "SELECT (SELECT count(*) FROM access_point_installations)"
                " + (SELECT count(*) FROM local_production_installations)"
                " + (SELECT count(*) FROM estimated_annual_volumes)"
            )
        )
    return int(total or 0)


async def test_bad_installation_facts_are_refused_by_line_and_nothing_is_stored(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    headers = world.operator_headers
    before = await _installation_rows(app)
    good = access_point_body(fresh_ean(), installation={"smr3": True})
    unknown_register = access_point_body(
        fresh_ean(),
        installation={
            "estimated_annual_volumes": [_volume("offtake_afternoon", "2025-01-01", "2026-01-01")]
        },
    )
    negative_power = access_point_body(
        fresh_ean(),
        installation={"local_production_installations": [{"type": "PV", "converter_power": -3}]},
    )
    overlapping = access_point_body(
        fresh_ean(),
        installation={
            "estimated_annual_volumes": [
                _volume("offtake_high", "2025-01-01", "2026-01-01"),
                _volume("offtake_high", "2025-07-01", "2026-07-01"),
                _volume("offtake_low", "2025-07-01", "2026-07-01"),
            ]
        },
    )
    gas_with_pv = access_point_body(
        fresh_ean(),
        energy_type="G",
        installation={
            "local_production_installations": [{"type": "PV"}],
            "estimated_annual_volumes": [_volume("offtake_high", "2025-01-01", "2026-01-01")],
        },
    )
    response = await client.post(
        "/api/v1/access-points:bulk",
        content=_ndjson(good, unknown_register, negative_power, overlapping, gas_with_pv),
        headers={**headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 422, response.text
    errors = {error["line"]: error["detail"] for error in response.json()["errors"]}
    assert sorted(errors) == [2, 3, 4, 5]
    assert "calculated_register" in errors[2]
    assert "converter_power" in errors[3]
    assert "greater than 0" in errors[3]
    assert "overlap" in errors[4]
    assert "offtake_high" in errors[4]
    assert "electricity" in errors[5]
    assert "not a gas register" in errors[5]
    assert await _installation_rows(app) == before
    listed = await client.get(f"/api/v1/access-points/{good['ean']}", headers=headers)
    assert listed.status_code == 404

    # The same through the operator's PUT of the facts alone: 422, nothing stored.
    for facts in (
        unknown_register["installation"],
        negative_power["installation"],
        overlapping["installation"],
        {"local_production_installations": [{"type": "PV", "converter_power": 1.23456}]},
        {"local_production_installations": [{"type": "PV", "vreg_id": "=cmd|' /C calc'!A0"}]},
        {"estimated_annual_volumes": [_volume("offtake_high", "0001-01-01", "2026-01-01")]},
    ):
        refused = await client.put(native(world.owner_ean), json=facts, headers=headers)
        assert refused.status_code == 422, (facts, refused.text)
    gas = fresh_ean()
    await put_access_point(client, headers, gas, energy_type="G")
    wrong_kind = await client.put(
        native(gas), json={"smr3": True, "local_production_installations": []}, headers=headers
    )
    assert wrong_kind.status_code == 422
    assert "electricity" in wrong_kind.json()["detail"]
    gas_volumes = await client.put(
        native(gas),
        json={
            "estimated_annual_volumes": [
                {**_volume("offtake_total_hours", "2025-01-01", "2026-01-01"), "unit": "m3"}
            ]
        },
        headers=headers,
    )
    assert gas_volumes.status_code == 200, gas_volumes.text
    owner = await client.get(native(world.owner_ean), headers=headers)
    assert owner.json()["smr3"] is True  # what the fixture stored, untouched


async def test_registry_uploads_keep_or_replace_the_facts(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    headers = {**world.operator_headers, "Content-Type": "application/x-ndjson"}
    ean = fresh_ean()
    body = access_point_body(ean, installation=FACTS)
    created = await client.post(
        "/api/v1/access-points:bulk", content=_ndjson(body), headers=headers
    )
    assert created.json() == {"received": 1, "created": 1, "updated": 0, "unchanged": 0}
    again = await client.post("/api/v1/access-points:bulk", content=_ndjson(body), headers=headers)
    assert again.json()["unchanged"] == 1
    # Without `installation` the stored facts stay; the access point itself is unchanged.
    without = access_point_body(ean)
    kept = await client.post(
        "/api/v1/access-points:bulk", content=_ndjson(without), headers=headers
    )
    assert kept.json()["unchanged"] == 1
    stored = await client.get(native(ean), headers=world.operator_headers)
    assert len(stored.json()["local_production_installations"]) == 2
    # Given, they replace the stored ones (only the facts changed: "updated").
    emptied = await client.post(
        "/api/v1/access-points:bulk",
        content=_ndjson(access_point_body(ean, installation={})),
        headers=headers,
    )
    assert emptied.json()["updated"] == 1
    stored = await client.get(native(ean), headers=world.operator_headers)
    assert stored.json()["local_production_installations"] == []
    assert stored.json()["smr3"] is False
    # A kept set of facts must still fit: electricity facts cannot silently become gas ones.
    await client.put(native(ean), json=FACTS, headers=world.operator_headers)
    to_gas = await client.post(
        "/api/v1/access-points:bulk",
        content=_ndjson(access_point_body(ean, energy_type="G")),
        headers=headers,
    )
    assert to_gas.status_code == 422
    [error] = to_gas.json()["errors"]
    assert error["line"] == 1
    assert "installation" in error["detail"]
    put_gas = await client.put(
        f"/api/v1/access-points/{ean}",
        json=access_point_body(energy_type="G"),
        headers=world.operator_headers,
    )
    assert put_gas.status_code == 409
    assert (await client.get(f"/api/v1/access-points/{ean}", headers=headers)).json()[
        "energy_type"
    ] == "E"


async def test_csv_upload_carries_the_facts(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    ean, gas = fresh_ean(), fresh_ean()
    csv = (
        "ean,energy_type,meter_type,smr3,local_production,estimated_annual_volumes\n"
        f"{ean},E,DM,true,PV:5.604:kVA:G10345678:2024-10-17|BAT:5:kW,"
        "offtake_high:1013:kWh:2025-07-01/2026-07-01|offtake_low:1650:kWh:2025-07-01/2026-07-01\n"
        f"{gas},G,KM,,,offtake_total_hours:1200:m3:2025-07-01/2026-07-01\n"
    )
    headers = {**world.operator_headers, "Content-Type": "text/csv"}
    stored = await client.post("/api/v1/access-points:bulk", content=csv, headers=headers)
    assert stored.status_code == 200, stored.text
    facts = (await client.get(native(ean), headers=world.operator_headers)).json()
    assert facts["smr3"] is True
    assert [p["type"] for p in facts["local_production_installations"]] == ["PV", "BAT"]
    assert facts["local_production_installations"][0]["inspection_date"] == "2024-10-17"
    assert len(facts["estimated_annual_volumes"]) == 2
    gas_facts = (await client.get(native(gas), headers=world.operator_headers)).json()
    assert gas_facts["estimated_annual_volumes"][0]["unit"] == "m3"

    bad = (
        "ean,energy_type,meter_type,estimated_annual_volumes\n"
        f"{fresh_ean()},E,DM,offtake_high:1013:kWh:2025-07-01/2026-07-01\n"
        f"{fresh_ean()},E,DM,offtake_high:-5:kWh:2025-07-01/2026-07-01\n"
        f"{fresh_ean()},E,DM,offtake_high:5:kWh:2025-07-01\n"
    )
    refused = await client.post("/api/v1/access-points:bulk", content=bad, headers=headers)
    assert refused.status_code == 422
    assert [e["line"] for e in refused.json()["errors"]] == [3, 4]


def test_dates_of_the_facts_are_days_of_the_registry() -> None:
    from datahub_api.access_points.schemas import InstallationBody

    body = InstallationBody.model_validate(
        {"estimated_annual_volumes": [_volume("offtake_high", "2026-03-29", "2026-10-25")]}
    )
    assert body.estimated_annual_volumes[0].period_from == date(2026, 3, 29)


# --- the demo world ----------------------------------------------------------------------


async def test_the_demo_world_has_installation_data(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """What `make run` shows: solar panels, batteries and dynamic contracts in the registry,
    and an IG mandate of the first demo ESP whose facts its API client reads."""
    async with app.state.database.write_sessions() as session:
        credentials = await seed_demo_world(
            session, settings, DemoParameters(eans=120, days=2, seed=42)
        )
        await session.commit()
    points = credentials["access_points"]
    assert sum("PV" in p["local_production"] for p in points) > 20
    assert any("BAT" in p["local_production"] for p in points)
    assert sum(p["smr3"] for p in points) > 5
    assert all(not p["smr3"] for p in points if p["energy_type"] == "G")
    async with app.state.database.read_sessions() as session:
        installations = await session.scalar(
            text("SELECT count(*) FROM access_point_installations")
        )
        volumes = await session.scalar(text("SELECT count(*) FROM estimated_annual_volumes"))
    assert installations == 120
    assert volumes >= 2 * 120

    esp = credentials["esps"][0]
    assert esp["mandates"]["installation data (IG)"] > 0
    token = await client.post(
        "/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": esp["client_id"],
            "client_secret": esp["client_secret"],
        },
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    answer = await get_v3(client, headers, esp["installation_ean"])
    assert answer.status_code == 200, answer.text
    installation = answer.json()["data"]["installation"]
    point = next(p for p in points if p["ean"] == esp["installation_ean"])
    assert [p["type"] for p in installation["localProductionInstallations"]] == point[
        "local_production"
    ]
    assert installation["smr3"] is point["smr3"]
    this_year = str(today_in_brussels().year)
    assert any(
        v["consumptionEndDate"].startswith(this_year) for v in installation["estimatedVolumes"]
    )
    lines = describe_credentials(credentials)
    assert any(f"installation?ean={esp['installation_ean']}" in line for line in lines)


# --- the command line --------------------------------------------------------------------


async def test_cli_import_carries_the_facts_all_or_nothing(server_url: str, tmp_path: Path) -> None:
    url = await create_scratch_database(server_url, "installation_import")
    env = {"DATABASE_URL": url, "DATAHUB_DATA_DIR": str(tmp_path)}
    assert run_cli("migrate", env=env).returncode == 0
    ean, other = fresh_ean(), fresh_ean()
    ndjson = tmp_path / "registry.ndjson"
    ndjson.write_text(_ndjson(access_point_body(ean, installation=FACTS)))
    imported = run_cli("access-points", "import", str(ndjson), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "1 created" in imported.stderr

    bad = tmp_path / "registry.csv"
    bad.write_text(
        "ean,energy_type,meter_type,smr3,local_production,estimated_annual_volumes\n"
        f"{other},E,DM,true,PV:-4.2,\n"
        f"{ean},E,DM,false,,"
        "offtake_low:1:kWh:2025-01-01/2026-01-01|offtake_low:2:kWh:2025-12-01/2026-12-01\n"
        f"{fresh_ean()},E,DM,maybe,,\n"
    )
    refused = run_cli("access-points", "import", str(bad), env=env)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}:2: ") and "converter_power" in line for line in lines)
    assert any(line.startswith(f"{bad}:3: ") and "overlap" in line for line in lines)
    assert any(line.startswith(f"{bad}:4: smr3:") for line in lines)
    assert "nothing was stored" in lines[-1]

    database = create_database(url, make_settings())
    try:
        async with database.read_sessions() as session:
            smr3 = (
                await session.execute(text("SELECT smr3 FROM access_point_installations"))
            ).all()
            count = await session.scalar(text("SELECT count(*) FROM access_points"))
    finally:
        await database.dispose()
    assert [tuple(row) for row in smr3] == [(True,)]
    assert count == 1


def test_a_local_production_without_converter_power_is_accepted() -> None:
    """``converter_power: null`` (the schema allows it) is no power, not a server error
    (schemathesis found the 500)."""
    from datahub_api.access_points.schemas import LocalProductionBody

    body = LocalProductionBody.model_validate({"type": "PV", "converter_power": None})
    assert body.converter_power is None
    with pytest.raises(ValueError, match="three decimals"):
        LocalProductionBody.model_validate({"type": "PV", "converter_power": 5.6041})


def test_smr3_is_a_json_boolean() -> None:
    """``"smr3": 0`` is a malformed body (a 422), not false (schemathesis found it)."""
    from pydantic import ValidationError

    from datahub_api.access_points.schemas import InstallationBody

    for value in (0, 1, "true", "yes"):
        with pytest.raises(ValidationError, match="smr3"):
            InstallationBody.model_validate({"smr3": value})
    assert InstallationBody.model_validate({"smr3": True}).smr3 is True
