"""SQL of calorific values and zones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select, text

from datahub_api.array_parameters import in_array
from datahub_api.db import ReadSession, WriteSession
from datahub_api.gas_calorific.models import DEFAULT_ZONE, GasCalorificValue, GasZoneMember


async def zone_of(session: ReadSession, ean: str) -> str:
    zone = await session.scalar(select(GasZoneMember.zone).where(GasZoneMember.ean == ean))
    return zone or DEFAULT_ZONE


async def values_between(
    session: ReadSession, zone: str, first: date, end: date
) -> list[GasCalorificValue]:
    """The zone's values of the gas days [first, end)."""
    result = await session.scalars(
        select(GasCalorificValue).where(
            GasCalorificValue.zone == zone,
            GasCalorificValue.gas_day >= first,
            GasCalorificValue.gas_day < end,
        )
    )
    return list(result)


async def stored_values(
    session: WriteSession, keys: Sequence[tuple[str, date]]
) -> dict[tuple[str, date], GasCalorificValue]:
    """The values stored under ``keys`` (zone, gas day), locked for the update."""
    if not keys:
        return {}
    zones = sorted({zone for zone, _ in keys})
    days = sorted({day for _, day in keys})
    result = await session.scalars(
        select(GasCalorificValue)
        .where(in_array(GasCalorificValue.zone, zones), in_array(GasCalorificValue.gas_day, days))
        .with_for_update()
    )
    wanted = set(keys)
    return {(v.zone, v.gas_day): v for v in result if (v.zone, v.gas_day) in wanted}


_UPSERT_VALUES = text(
    "INSERT INTO gas_calorific_values (zone, gas_day, kwh_per_m3, factor, received_at) "
    "SELECT zone, gas_day, kwh_per_m3, factor, CAST(:received_at AS timestamptz) "
    "FROM unnest("
    "CAST(:zones AS varchar[]), CAST(:days AS date[]), CAST(:values AS numeric[]), "
    "CAST(:factors AS varchar[])) AS v(zone, gas_day, kwh_per_m3, factor) "
    "ON CONFLICT (zone, gas_day) DO UPDATE SET kwh_per_m3 = EXCLUDED.kwh_per_m3, "
    "factor = EXCLUDED.factor, received_at = EXCLUDED.received_at"
)


async def upsert_values(
    session: WriteSession,
    rows: Sequence[tuple[str, date, Decimal, str]],
    received_at: datetime,
) -> None:
    """Store (zone, gas day, kWh per m3, factor) rows, replacing what those keys held: four
    arrays, whatever the number of rows (a multi-row VALUES took five parameters a row)."""
    if not rows:
        return
    await session.execute(
        _UPSERT_VALUES,
        {
            "zones": [zone for zone, _, _, _ in rows],
            "days": [day for _, day, _, _ in rows],
            "values": [value for _, _, value, _ in rows],
            "factors": [factor for _, _, _, factor in rows],
            "received_at": received_at,
        },
    )


async def upsert_members(session: WriteSession, rows: Sequence[tuple[str, str]]) -> None:
    if not rows:
        return
    # Two arrays, whatever the number of rows (a multi-row VALUES takes two parameters a
    # row, and a statement carries at most 32,767).
    await session.execute(
        text(
            "INSERT INTO gas_zone_members (ean, zone) "
            "SELECT * FROM unnest(CAST(:eans AS varchar[]), CAST(:zones AS varchar[])) "
            "ON CONFLICT (ean) DO UPDATE SET zone = EXCLUDED.zone"
        ),
        {"eans": [ean for ean, _ in rows], "zones": [zone for _, zone in rows]},
    )


async def gas_eans_of_zone(session: ReadSession, zone: str) -> list[str]:
    """The gas access points of a zone (``default``: those in no other zone)."""
    if zone == DEFAULT_ZONE:
        query = text(
            "SELECT ean FROM access_points WHERE energy_type = 'G' AND ean NOT IN "
            "(SELECT ean FROM gas_zone_members WHERE zone <> :zone) "
            "ORDER BY ean"
        )
    else:
        query = text("SELECT ean FROM gas_zone_members WHERE zone = :zone ORDER BY ean")
    return list(await session.scalars(query, {"zone": zone}))
