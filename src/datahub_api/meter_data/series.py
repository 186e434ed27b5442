"""Metering data as time series for a window: what every retrieval face serves.

A read asks for an EAN, a window ``[start, end)`` and a granularity (``PT15M``, ``PT1H``,
``P1D`` or ``P1M``). The day blocks of the window become one :class:`Series` per (meter,
direction, register), each with a bucket for **every** step of the window: a gap is a
``None`` value, never zero, and never a missing bucket. So a Brussels DST day has 92 or 100
quarter-hours (23 or 25 hours), on every face.

Which stored blocks feed a series: those of the asked granularity when the series has them;
otherwise the coarsest stored granularity finer than asked, summed per bucket; a series only
stored coarser than asked (gas is metered hourly) is served at its own step. A summed bucket
holds the sum of the values present, the *worst* validation state of its parts (see
:mod:`~datahub_api.meter_data.sums`), and is *complete* only when every part held a value.

Hours and quarter-hours are UTC-aligned (Brussels offsets are whole hours), so buckets are
counted in fixed steps from the window's start; days and months follow the Brussels
calendar. A gas window (``gas=True``) counts gas days, 06:00 to 06:00 in Brussels (23 or 25
hours across a clock change), and gas months, from 06:00 on the first; a window clipped to a
mandate may start or end inside one (its first or last bucket is then shorter).

Gas is metered in m3. With the calorific values of its gas days (:class:`GasFactor`, the
operator's data), :func:`assemble` adds to every m3 series its energy in kWh: each stored
slot converted with its gas day's value before summing, ``conversion`` telling per bucket
whether the factors were predictive (``P``), definitive (``D``) or a constant (``C``); a slot
of a gas day without a value has no energy (the bucket is incomplete).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import repeat

from datahub_api.brussels_days import (
    brussels_date,
    day_start,
    days_between,
    gas_date,
    gas_day_start,
)
from datahub_api.errors import UnprocessableContent
from datahub_api.iso_dates import OutOfRange, check_day, check_instant
from datahub_api.meter_data.blocks import SLOT_LENGTH, DayBlock, expected_slots, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import (
    Direction,
    Register,
    StoredUnit,
)
from datahub_api.meter_data.sums import add_reading, add_readings, worse_conversion

__all__ = [
    "UNIT_NAMES",
    "GasFactor",
    "ReadWindow",
    "Series",
    "SeriesKey",
    "SeriesShape",
    "assemble",
    "month_chunks",
    "parse_bound",
    "served_window",
    "shapes_of",
]


@dataclass(frozen=True)
class GasFactor:
    """The calorific value of a gas day: kWh per m3, and whether it is predictive (``P``),
    definitive (``D``) or a standard constant (``C``)."""

    kwh_per_m3: Decimal
    code: str


UNIT_NAMES: dict[int, str] = {
    StoredUnit.Wh: "kWh",
    StoredUnit.varh: "kVArh",
    StoredUnit.litre: "m3",
}

# The stored granularity a read granularity is served from without summing.
_FIXED_STEP: dict[Granularity, timedelta] = {
    Granularity.PT15M: timedelta(minutes=15),
    Granularity.PT1H: timedelta(hours=1),
}
_FINENESS = [Granularity.PT15M, Granularity.PT1H, Granularity.P1D]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class ReadWindow:
    """``[start, end)`` in UTC, on the grid of ``granularity``; ``gas``: days are gas days."""

    start: datetime
    end: datetime
    granularity: Granularity
    gas: bool = False

    def day_start(self, day: date) -> datetime:
        """When the (gas) day ``day`` begins."""
        return gas_day_start(day) if self.gas else day_start(day)

    def date_of(self, instant: datetime) -> date:
        """The (gas) day an instant falls in."""
        return gas_date(instant) if self.gas else brussels_date(instant)

    def read_days(self) -> tuple[date, date]:
        """The Brussels days [first, end) of the stored blocks this window needs: calendar
        days (hours and quarter-hours) and, for gas, the gas days of daily blocks."""
        last = brussels_date(self.end - timedelta(microseconds=1))
        return self.first_day, last + timedelta(days=1)

    def as_gas(self) -> ReadWindow:
        """The window in gas days: a bound at Brussels midnight (a date) becomes 06:00 that
        day, the start of its gas day; other instants (hours) stay as they are."""
        if self.gas:
            return self

        def shifted(instant: datetime) -> datetime:
            day = brussels_date(instant)
            return gas_day_start(day) if day_start(day) == instant else instant

        return ReadWindow(shifted(self.start), shifted(self.end), self.granularity, gas=True)

    @classmethod
    def checked(cls, start: datetime, end: datetime, granularity: Granularity) -> ReadWindow:
        """The window, or a 422 when it is empty or off the granularity's grid (a
        quarter-hour window starting at 00:07; a daily one starting at noon)."""
        if end <= start:
            raise UnprocessableContent("`to` must be later than `from`.")
        for name, instant in (("from", start), ("to", end)):
            if not _on_grid(instant, granularity):
                raise UnprocessableContent(
                    f"`{name}` ({instant.isoformat()}) is not on the {granularity.value} grid: "
                    + _GRID_HINT[granularity]
                )
        return cls(start, end, granularity)

    @property
    def first_day(self) -> date:
        return self.date_of(self.start)

    @property
    def end_day(self) -> date:
        """The first (gas) day after the window (exclusive)."""
        last = self.date_of(self.end - timedelta(microseconds=1))
        return last + timedelta(days=1)

    def bucket_count(self) -> int:
        step = _FIXED_STEP.get(self.granularity)
        if step is not None:
            return (self.end - self.start) // step
        if self.granularity is Granularity.P1D:
            return (self.end_day - self.first_day).days
        return len(self._month_starts())

    def bucket_start(self, index: int) -> datetime:
        """The UTC instant at which bucket ``index`` starts."""
        step = _FIXED_STEP.get(self.granularity)
        if step is not None:
            return self.start + index * step
        if index == 0:
            return self.start
        if self.granularity is Granularity.P1D:
            return self.day_start(self.first_day + timedelta(days=index))
        month = _month_start(self.first_day)
        for _ in range(index):
            month = _next_month(month)
        return self.day_start(month)

    def bucket_bounds(self) -> Iterator[tuple[datetime, datetime]]:
        """``(start, end)`` of every bucket, in order (the first and last clipped to the
        window)."""
        step = _FIXED_STEP.get(self.granularity)
        if step is not None:
            start = self.start
            for _ in range(self.bucket_count()):
                yield start, start + step
                start += step
            return
        if self.granularity is Granularity.P1D:
            for day in days_between(self.first_day, self.end_day):
                start = max(self.start, self.day_start(day))
                yield start, min(self.end, self.day_start(day + timedelta(days=1)))
            return
        month = _month_start(self.first_day)
        for _ in range(self.bucket_count()):
            following = _next_month(month)
            start = max(self.start, self.day_start(month))
            yield start, min(self.end, self.day_start(following))
            month = following

    def _month_starts(self) -> list[date]:
        months, month = [], _month_start(self.first_day)
        while month < self.end_day:
            months.append(month)
            month = _next_month(month)
        return months


_GRID_HINT = {
    Granularity.PT15M: "minutes 00, 15, 30 or 45, no seconds.",
    Granularity.PT1H: "a whole hour.",
    Granularity.P1D: "midnight in Brussels (give a date).",
    Granularity.P1M: "midnight in Brussels on the first of a month.",
}


def parse_bound(text: str, name: str) -> datetime:
    """A window bound from a query: a date is Brussels midnight; an instant must carry an
    offset (a local time without one is ambiguous on DST days and refused with a 422)."""
    try:
        if len(text) == 10:
            return day_start(check_day(date.fromisoformat(text)))
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
        if instant.tzinfo is not None:
            check_instant(instant)
    except OutOfRange as error:
        raise UnprocessableContent(f"`{name}` ({text[:40]}): {error}.") from None
    except ValueError as error:
        raise UnprocessableContent(
            f"`{name}` ({text[:40]}) is neither a date (2026-03-29) nor an instant with an "
            "offset (2026-03-29T00:00:00+01:00)."
        ) from error
    if instant.tzinfo is None:
        raise UnprocessableContent(
            f"`{name}` ({text[:40]}) has no UTC offset; give one (e.g. +01:00) or a date."
        )
    return instant.astimezone(UTC)


def _on_grid(instant: datetime, granularity: Granularity) -> bool:
    step = _FIXED_STEP.get(granularity)
    if step is not None:
        return instant.timestamp() % step.total_seconds() == 0
    day = brussels_date(instant)
    if day_start(day) != instant:
        return False
    return granularity is Granularity.P1D or day.day == 1


def month_chunks(window: ReadWindow) -> Iterator[ReadWindow]:
    """The window cut at (gas) month starts (each piece is on the window's grid): how
    long ranges are read and streamed a month of blocks at a time."""
    start = window.start
    while start < window.end:
        boundary = window.day_start(_next_month(window.date_of(start)))
        end = min(boundary, window.end)
        yield ReadWindow(start, end, window.granularity, gas=window.gas)
        start = end


@dataclass(frozen=True)
class SeriesKey:
    meter_id: str
    direction: Direction
    register: Register


@dataclass
class Series:
    """One register of one meter over a window: a bucket per step, ``None`` for a gap.

    ``values`` count milli-units (Wh, varh, litres; :data:`UNIT_NAMES` gives the unit the
    faces show, a thousand times larger); ``states`` hold the
    :class:`~datahub_api.meter_data.models.ValidationState` code of each bucket (the worst
    of its parts); ``complete[i]`` says whether every part of bucket ``i`` held a value.
    """

    key: SeriesKey
    granularity: Granularity
    unit: StoredUnit
    window: ReadWindow
    values: list[int | None]
    states: list[int | None]
    complete: list[bool]
    # Gas energy (kWh converted from m3): per bucket the worst factor of its parts
    # (``P``, ``C`` or ``D``; None without a value). None for every other series.
    conversion: list[str | None] | None = None
    _parts_expected: list[int] = field(default_factory=list, repr=False)
    _parts_present: list[int] = field(default_factory=list, repr=False)

    @property
    def start(self) -> datetime:
        return self.window.start

    def bucket_start(self, index: int) -> datetime:
        """The UTC instant at which bucket ``index`` starts."""
        return self.window.bucket_start(index)

    def bucket_bounds(self) -> Iterator[tuple[datetime, datetime]]:
        """``(start, end)`` of every bucket, in order."""
        return self.window.bucket_bounds()

    def incomplete_buckets(self) -> list[int]:
        return [index for index, whole in enumerate(self.complete) if not whole]


def _source_granularity(asked: Granularity, stored: set[Granularity]) -> Granularity:
    """The stored granularity a series is read from (see the module docstring)."""
    if asked in stored:
        return asked
    finer = [granularity for granularity in stored if _fineness(granularity) < _fineness(asked)]
    if finer:
        return max(finer, key=_fineness)
    return min(stored, key=_fineness)


def _fineness(granularity: Granularity) -> int:
    return len(_FINENESS) if granularity is Granularity.P1M else _FINENESS.index(granularity)


def _expected_parts(window: ReadWindow, source: Granularity) -> list[int]:
    """How many stored slots make up each bucket of the window."""
    step = _FIXED_STEP.get(window.granularity)
    count = window.bucket_count()
    if step is not None:
        return [step // SLOT_LENGTH[source]] * count
    if window.gas:
        if source is Granularity.P1D:
            return [
                len(list(days_between(window.date_of(a), window.date_of(b - timedelta(hours=1)))))
                + 1
                for a, b in window.bucket_bounds()
            ]
        return [(b - a) // SLOT_LENGTH[source] for a, b in window.bucket_bounds()]
    days = list(days_between(window.first_day, window.end_day))
    per_day = [expected_slots(day, source) for day in days]
    if window.granularity is Granularity.P1D:
        return per_day
    parts: dict[date, int] = {}
    for day, slots in zip(days, per_day, strict=True):
        month = _month_start(day)
        parts[month] = parts.get(month, 0) + slots
    return list(parts.values())


def _widened(window: ReadWindow, granularity: Granularity) -> ReadWindow:
    """The smallest window on ``granularity``'s grid that holds ``window``."""
    step = _FIXED_STEP.get(granularity)
    if step is not None:
        seconds = int(step.total_seconds())
        start = window.start - timedelta(seconds=int(window.start.timestamp()) % seconds)
        overshoot = int(window.end.timestamp()) % seconds
        end = window.end + timedelta(seconds=seconds - overshoot) if overshoot else window.end
        return ReadWindow(start, end, granularity)
    return ReadWindow(day_start(window.first_day), day_start(window.end_day), granularity)


def served_window(window: ReadWindow, granularity: Granularity) -> ReadWindow:
    """The window a series served at ``granularity`` spans when ``window`` was asked:
    ``window`` itself, or widened to the grid of a coarser step (a series stored only
    coarser than asked, see :func:`assemble`)."""
    if granularity is window.granularity:
        return window
    return _widened(window, granularity)


def _widened_gas(window: ReadWindow, granularity: Granularity) -> ReadWindow:
    if granularity in _FIXED_STEP:
        widened = _widened(window, granularity)
        return ReadWindow(widened.start, widened.end, granularity, gas=window.gas)
    return ReadWindow(
        window.day_start(window.first_day), window.day_start(window.end_day), granularity, gas=True
    )


def _bucket_of_day(window: ReadWindow, day: date) -> int:
    if window.granularity is Granularity.P1D:
        return (day - window.first_day).days
    first = window.first_day
    return (day.year - first.year) * 12 + day.month - first.month


def _new_series(key: SeriesKey, window: ReadWindow, source: Granularity, unit: int) -> Series:
    asked = window.granularity
    if _fineness(source) > _fineness(asked):  # only stored coarser: served at its own step
        window = _widened_gas(window, source) if window.gas else _widened(window, source)
    count = window.bucket_count()
    return Series(
        key=key,
        granularity=window.granularity,
        unit=StoredUnit(unit),
        window=window,
        values=[None] * count,
        states=[None] * count,
        complete=[False] * count,
        _parts_expected=_expected_parts(window, source),
        _parts_present=[0] * count,
    )


def _block_start(block: DayBlock) -> datetime:
    """When a block's first slot starts (a gas day block at 06:00)."""
    if block.key.granularity is Granularity.P1D and block.unit == StoredUnit.litre:
        return gas_day_start(block.key.day)
    return day_start(block.key.day)


def _add_gas_block(
    series: Series,
    energy: Series | None,
    block: DayBlock,
    factors: Mapping[date, GasFactor],
    energy_present: list[int],
    starts: Sequence[datetime],
) -> None:
    """A gas block (m3) into its series, and converted into its energy series: slot by slot
    into the bucket holding its start (gas blocks are short: 23-25 hours a day)."""
    window = series.window
    source = block.key.granularity
    length = SLOT_LENGTH[source]
    first = _block_start(block)
    if source is Granularity.P1D:
        gas_days = [block.key.day]
    else:  # a calendar day of hours: the slots before 06:00 belong to the previous gas day
        split = -(-(gas_day_start(block.key.day) - first) // length)
        gas_days = [block.key.day - timedelta(days=1)] * split + [block.key.day] * (
            len(block.values) - split
        )
    for index, value in enumerate(block.values):
        if value is None:
            continue
        instant = first + index * length
        if instant < window.start or instant >= window.end:
            continue
        bucket = bisect_right(starts, instant) - 1
        state = block.states[index]
        add_reading(series.values, series.states, bucket, value, state)
        series._parts_present[bucket] += 1
        factor = factors.get(gas_days[min(index, len(gas_days) - 1)])
        if energy is None or factor is None or energy.conversion is None:
            continue
        wh = int((Decimal(value) * factor.kwh_per_m3).to_integral_value(ROUND_HALF_UP))
        add_reading(energy.values, energy.states, bucket, wh, state)
        energy.conversion[bucket] = worse_conversion(factor.code, energy.conversion[bucket])
        energy_present[bucket] += 1


def _add_block(series: Series, block: DayBlock) -> None:
    window = series.window
    step = _FIXED_STEP.get(window.granularity)
    source = block.key.granularity
    readings: Iterable[tuple[int, int | None, int | None]]
    if step is not None:
        slot_length = SLOT_LENGTH[source]
        per_bucket = step // slot_length
        first = (slot_start(block.key.day, source, 0) - window.start) // slot_length
        low = max(0, -first)
        high = max(low, min(len(block.values), len(series.values) * per_bucket - first))
        buckets = [(first + index) // per_bucket for index in range(low, high)]
        readings = zip(buckets, block.values[low:high], block.states[low:high], strict=True)
    else:
        readings = zip(repeat(_bucket_of_day(window, block.key.day)), block.values, block.states)
    add_readings(series.values, series.states, readings, series._parts_present)


@dataclass(frozen=True)
class SeriesShape:
    """What a series is stored as: its granularities and unit (over a whole read)."""

    key: SeriesKey
    granularities: frozenset[Granularity]
    unit: int


def shapes_of(
    rows: Sequence[tuple[str, Direction, Register, Granularity, int]],
) -> list[SeriesShape]:
    """Shapes from ``(meter, direction, register, granularity, unit)`` rows."""
    found: dict[SeriesKey, tuple[set[Granularity], int]] = {}
    for meter_id, direction, register, granularity, unit in rows:
        entry = found.setdefault(SeriesKey(meter_id, direction, register), (set(), unit))
        entry[0].add(granularity)
    return [SeriesShape(key, frozenset(g), unit) for key, (g, unit) in found.items()]


def assemble(
    blocks: Sequence[DayBlock],
    window: ReadWindow,
    shapes: Sequence[SeriesShape] = (),
    factors: Mapping[date, GasFactor] | None = None,
) -> list[Series]:
    """The series of ``blocks`` (an EAN's blocks of the window's days, as
    :func:`~datahub_api.meter_data.repository.read_blocks` returns them) over ``window``,
    ordered by meter, direction and register. ``shapes`` (of a longer read this window is a
    piece of) add all-gap series for keys without blocks here and fix which stored
    granularity feeds each series, so every piece has the same series. With ``factors`` (the
    calorific values by gas day), every m3 series is followed by its energy in kWh."""
    by_key: dict[SeriesKey, list[DayBlock]] = {shape.key: [] for shape in shapes}
    for block in blocks:
        key = SeriesKey(block.key.meter_id, block.key.direction, block.key.register)
        by_key.setdefault(key, []).append(block)
    known = {shape.key: shape for shape in shapes}
    result = []
    for key in sorted(by_key, key=lambda k: (k.meter_id, k.direction, k.register)):
        key_blocks = by_key[key]
        shape = known.get(key)
        stored = shape.granularities if shape else {b.key.granularity for b in key_blocks}
        source = _source_granularity(window.granularity, set(stored))
        chosen = [b for b in key_blocks if b.key.granularity is source]
        unit = shape.unit if shape else chosen[0].unit
        series = _new_series(key, window, source, unit)
        if unit != StoredUnit.litre:
            for block in chosen:
                _add_block(series, block)
            _finish(series, series._parts_present)
            result.append(series)
            continue
        energy = None
        if factors is not None:
            energy = _new_series(key, window, source, StoredUnit.Wh)
            energy.conversion = [None] * len(energy.values)
        energy_present = [0] * len(series.values)
        starts = [start for start, _ in series.bucket_bounds()]
        for block in chosen:
            _add_gas_block(series, energy, block, factors or {}, energy_present, starts)
        _finish(series, series._parts_present)
        result.append(series)
        if energy is not None:
            _finish(energy, energy_present)
            result.append(energy)
    return result


def _finish(series: Series, present: list[int]) -> None:
    series.complete = [
        count == expected for count, expected in zip(present, series._parts_expected, strict=True)
    ]
