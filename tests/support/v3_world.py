"""A /v3 energy world: day blocks stored straight through the ingest service, the database's
clock, and access points without parties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.schemas import AccessPointFields
from datahub_api.db import Database
from datahub_api.meter_data import repository, service
from datahub_api.meter_data.ingest_parser import BatchBuilder, CsvReader

from .access_point_data import access_point_body, fresh_ean
from .meter_data import HEADER


async def ingest(app: FastAPI, rows: Sequence[Sequence[str]]) -> None:
    builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e5, max_blocks=10**6)
    CsvReader(builder).feed([HEADER, *(",".join(row) for row in rows)])
    database: Database = app.state.database
    async with database.write_sessions() as session:
        await service.store_batch(session, builder.batch)
        await session.commit()


async def db_clock(app: FastAPI) -> datetime:
    async with app.state.database.read_sessions() as session:
        return await repository.clock(session)


async def register_point(app: FastAPI, **overrides: Any) -> str:
    """An access point without parties (so a sandbox mandate's window is its data period)."""
    ean = fresh_ean()
    async with app.state.database.write_sessions() as session:
        await access_points_service.put_access_point(
            session, ean, AccessPointFields.model_validate(access_point_body(**overrides))
        )
        await session.commit()
    return ean
