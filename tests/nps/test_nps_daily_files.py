"""NPS data: quarter-hours of a GVM headpoint reach the ESP through the read face and the
daily file; the file's rows are the stored blocks; late data and corrections go into the
next file, and nothing is dropped or repeated."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.jobs import commit
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.meter_data.blocks import slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import ValidationState
from datahub_api.nps.service import daily_files

from ..support.meter_data import day_rows
from ..support.nps_world import NpsWorld, ingest, make_nps_world, signed_mandate, signed_pdf

DAY = date(2026, 10, 25)  # the autumn DST day: 100 quarter-hours
BEFORE = date(2026, 10, 24)


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> NpsWorld:
    return await make_nps_world(app, client)


async def make_files(app: FastAPI, day: date) -> list[int]:
    async with app.state.database.write_sessions() as session:
        made = await daily_files.make_daily_files(session, day=day, until=datetime.now(UTC))
        await commit(session, app.state.jobs)
    return [daily_file.id for daily_file in made]


async def download(
    client: httpx.AsyncClient, headers: dict[str, str], file_id: int
) -> list[dict[str, str]]:
    response = await client.get(f"/api/v1/nps/daily-files/{file_id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def expected_rows(app: FastAPI, ean: str, day: date) -> list[tuple[str, str, str]]:
    """(slot start, value, state) of the stored quarter-hours of ``ean`` on ``day``."""
    async with app.state.database.read_sessions() as session:
        blocks = await meter_data_repository.read_blocks(
            session, ean, day, date.fromordinal(day.toordinal() + 1)
        )
    rows = []
    for block in blocks:
        for index, value in enumerate(block.values):
            if value is not None:
                start = slot_start(day, Granularity.PT15M, index).isoformat().replace("+00:00", "Z")
                state = block.states[index]
                assert state is not None
                rows.append((start, f"{value / 1000:.3f}", ValidationState(state).name))
    return rows


async def test_data_flows_to_the_read_face_and_the_daily_file(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    await signed_mandate(client, world, signed_pdf("data"))
    ean = world.owner_ean
    await ingest(client, world, day_rows(ean, DAY, state="READ"))  # informative (NVAL later)
    read = await client.get(
        f"/api/v1/access-points/{ean}/meter-data",
        params={"from": DAY.isoformat(), "to": "2026-10-26", "granularity": "PT15M"},
        headers=world.a,
    )
    assert read.status_code == 200, read.text
    first = await make_files(app, DAY)
    assert len(first) == 1
    listed = (await client.get("/api/v1/nps/daily-files", headers=world.a)).json()["items"]
    assert [(f["id"], f["day"], f["row_count"], f["ean_count"]) for f in listed] == [
        (first[0], DAY.isoformat(), 100, 1)
    ]
    rows = await download(client, world.a, first[0])
    assert len(rows) == 100  # a DST day
    assert [
        (r["slot_start"], r["value"], r["validation_state"]) for r in rows
    ] == await expected_rows(app, ean, DAY)
    assert {(r["ean"], r["unit"], r["kind"], r["block_version"]) for r in rows} == {
        (ean, "kWh", "new", "1")
    }
    # The same day again makes no second file.
    assert await make_files(app, DAY) == []
    # Late data for the day before, and the validated version of the file's day, arrive.
    await ingest(client, world, day_rows(ean, BEFORE, slots=range(8)))
    await ingest(client, world, day_rows(ean, DAY, slots=range(4), value="9.999", state="VAL"))
    second = await make_files(app, date(2026, 10, 26))
    rows = await download(client, world.a, second[0])
    late = [r for r in rows if r["kind"] == "late"]
    corrections = [r for r in rows if r["kind"] == "correction"]
    assert [(r["slot_start"], r["value"]) for r in late] == [
        (s, v) for s, v, _ in await expected_rows(app, ean, BEFORE)
    ]
    # A corrected block is sent whole, in its new version: four validated values.
    assert len(corrections) == 100
    assert {r["block_version"] for r in corrections} == {"2"}
    assert [(r["slot_start"], r["value"], r["validation_state"]) for r in corrections] == (
        await expected_rows(app, ean, DAY)
    )
    assert [r["validation_state"] for r in corrections].count("VAL") == 4
    # Nothing new: the next file is empty but there.
    third = await make_files(app, date(2026, 10, 27))
    assert await download(client, world.a, third[0]) == []
    ready = await client.get(
        "/api/v1/events", params={"types": "nps.daily_file_ready"}, headers=world.a
    )
    assert [e["data"]["daily_file_id"] for e in ready.json()["items"]] == first + second + third


async def test_the_file_holds_only_listed_eans_with_an_approved_mandate_inside_its_period(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    mandate_id = await signed_mandate(client, world, signed_pdf("period"))
    await client.post(
        "/api/v1/nps/requests",
        json={
            "reference_number": "waits",
            "eans": [
                {
                    "ean": world.tenant_ean,
                    "evidence": {
                        "source": "signed",
                        "signatory_name": "Tina Tenant",
                        "signatory_capacity": "customer",
                        "signed_on": "2026-01-01",
                        "data_period_from": "2026-01-01",
                        "data_period_to": "2030-01-01",
                        "document_sha256": "a" * 64,
                    },
                }
            ],
        },
        headers=world.a,
    )
    # Before the mandate's period (2026-01-01), for the requested tenant EAN, for an EAN
    # that is not on the list: none of it is in the file.
    await ingest(client, world, day_rows(world.owner_ean, date(2025, 12, 31)))
    await ingest(client, world, day_rows(world.owner_ean, DAY, slots=range(2)))
    await ingest(client, world, day_rows(world.tenant_ean, DAY))
    await ingest(client, world, day_rows(world.company_ean, DAY))
    (file_id,) = await make_files(app, DAY)
    rows = await download(client, world.a, file_id)
    assert {r["ean"] for r in rows} == {world.owner_ean}
    assert len(rows) == 2
    # The download is in the owner's access log, and ESP B has no file.
    assert (await client.get("/api/v1/nps/daily-files", headers=world.b)).json()["items"] == []
    async with app.state.database.read_sessions() as session:
        from sqlalchemy import text

        faces = (
            await session.execute(text("SELECT face, mandate_id FROM data_read_records"))
        ).all()
    assert [(face, mandate) for face, mandate in faces] == [("nps-file", mandate_id)]
