"""SQL of the capacity peaks: the quarter-hour offtake day blocks of one or many EANs, and the
versions a correction superseded. Peaks are not stored (see :mod:`.service`), so this only
reads ``meter_day_blocks`` and its history, every query starting with the EAN."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text

from datahub_api.capacity.peaks import ENERGY_REGISTERS, OfftakeDay
from datahub_api.db import ReadSession
from datahub_api.meter_data.blocks import unpack_slots, unpack_states
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import (
    BLOCKS_TABLE,
    GRANULARITY_CODE,
    HISTORY_TABLE,
    Direction,
    Register,
    StoredUnit,
)


def _offtake(alias: str = "") -> str:
    """Quarter-hour offtake in kWh registers (``alias``: the table's, with its dot)."""
    registers = ", ".join(str(int(register)) for register in ENERGY_REGISTERS)
    return (
        f"{alias}direction = {int(Direction.offtake)} "
        f"AND {alias}granularity = {GRANULARITY_CODE[Granularity.PT15M]} "
        f"AND {alias}unit = {int(StoredUnit.Wh)} AND {alias}register IN ({registers})"
    )


def _offtake_day(row: Any) -> OfftakeDay:
    slots = unpack_slots(row.packed_values)
    states = unpack_states(row.packed_states, slots)
    return OfftakeDay(
        meter_id=row.meter_id,
        register=Register(row.register),
        day=row.day,
        values=[None if value < 0 else value for value in slots],
        states=[state or None for state in states],
    )


async def offtake_days(session: ReadSession, ean: str, first: date, end: date) -> list[OfftakeDay]:
    """The current quarter-hour offtake blocks (kWh registers) of ``ean`` for the Brussels
    days [first, end)."""
    result = await session.execute(
        text(
            "SELECT meter_id, register, day, packed_values, packed_states "  # noqa: S608
            f"FROM {BLOCKS_TABLE} WHERE ean = :ean AND day >= :first AND day < :end "
            f"AND {_offtake()}"
        ),
        {"ean": ean, "first": first, "end": end},
    )
    return [_offtake_day(row) for row in result]


async def offtake_days_of(
    session: ReadSession, spans: Sequence[tuple[str, date, date]]
) -> dict[str, list[OfftakeDay]]:
    """:func:`offtake_days` for many (EAN, first, end) spans in one query, by EAN."""
    found: dict[str, list[OfftakeDay]] = defaultdict(list)
    if not spans:
        return found
    result = await session.execute(
        text(
            "SELECT b.ean, b.meter_id, b.register, b.day, b.packed_values, "  # noqa: S608
            "b.packed_states FROM unnest(CAST(:eans AS varchar[]), CAST(:firsts AS date[]), "
            f"CAST(:ends AS date[])) AS s(ean, first, stop) JOIN {BLOCKS_TABLE} b "
            "ON b.ean = s.ean AND b.day >= s.first AND b.day < s.stop "
            f"WHERE {_offtake('b.')}"
        ),
        {
            "eans": [span[0] for span in spans],
            "firsts": [span[1] for span in spans],
            "ends": [span[2] for span in spans],
        },
    )
    for row in result:
        found[row.ean].append(_offtake_day(row))
    return found


@dataclass(frozen=True)
class SupersededKey:
    """A corrected block and the version the correction superseded."""

    ean: str
    meter_id: str
    register: Register
    day: date
    version: int


async def superseded_days(
    session: ReadSession, keys: Sequence[SupersededKey]
) -> dict[SupersededKey, OfftakeDay]:
    """The superseded versions of quarter-hour offtake blocks, from the history."""
    if not keys:
        return {}
    result = await session.execute(
        text(
            "SELECT h.ean, h.meter_id, h.register, h.day, h.version, h.packed_values, "  # noqa: S608
            "h.packed_states FROM unnest(CAST(:eans AS varchar[]), CAST(:meters AS varchar[]), "
            "CAST(:registers AS smallint[]), CAST(:days AS date[]), "
            "CAST(:versions AS integer[])) AS k(ean, meter_id, register, day, version) "
            f"JOIN {HISTORY_TABLE} h ON h.ean = k.ean AND h.meter_id = k.meter_id "
            f"AND h.direction = {int(Direction.offtake)} AND h.register = k.register "
            f"AND h.granularity = {GRANULARITY_CODE[Granularity.PT15M]} AND h.day = k.day "
            "AND h.version = k.version"
        ),
        {
            "eans": [key.ean for key in keys],
            "meters": [key.meter_id for key in keys],
            "registers": [int(key.register) for key in keys],
            "days": [key.day for key in keys],
            "versions": [key.version for key in keys],
        },
    )
    return {
        SupersededKey(row.ean, row.meter_id, Register(row.register), row.day, row.version): (
            _offtake_day(row)
        )
        for row in result
    }
