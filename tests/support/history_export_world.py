"""A world for yearly history exports: the NPS world (GVM EANs with a person, a landlord and
a company as grid user; a small KVM one) plus a digital GVM EAN, and a sparse 2025 of
metering data that includes both DST days (92 and 100 quarter-hours)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI

from datahub_api.brussels_days import BRUSSELS
from datahub_api.jobs import JobQueue
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.meter_data.blocks import expected_slots, slot_start
from datahub_api.meter_data.granularity import Granularity

from .access_point_data import fresh_ean
from .consent_world import put_access_point
from .meter_data import one, start_of
from .nps_world import COMPANY_NUMBER, NpsWorld, ingest, make_nps_world, sha, signed_pdf

EXPORTS = "/api/v1/history-exports"
YEAR = 2025
SHORT_DAY, LONG_DAY = date(2025, 3, 30), date(2025, 10, 26)  # 92 and 100 quarter-hours
DAYS = [date(2025, 1, 1), SHORT_DAY, date(2025, 6, 16), LONG_DAY, date(2025, 12, 31)]


@dataclass
class ExportWorld:
    nps: NpsWorld
    digital_gvm_ean: str  # digital meter, GVM, owner is grid user: Dag/Nacht rows

    @property
    def a(self) -> dict[str, str]:
        return self.nps.a

    @property
    def b(self) -> dict[str, str]:
        return self.nps.b

    @property
    def operator(self) -> dict[str, str]:
        return self.nps.operator


def evidence(name: str = "Olga Owner", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "signatory_name": name,
        "signed_on": "2026-01-15",
        "document_sha256": sha(signed_pdf(name)),
    }
    body.update(over)
    return body


def entry(ean: str, **over: Any) -> dict[str, Any]:
    return {"ean": ean, "evidence": evidence(**over)}


def company_entry(ean: str) -> dict[str, Any]:
    return entry(ean, name="Staalwerken Gent NV", signatory_enterprise_number=COMPANY_NUMBER)


def value_of(ean_index: int, day: date, slot: int, direction: str) -> str:
    """A distinct value per EAN, day, slot and direction (kWh, 3 decimals)."""
    base = (ean_index + 1) * 7 + day.toordinal() % 13 + (3 if direction == "injection" else 0)
    return f"{base + slot * 0.001 + 0.123:.3f}"


async def load_data(client: httpx.AsyncClient, world: NpsWorld, eans: list[str]) -> None:
    """Offtake on every day of :data:`DAYS`, injection on the DST days; the last
    quarter-hour of 1 January's offtake is missing (a gap)."""
    for index, ean in enumerate(eans):
        rows: list[list[str]] = []
        for day in DAYS:
            for direction in ("offtake", "injection"):
                if direction == "injection" and day not in (SHORT_DAY, LONG_DAY):
                    continue
                slots = expected_slots(day, Granularity.PT15M)
                if day == DAYS[0] and direction == "offtake":
                    slots -= 1
                rows.extend(
                    one(
                        ean,
                        start_of(day, Granularity.PT15M, slot),
                        value_of(index, day, slot, direction),
                        direction=direction,
                    )
                    for slot in range(slots)
                )
        await ingest(client, world, rows)


async def make_export_world(app: FastAPI, client: httpx.AsyncClient) -> ExportWorld:
    nps = await make_nps_world(app, client)
    digital = fresh_ean()
    await put_access_point(
        client,
        nps.operator,
        digital,
        grid_user=nps.owner.id,
        customer_ids=(nps.owner.id,),
        gvm=True,
    )
    world = ExportWorld(nps=nps, digital_gvm_ean=digital)
    await load_data(
        client, nps, [nps.owner_ean, nps.company_ean, digital, nps.small_ean, nps.tenant_ean]
    )
    return world


async def request_export(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    entries: list[dict[str, Any]],
    *,
    export_format: str = "csv",
    **over: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "reference_number": "hx-1",
        "year": YEAR,
        "format": export_format,
        "eans": entries,
    }
    body.update(over)
    return await client.post(EXPORTS, json=body, headers=headers)


async def run_jobs(app: FastAPI) -> None:
    queue: JobQueue = app.state.jobs
    await queue.run_until_idle()


async def stored_quarter_hours(app: FastAPI, ean: str) -> dict[tuple[str, date], list[int | None]]:
    """Straight from the stored day blocks: (direction, day) -> the day's quarter-hour
    values in Wh, in order (None for a gap)."""
    async with app.state.database.read_sessions() as session:
        blocks = await meter_data_repository.read_blocks(
            session, ean, date(YEAR, 1, 1), date(YEAR + 1, 1, 1)
        )
    found: dict[tuple[str, date], list[int | None]] = {}
    for block in blocks:
        if block.key.granularity is Granularity.PT15M:
            found[(block.key.direction.name, block.key.day)] = list(block.values)
    return found


def local_start(day: date, slot: int) -> tuple[str, str]:
    start = slot_start(day, Granularity.PT15M, slot).astimezone(BRUSSELS)
    return start.strftime("%d-%m-%Y"), start.strftime("%H:%M:%S")


def volume(value: int | None) -> str:
    return "" if value is None else f"{value // 1000},{value % 1000:03d}"
