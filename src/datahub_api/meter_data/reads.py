"""Reading metering data: the one read service every face calls (native JSON/CSV/XLSX,
Fluvius v3, the bulk query, the ESP portal, a customer's own data).

It owns, in this order:

* the **gate** (:func:`gate`): the caller's readable mandates on the EAN for the face's
  channels (:class:`ReadFace`), or the unknown-EAN 404 before any other parameter is looked
  at, so a caller without a mandate learns nothing about the EAN;
* the **defaults** a face falls back on: the finest granularity the mandates allow
  (:func:`finest_granularity`), the day shown without a date (:func:`default_day`);
* the **grant** of one window (:func:`grant_for`): of several mandates, the one releasing
  most of it; with the read's **access record** added to the request's transaction;
* the **series**, read only through a :class:`Release` (what a grant, or a customer's
  tenure, releases): :func:`series_of`, :func:`series_by_month`, :func:`read_time_pieces`,
  :func:`inserted_pieces`.

Every read takes the Brussels days its grant releases (:meth:`ReadGrant.released_days`) and
reads blocks of those days only: a day of the asked window outside them is a gap, like a
day without data, and the access record names only the released part of the window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from datahub_api.access_log.service import record_read
from datahub_api.auth.principal import Principal
from datahub_api.brussels_days import (
    brussels_date,
    day_start,
    gas_date,
    gas_day_start,
    today_in_brussels,
)
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import Forbidden, UnprocessableContent
from datahub_api.gas_calorific import service as gas_calorific
from datahub_api.mandates.access import (
    ALLOWED_GRANULARITIES,
    ReadGrant,
    authorize_read,
    readable_grants,
    readable_mandates,
    readable_portfolio,
)
from datahub_api.mandates.models import DataServiceType, Mandate
from datahub_api.meter_data import repository
from datahub_api.meter_data.blocks import DayBlock
from datahub_api.meter_data.channels import ReadFace
from datahub_api.meter_data.fluvius_csv import (
    ExportedAccessPoint,
    TariffCalendar,
    export_rows,
    with_both_directions,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, StoredUnit
from datahub_api.meter_data.series import (
    GasFactor,
    ReadWindow,
    Series,
    assemble,
    month_chunks,
    shapes_of,
)

# --- faces and the gate ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReadGate:
    """A caller who passed the gate for ``ean`` on ``face``: its readable mandates there
    (only those with ``reference_number`` and of ``data_service_types`` when given). Only
    :func:`gate` makes one."""

    principal: Principal
    ean: str
    face: ReadFace
    mandates: tuple[Mandate, ...]
    reference_number: str | None = None
    data_service_types: tuple[DataServiceType, ...] = ()

    @property
    def channels(self) -> tuple[str, ...]:
        return self.face.channels_for(self.principal)


async def gate(
    session: ReadSession,
    principal: Principal,
    ean: str,
    face: ReadFace,
    *,
    reference_number: str | None = None,
    data_service_types: Sequence[DataServiceType] = (),
) -> ReadGate:
    """The caller's pass for reading ``ean`` on ``face``, or the unknown-EAN 404
    (:class:`~datahub_api.mandates.access.UnknownOrNotYours`; 403 for a caller that is no
    ESP). Faces call it before validating anything else of the request."""
    mandates = await readable_mandates(
        session,
        principal,
        ean,
        channels=face.channels_for(principal),
        reference_number=reference_number,
        data_service_types=data_service_types,
    )
    return ReadGate(
        principal, ean, face, tuple(mandates), reference_number, tuple(data_service_types)
    )


def finest_granularity(gate: ReadGate) -> Granularity:
    """The granularity a read without one gets: quarter-hours when a mandate allows them,
    days otherwise."""
    if any(Granularity.PT15M in ALLOWED_GRANULARITIES[m.data_service_type] for m in gate.mandates):
        return Granularity.PT15M
    return Granularity.P1D


def newest_day(last_allowed: date | None, received: Sequence[date | None]) -> date:
    """The day a chart shows without a date: the last day with data (data arrives
    D+1..D+3; ``received``: the last day with data of each span the reader may see), at
    most yesterday and at most ``last_allowed`` (the last day the reader may ask for)."""
    day = today_in_brussels() - timedelta(days=1)
    if last_allowed is not None:
        day = min(day, last_allowed)
    days = [found for found in received if found is not None]
    return min(day, max(days)) if days else day


@dataclass(frozen=True)
class Defaults:
    """What a chart of ``gate`` shows without a date: ``day``, and the ``grants`` at the
    asked granularity (none when no mandate allows it)."""

    day: date
    grants: tuple[ReadGrant, ...]


async def defaults(session: ReadSession, gate: ReadGate, granularity: Granularity) -> Defaults:
    """The day shown without a date (:func:`newest_day` inside the mandates' data periods,
    of the days they release) and the grants at ``granularity``."""
    try:
        grants = await grants_at(session, gate, granularity)
    except Forbidden:  # no mandate allows the step: the gate refuses it when read
        return Defaults(newest_day(None, []), ())
    last = max(brussels_date(g.allowed_to - timedelta(microseconds=1)) for g in grants)
    received = await repository.last_received(
        session, [(gate.ean, *grant.released_days()) for grant in grants]
    )
    return Defaults(newest_day(last, [f[0] if f else None for f in received]), tuple(grants))


def _up_to_grid(instant: datetime, granularity: Granularity) -> datetime:
    """The first instant on the granularity's grid at or after ``instant``."""
    if granularity in (Granularity.PT15M, Granularity.PT1H):
        step = 900 if granularity is Granularity.PT15M else 3600
        seconds = instant.timestamp()
        return instant + timedelta(seconds=(-seconds) % step)
    day = brussels_date(instant)
    if day_start(day) < instant:
        day += timedelta(days=1)
    if granularity is Granularity.P1M and day.day != 1:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day_start(day)


