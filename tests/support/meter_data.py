"""Test data for meter-data ingest: access points in the registry and reading bodies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.schemas import AccessPointFields
from datahub_api.brussels_days import BRUSSELS
from datahub_api.db import Database
from datahub_api.meter_data.blocks import expected_slots, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import FIELDS

from .access_point_data import access_point_body, fresh_ean

HEADER = ",".join(FIELDS)
METER = "1SAG2120063032"


async def register(
    app: FastAPI | Database,
    *,
    ean: str | None = None,
    energy_type: str = "E",
    meters: Sequence[dict[str, Any]] | None = None,
    since: str = "2024-01-01",
) -> str:
    """An access point in the registry (a digital meter installed since ``since``)."""
    ean = ean or fresh_ean()
    body = access_point_body(since=since, energy_type=energy_type)
    if meters is not None:
        body["physical_meters"] = list(meters)
    database: Database = app if isinstance(app, Database) else app.state.database
    async with database.write_sessions() as session:
        await access_points_service.put_access_point(
            session, ean, AccessPointFields.model_validate(body)
        )
        await session.commit()
    return ean


def start_of(day: date, granularity: Granularity, slot: int) -> str:
    """The ISO start of a slot with Brussels's offset at that instant."""
    return slot_start(day, granularity, slot).astimezone(BRUSSELS).isoformat()


def day_rows(
    ean: str,
    day: date,
    *,
    meter_id: str = METER,
    granularity: Granularity = Granularity.PT15M,
    slots: Iterable[int] | None = None,
    value: Any = None,
    unit: str = "kWh",
    state: str = "READ",
    direction: str = "offtake",
    register: str = "total",
) -> list[list[str]]:
    """Readings of the day's slots (all by default); the value of slot i is
    ``(i + 1) / 1000`` (i + 1 Wh) unless ``value`` is given."""
    chosen = range(expected_slots(day, granularity)) if slots is None else slots
    return [
        [
            ean,
            meter_id,
            direction,
            register,
            start_of(day, granularity, slot),
            granularity.name,
            f"{(slot + 1) / 1000:.3f}" if value is None else str(value),
            unit,
            state,
        ]
        for slot in chosen
    ]


def csv_body(rows: Iterable[Sequence[str]], header: str = HEADER) -> bytes:
    return ("\n".join([header, *(",".join(row) for row in rows)]) + "\n").encode()


def one(
    ean: str,
    start: str,
    value: str = "0.250",
    *,
    meter_id: str = METER,
    granularity: str = "PT15M",
    unit: str = "kWh",
    state: str = "READ",
    direction: str = "offtake",
    register: str = "total",
) -> list[str]:
    return [ean, meter_id, direction, register, start, granularity, value, unit, state]


async def stored_block_count(app: FastAPI) -> int:
    database: Database = app.state.database
    async with database.read_sessions() as session:
        blocks = await session.scalar(text("SELECT count(*) FROM meter_day_blocks"))
        history = await session.scalar(text("SELECT count(*) FROM meter_day_block_history"))
    return int(blocks or 0) + int(history or 0)
