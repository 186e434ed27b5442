"""Metering data as the native API's JSON shows it: values in the unit (kWh, kVArh, m3,
three decimals; ``null`` for a gap), validation states by name, enums lower-case.

:func:`series_json` shapes one :class:`~datahub_api.meter_data.series.Series` in the
columnar form every native route uses, :func:`block_json` one stored day block; the pieces
(:func:`series_head`, :func:`in_units`, :func:`state_names`) are for answers that write a
series in parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datahub_api.meter_data.blocks import DayBlock, slot_start
from datahub_api.meter_data.models import ValidationState
from datahub_api.meter_data.series import UNIT_NAMES, Series

MILLI = 1000  # stored integers count milli-units (Wh, varh, litres)

_STATE_NAMES: dict[int, str] = {state.value: state.name for state in ValidationState}


def in_units(values: Sequence[int | None]) -> list[float | None]:
    """Stored milli-units as the unit the faces show (1234 Wh -> 1.234 kWh); None stays
    None. ``n / 1000`` is the double nearest to the three-decimal number, so JSON writes it
    with at most three decimals."""
    return [None if value is None else value / MILLI for value in values]


def state_names(states: Sequence[int | None]) -> list[str | None]:
    """Validation state codes as their names (``READ``, ``EST``, ``VAL``, ``NVAL``)."""
    return [None if state is None else _STATE_NAMES[state] for state in states]


def series_head(ean: str, series: Series) -> dict[str, Any]:
    """What a series is and where its buckets lie, without the buckets."""
    return {
        "ean": ean,
        "meter": series.key.meter_id,
        "direction": series.key.direction.name,
        "register": series.key.register.name,
        "start": series.start,
        "end": series.window.end,
        "step": series.granularity.value,
        "unit": UNIT_NAMES[series.unit],
    }


def series_json(ean: str, series: Series) -> dict[str, Any]:
    """One series in columnar form: ``values`` and ``states`` hold a bucket per ``step``
    from ``start`` to ``end`` (exclusive), ``incomplete`` the indexes of the buckets that
    lack some of their parts (a gap, or a partly delivered hour, day or month)."""
    return {
        **series_head(ean, series),
        "values": in_units(series.values),
        "states": state_names(series.states),
        "incomplete": series.incomplete_buckets(),
    }


def block_json(block: DayBlock) -> dict[str, Any]:
    """One stored day block (as the change feed hands it out): its key, version and insert
    time, and a value per slot of its Brussels day from ``start`` (92 or 100 quarter-hours
    on DST days)."""
    key = block.key
    return {
        "ean": key.ean,
        "meter": key.meter_id,
        "direction": key.direction.name,
        "register": key.register.name,
        "granularity": key.granularity.name,
        "day": key.day,
        "version": block.version,
        "inserted_at": block.last_inserted_at,
        "start": slot_start(key.day, key.granularity, 0),
        "step": key.granularity.name,
        "unit": UNIT_NAMES[block.unit],
        "values": in_units(block.values),
        "states": state_names(block.states),
    }