def _down_to_grid(instant: datetime, granularity: Granularity) -> datetime:
    """The last instant on the granularity's grid at or before ``instant``."""
    if granularity in (Granularity.PT15M, Granularity.PT1H):
        step = 900 if granularity is Granularity.PT15M else 3600
        return instant - timedelta(seconds=instant.timestamp() % step)
    day = brussels_date(instant)
    if granularity is Granularity.P1M:
        day = day.replace(day=1)
    return day_start(day)


def clipped(window: ReadWindow, start: datetime, end: datetime) -> ReadWindow | None:
    """``window`` narrowed to ``[start, end)`` on its own grid (a mandate starting mid-month
    shows the month's days from then on), or None when nothing of it is left."""
    first = max(window.start, _up_to_grid(start, window.granularity))
    last = min(window.end, _down_to_grid(end, window.granularity))
    if last <= first:
        return None
    return ReadWindow(first, last, window.granularity)


def widest_allowed(window: ReadWindow, grants: Sequence[ReadGrant]) -> ReadWindow:
    """``window`` narrowed to the part of one grant's data period that holds most of it,
    when no grant's holds it whole (the gate still decides on what is left); ``window``
    itself when no grant's holds any of it."""
    best: ReadWindow | None = None
    for grant in grants:
        part = clipped(window, grant.allowed_from, grant.allowed_to)
        if part is not None and (best is None or part.end - part.start > best.end - best.start):
            best = part
    return window if best is None else best


async def grants_at(
    session: ReadSession, gate: ReadGate, granularity: Granularity
) -> list[ReadGrant]:
    """The grants of the gate's mandates that allow ``granularity`` (403 when none does)."""
    return await readable_grants(
        session,
        gate.principal,
        gate.ean,
        granularities=[granularity],
        channels=gate.channels,
        reference_number=gate.reference_number,
        data_service_types=gate.data_service_types,
    )


# --- the grant of a window and its access record -------------------------------------------


async def authorize_and_record(
    session: WriteSession,
    principal: Principal,
    ean: str,
    window: ReadWindow,
    face: ReadFace,
    *,
    reference_number: str | None = None,
    data_service_types: Sequence[DataServiceType] = (),
) -> ReadGrant:
    """The grant for reading ``window`` of ``ean`` on ``face`` (or the refusal), with the
    read's access record added to the request's transaction. ``reference_number`` and
    ``data_service_types`` limit the mandates that may grant it."""
    grant = await authorize_read(
        session,
        principal,
        ean,
        start=window.start,
        end=window.end,
        granularities=[window.granularity],
        channels=face.channels_for(principal),
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
            face=face.name,
        )
    return grant


async def grant_for(session: WriteSession, gate: ReadGate, window: ReadWindow) -> Release:
    """What the gate's caller may read of ``window`` (of several mandates, the one releasing
    most of it; 403 naming the data period or the data services when none covers it), with
    the read's access record added to the request's transaction."""
    return Release.of(await granted(session, gate, window))


async def granted(session: WriteSession, gate: ReadGate, window: ReadWindow) -> ReadGrant:
    """:func:`grant_for` as the grant itself (its data period and released instants), for
    a service that reads through it (the capacity peaks)."""
    return await authorize_and_record(
        session,
        gate.principal,
        gate.ean,
        window,
        gate.face,
        reference_number=gate.reference_number,
        data_service_types=gate.data_service_types,
    )


