"""Reading metering data for an ESP: the gate, the series and the access record, shared by
every face (native JSON/CSV/XLSX, Fluvius v3, the bulk query, the portal).

Every read takes the Brussels days its grant releases (:meth:`ReadGrant.released_days`) and
reads blocks of those days only: a day of the asked window outside them is a gap, like a
day without data, and the access record names only the released part of the window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta

from datahub_api.access_log.service import record_read
from datahub_api.auth.principal import Principal
from datahub_api.brussels_days import gas_date
from datahub_api.db import ReadSession, WriteSession
from datahub_api.gas_calorific import service as gas_calorific
from datahub_api.mandates.access import ReadGrant, authorize_read
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data import repository
from datahub_api.meter_data.fluvius_csv import (
    ExportedAccessPoint,
    TariffCalendar,
    export_rows,
    with_both_directions,
)
from datahub_api.meter_data.models import Direction, Register, StoredUnit
from datahub_api.meter_data.series import (
    GasFactor,
    ReadGranularity,
    ReadWindow,
    Series,
    assemble,
    month_chunks,
    shapes_of,
)


async def authorize_and_record(
    session: WriteSession,
    principal: Principal,
    ean: str,
    window: ReadWindow,
    *,
    channels: tuple[str, ...],
    face: str,
    reference_number: str | None = None,
    data_service_types: Sequence[DataServiceType] = (),
) -> ReadGrant:
    """The grant for reading ``window`` of ``ean`` (or the refusal), with the read's access
    record added to the request's transaction. ``reference_number`` and
    ``data_service_types`` limit the mandates that may grant it."""
    grant = await authorize_read(
        session,
        principal,
        ean,
        start=window.start,
        end=window.end,
        granularities=[window.granularity],
        channels=channels,
        reference_number=reference_number,
        data_service_types=data_service_types,
    )
    released = grant.released_part(window.start, window.end)
    if released is not None:  # a read that released nothing read nobody's data
        record_read(
            session,
            principal,
            grant,
            start=released[0],
            end=released[1],
            granularity=window.granularity.value,
            face=face,
        )
    return grant


async def gas_factors(session: ReadSession, ean: str, window: ReadWindow) -> dict[date, GasFactor]:
    """The calorific values of the gas days ``window`` touches."""
    first = gas_date(window.start)
    end = gas_date(window.end - timedelta(microseconds=1)) + timedelta(days=1)
    return await gas_calorific.factors_of(session, ean, first, end)


Days = tuple[date, date]
"""Brussels days [first, end) whose data a read may release (:meth:`ReadGrant.released_days`)."""


def _days(window: ReadWindow, released: Days) -> Days | None:
    """The days of stored blocks ``window`` needs (:meth:`ReadWindow.read_days`: for gas, the
    calendar days its gas days span) that ``released`` holds."""
    first, end = window.read_days()
    first, end = max(first, released[0]), min(end, released[1])
    return (first, end) if first < end else None


async def series_of(
    session: ReadSession,
    ean: str,
    window: ReadWindow,
    released: Days,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> list[Series]:
    """Every series of ``ean`` over ``window`` from the ``released`` days' blocks (read at
    once; for long ranges use :func:`series_by_month`); gas m3 series are followed by their
    energy in kWh."""
    days = _days(window, released)
    if days is None:
        return assemble([], window)
    blocks = await repository.read_blocks(
        session, ean, days[0], days[1], direction=direction, register=register
    )
    factors = None
    if any(block.unit == StoredUnit.litre for block in blocks):
        factors = await gas_factors(session, ean, window)
    return assemble(blocks, window, factors=factors)


async def series_by_month(
    session: ReadSession,
    ean: str,
    window: ReadWindow,
    released: Days,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> AsyncIterator[tuple[ReadWindow, list[Series]]]:
    """The series of ``ean`` a Brussels month at a time (with the month's piece of the
    window), from the ``released`` days' blocks: what streamed answers read, so memory stays
    flat however long the window. Every month has the same series (those of the released
    days), all gaps where a month has no blocks of one."""
    days = _days(window, released)
    shapes = shapes_of(
        await repository.series_shapes(
            session, ean, days[0], days[1], direction=direction, register=register
        )
        if days is not None
        else []
    )
    gas = any(shape.unit == StoredUnit.litre for shape in shapes)
    for chunk in month_chunks(window):
        part = _days(chunk, released)
        blocks = (
            await repository.read_blocks(
                session, ean, part[0], part[1], direction=direction, register=register
            )
            if part is not None
            else []
        )
        factors = await gas_factors(session, ean, chunk) if gas else None
        yield chunk, assemble(blocks, chunk, shapes, factors=factors)


async def export_row_chunks(
    session: ReadSession,
    point: ExportedAccessPoint,
    window: ReadWindow,
    released: Days,
    calendar: TariffCalendar,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> AsyncIterator[list[tuple[str, ...]]]:
    """The rows of a CSV/XLSX export (Fluvius layout, without the header) of ``window``, a
    Brussels month at a time. Days and months are split by tariff, so they are summed from
    hours."""
    summed = window.granularity in (ReadGranularity.day, ReadGranularity.month)
    read_window = (
        ReadWindow(window.start, window.end, ReadGranularity.hour, gas=window.gas)
        if summed
        else window
    )
    async for chunk, series in series_by_month(
        session, point.ean, read_window, released, direction=direction, register=register
    ):
        target = ReadWindow(chunk.start, chunk.end, window.granularity, gas=window.gas)
        if direction is None:
            series = with_both_directions(point, series)
        yield list(export_rows(point, series, calendar, target))
