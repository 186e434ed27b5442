"""Service-level test data: an access point, its mandate, ingested days and the roll-up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.brussels_days import day_start
from datahub_api.db import Database
from datahub_api.meter_data import service as meter_service
from datahub_api.meter_data.ingest_parser import BatchBuilder, CsvReader
from datahub_api.sla import repository
from datahub_api.sla import service as sla_service

from .access_point_data import access_point_body, fresh_ean
from .meter_data import HEADER
from .parties import Esp


async def put_point(app: FastAPI, ean: str | None = None, **over: object) -> str:
    from datahub_api.access_points import service as access_points_service
    from datahub_api.access_points.schemas import AccessPointFields

    ean = ean or fresh_ean()
    body = access_point_body(since="2024-01-01")
    body.update(over)
    async with app.state.database.write_sessions() as session:
        await access_points_service.put_access_point(
            session, ean, AccessPointFields.model_validate(body)
        )
        await session.commit()
    return ean


async def ingest(app: FastAPI, rows: Iterable[list[str]], *, track: bool = True) -> None:
    """Store readings through the real ingest (parser, merge, tracking), one transaction."""
    builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e5, max_blocks=10**6)
    CsvReader(builder).feed([HEADER, *(",".join(row) for row in rows)])
    async with app.state.database.write_sessions() as session:
        await meter_service.store_batch(session, builder.batch, track_sla=track)
        await session.commit()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def roll_up(app: FastAPI, rolled: list[date], now: datetime) -> None:
    """Roll up ``rolled`` as the job does, after reclassifying what registry changes marked."""
    async with app.state.database.write_sessions() as session:
        await sla_service.reclassify_marked(session)
        await sla_service.roll_up_days(session, rolled, now)
        await session.commit()


async def add_mandate(
    app: FastAPI, esp: Esp, ean: str, start: date, end: date, channel: str = "api"
) -> None:
    async with app.state.database.write_sessions() as session:
        point_id = await session.scalar(
            text("SELECT id FROM access_points WHERE ean = :ean"), {"ean": ean}
        )
        await session.execute(
            text(
                "INSERT INTO mandates (organisation_id, ean, access_point_id, reference_number, "
                "channel, energy_type, data_service_type, data_period_from, data_period_to, "
                "expiration_date, status, source, version) VALUES (:org, :ean, :point, :ref, "
                ":channel, 'E', 'VH_kwartier_uur', :start, :end, :end, 'approved', 'sandbox', 1)"
            ),
            {
                "org": esp.organisation_id,
                "ean": ean,
                "point": point_id,
                "ref": f"sla-{ean}-{channel}",
                "channel": channel,
                "start": day_start(start),
                "end": day_start(end),
            },
        )
        await session.commit()


async def roll_up_mandate_changes(app: FastAPI) -> None:
    """What the roll-up job does after mandates changed on days already rolled up."""
    async with app.state.database.write_sessions() as session:
        marked = await repository.claim_esp_marks(session)
        changed = await repository.roll_up_esp_pairs(session, marked, [])
        await repository.roll_up_mandate_days(
            session, changed, sla_service.MANDATE_ROLL_UP_CHANNELS
        )
        await session.commit()


GVM_METER = "AMR00000001"


def gvm_point(installed_from: str = "2024-01-01") -> dict[str, Any]:
    """A GVM installation read on its headpoint by a non-digital meter (as NPS serves)."""
    return {
        "meter_type": "KM",
        "metering": "metering-on-headpoint",
        "gvm": True,
        "communication_periods": [],
        "physical_meters": [
            {"seq_number": "1", "meter_id": GVM_METER, "installed_from": installed_from}
        ],
    }


async def vary_delays(database: Database) -> None:
    """Deliveries happened at the test's clock, years after the days; spread them from the
    foreseen date to 300 hours after it (validated later), so the delays differ and every
    target splits them."""
    async with database.write_sessions() as session:
        await session.execute(
            text(
                """
                UPDATE sla_ean_days SET
                    delivered_at = CASE WHEN delivered_at IS NOT NULL THEN
                        ((day + 1)::timestamp AT TIME ZONE 'Europe/Brussels')
                        + make_interval(mins => (abs(hashtext(ean || day)) % 18000))
                        END,
                    validated_at = CASE WHEN validated_at IS NOT NULL THEN
                        ((day + 1)::timestamp AT TIME ZONE 'Europe/Brussels')
                        + make_interval(mins => 600 + (abs(hashtext(day || ean)) % 30000))
                        END
                """
            )
        )
        await session.commit()