async def refuse_unless_granted(session: ReadSession, gate: ReadGate, window: ReadWindow) -> None:
    """The gate's refusal of ``window`` (403 naming the data period or the data services),
    when no mandate grants it; nothing is recorded."""
    await authorize_read(
        session,
        gate.principal,
        gate.ean,
        start=window.start,
        end=window.end,
        granularities=[window.granularity],
        channels=gate.channels,
        reference_number=gate.reference_number,
        data_service_types=gate.data_service_types,
    )


# --- the series --------------------------------------------------------------------------------


Days = tuple[date, date]
"""Brussels days [first, end) whose data a read may release (:meth:`ReadGrant.released_days`)."""


@dataclass(frozen=True)
class Release:
    """The Brussels ``days`` [first, end) of ``ean`` whose data a read may release: what a
    grant releases (:meth:`of`), a customer's own days (:func:`own_reads.released`) or a
    history export's checked window. Every series is read through one."""

    ean: str
    days: Days

    @classmethod
    def of(cls, grant: ReadGrant) -> Release:
        return cls(grant.mandate.ean, grant.released_days())


async def gas_factors(session: ReadSession, ean: str, window: ReadWindow) -> dict[date, GasFactor]:
    """The calorific values of the gas days ``window`` touches."""
    first = gas_date(window.start)
    end = gas_date(window.end - timedelta(microseconds=1)) + timedelta(days=1)
    return await gas_calorific.factors_of(session, ean, first, end)


def _days(window: ReadWindow, released: Days) -> Days | None:
    """The days of stored blocks ``window`` needs (:meth:`ReadWindow.read_days`: for gas, the
    calendar days its gas days span) that ``released`` holds."""
    first, end = window.read_days()
    first, end = max(first, released[0]), min(end, released[1])
    return (first, end) if first < end else None


async def series_of(
    session: ReadSession,
    release: Release,
    window: ReadWindow,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> list[Series]:
    """Every series of the released EAN over ``window`` from the released days' blocks (read
    at once; for long ranges use :func:`series_by_month`); gas m3 series are followed by
    their energy in kWh."""
    ean = release.ean
    days = _days(window, release.days)
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
    release: Release,
    window: ReadWindow,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> AsyncIterator[tuple[ReadWindow, list[Series]]]:
    """The series of the released EAN a Brussels month at a time (with the month's piece of
    the window), from the released days' blocks: what streamed answers read, so memory stays
    flat however long the window. Every month has the same series (those of the released
    days), all gaps where a month has no blocks of one."""
    ean, released = release.ean, release.days
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
    release: Release,
    calendar: TariffCalendar,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> AsyncIterator[list[tuple[str, ...]]]:
    """The rows of a CSV/XLSX export (Fluvius layout, without the header) of ``window``, a
    Brussels month at a time. Days and months are split by tariff, so they are summed from
    hours."""
    summed = window.granularity in (Granularity.P1D, Granularity.P1M)
    read_window = (
        ReadWindow(window.start, window.end, Granularity.PT1H, gas=window.gas) if summed else window
    )
    async for chunk, series in series_by_month(
        session, release, read_window, direction=direction, register=register
    ):
        target = ReadWindow(chunk.start, chunk.end, window.granularity, gas=window.gas)
        if direction is None:
            series = with_both_directions(point, series)
        yield list(export_rows(point, series, calendar, target))


# --- several windows at once (Fluvius's energy) ----------------------------------------------


MAX_INSERTED_BLOCKS = 20_000
"""Most day blocks one read of inserted data may hold (a year of an access point's
registers is ~1500); more asks for a shorter period."""


class TooManyChanges(UnprocessableContent):
    def __init__(self) -> None:
        super().__init__(
            f"More than {MAX_INSERTED_BLOCKS} day blocks were inserted between 'from' and "
            "'to'; ask for a shorter period."
        )


@dataclass(frozen=True)
class Piece:
    """Series read over one window: an asked window (``readTime``), or one day of changed
    blocks (``insertTime``)."""

    window: ReadWindow
    series: list[Series]


@dataclass(frozen=True)
class Pieces:
    """The pieces of a read and the Brussels days [first, end) they span (or asked, when
    nothing was read)."""

    pieces: list[Piece]
    days: Days


def _blocks_of_days(
    blocks: Sequence[DayBlock], window: ReadWindow, released: Days
) -> list[DayBlock]:
    """The blocks of the window's days that ``released`` holds (the others are gaps)."""
    days = _days(window, released)
    if days is None:
        return []
    return [block for block in blocks if days[0] <= block.key.day < days[1]]


async def read_time_pieces(
    session: WriteSession, gate: ReadGate, windows: Sequence[ReadWindow], *, gas: bool
) -> Pieces:
    """Each window (one per granularity; in gas days for ``gas``) granted and recorded on
    its own (:func:`grant_for`), their blocks read at once."""
    if gas:  # gas days run 06:00 to 06:00
        windows = [window.as_gas() for window in windows]
    released = [(await grant_for(session, gate, window)).days for window in windows]
    first = min(window.read_days()[0] for window in windows)
    end = max(window.read_days()[1] for window in windows)
    low = max(first, min(days[0] for days in released))
    high = min(end, max(days[1] for days in released))
    blocks = await repository.read_blocks(session, gate.ean, low, high) if low < high else []
    pieces = []
    for window, days in zip(windows, released, strict=True):
        factors = await gas_factors(session, gate.ean, window) if gas else None
        pieces.append(
            Piece(window, assemble(_blocks_of_days(blocks, window, days), window, (), factors))
        )
    return Pieces(pieces, (first, end))


def _releases(grant: ReadGrant, starts: Callable[[date], datetime], day: date) -> bool:
    """Whether the grant releases the whole (gas) day."""
    return grant.released_from <= starts(day) and starts(day + timedelta(days=1)) <= (
        grant.released_to
    )


async def inserted_pieces(
    session: WriteSession,
    gate: ReadGate,
    start: datetime,
    end: datetime,
    granularities: Sequence[Granularity],
    *,
    gas: bool,
) -> Pieces:
    """The whole (gas) days of the blocks inserted or corrected in [start, end), at each
    granularity: each day a grant releases whole, through the first grant that releases it,
    with one access record per grant and granularity. :class:`TooManyChanges` past
    :data:`MAX_INSERTED_BLOCKS`."""
    blocks = await repository.blocks_inserted_between(
        session, gate.ean, start, end, limit=MAX_INSERTED_BLOCKS + 1
    )
    if len(blocks) > MAX_INSERTED_BLOCKS:
        raise TooManyChanges()
    by_day: dict[date, list[DayBlock]] = {}
    for block in blocks:
        by_day.setdefault(block.key.day, []).append(block)
    starts = gas_day_start if gas else day_start
    if gas:  # a changed calendar day holds hours of two gas days
        touched = sorted({d for day in by_day for d in (day - timedelta(days=1), day)})
    else:
        touched = sorted(by_day)
    pieces: list[Piece] = []
    read_days: set[date] = set()
    for granularity in granularities:
        grants = await grants_at(session, gate, granularity)
        days_of: dict[int, list[date]] = {}
        for day in touched:
            for index, grant in enumerate(grants):
                if _releases(grant, starts, day):
                    days_of.setdefault(index, []).append(day)
                    break
        for index, days in sorted(days_of.items()):
            for day in days:
                window = ReadWindow(
                    starts(day), starts(day + timedelta(days=1)), granularity, gas=gas
                )
                if not gas:
                    pieces.append(Piece(window, assemble(by_day[day], window)))
                    continue
                # A gas day spans two calendar days' blocks: read them whole, convert to kWh.
                first, stop = window.read_days()
                whole = await repository.read_blocks(session, gate.ean, first, stop)
                factors = await gas_factors(session, gate.ean, window)
                pieces.append(Piece(window, assemble(whole, window, (), factors)))
            record_read(
                session,
                gate.principal,
                grants[index],
                start=starts(days[0]),
                end=starts(days[-1] + timedelta(days=1)),
                granularity=granularity.value,
                face=gate.face.name,
            )
            read_days.update(days)
    if read_days:
        pieces.sort(key=lambda piece: piece.window.start)  # each granularity in day order
        return Pieces(pieces, (min(read_days), max(read_days) + timedelta(days=1)))
    # Nothing inserted: the insert period's days, without pieces.
    return Pieces(
        pieces,
        (brussels_date(start), brussels_date(end - timedelta(microseconds=1)) + timedelta(days=1)),
    )


# --- the portfolio ---------------------------------------------------------------------------


async def last_readable_data(
    session: ReadSession, principal: Principal, face: ReadFace, mandates: Sequence[Mandate]
) -> dict[int, tuple[date, datetime] | None]:
    """Per mandate of ``mandates`` that ``face`` can show data of (a mandate on its channels
    under a contract covering it today; others are left out): the last Brussels day holding
    data and when data last arrived (None: no data), told of the days the mandate releases
    only (not of an earlier or a later occupant's)."""
    grants = {
        window.mandate.id: window.grant()
        for window in await readable_portfolio(session, principal, channels=face.channels)
    }
    shown = [m for m in mandates if m.id in grants]
    received = await repository.last_received(
        session, [(m.ean, *grants[m.id].released_days()) for m in shown]
    )
    return {m.id: found for m, found in zip(shown, received, strict=True)}
