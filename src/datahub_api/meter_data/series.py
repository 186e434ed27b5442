"""Metering data as time series for a window: what every retrieval face serves.

A read asks for an EAN, a window ``[start, end)`` and a granularity (``PT15M``, ``PT1H``,
``P1D`` or ``P1M``). The day blocks of the window become one :class:`Series` per (meter,
direction, register), each with a bucket for **every** step of the window: a gap is a
``None`` value, never zero, and never a missing bucket. So a Brussels DST day has 92 or 100
quarter-hours (23 or 25 hours), on every face.

Which stored blocks feed a series: those of the asked granularity when the series has them;
otherwise the coarsest stored granularity finer than asked, summed per bucket; a series only
stored coarser than asked (gas is metered hourly) is served at its own step. A summed bucket
holds the sum of the values present, the *worst* validation state of its parts
(:data:`STATE_SEVERITY`), and is *complete* only when every part held a value.

Hours and quarter-hours are UTC-aligned (Brussels offsets are whole hours), so buckets are
counted in fixed steps from the window's start; days and months follow the Brussels
calendar.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from datahub_api.brussels_days import brussels_date, day_start, days_between
from datahub_api.errors import UnprocessableContent
from datahub_api.mandates.access import Granularity as ReadGranularity
from datahub_api.meter_data.blocks import SLOT_LENGTH, expected_slots, slot_start
from datahub_api.meter_data.models import (
    Direction,
    Granularity,
    Register,
    StoredUnit,
    ValidationState,
)
from datahub_api.meter_data.repository import DayBlock

__all__ = [
    "STATE_SEVERITY",
    "UNIT_NAMES",
    "ReadGranularity",
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

# Worst first when summing: failed validation, estimate, read (not validated), validated.
STATE_SEVERITY: dict[int, int] = {
    ValidationState.VAL: 0,
    ValidationState.READ: 1,
    ValidationState.EST: 2,
    ValidationState.NVAL: 3,
}

UNIT_NAMES: dict[int, str] = {
    StoredUnit.Wh: "kWh",
    StoredUnit.varh: "kVArh",
    StoredUnit.litre: "m3",
}

# The stored granularity a read granularity is served from without summing.
_STORED: dict[ReadGranularity, Granularity] = {
    ReadGranularity.quarter_hour: Granularity.PT15M,
    ReadGranularity.hour: Granularity.PT1H,
    ReadGranularity.day: Granularity.P1D,
}
_AS_READ: dict[Granularity, ReadGranularity] = {stored: read for read, stored in _STORED.items()}
_FIXED_STEP: dict[ReadGranularity, timedelta] = {
    ReadGranularity.quarter_hour: timedelta(minutes=15),
    ReadGranularity.hour: timedelta(hours=1),
}
_FINENESS = [ReadGranularity.quarter_hour, ReadGranularity.hour, ReadGranularity.day]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class ReadWindow:
    """``[start, end)`` in UTC, on the grid of ``granularity``."""

    start: datetime
    end: datetime
    granularity: ReadGranularity

    @classmethod
    def checked(cls, start: datetime, end: datetime, granularity: ReadGranularity) -> ReadWindow:
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
        return brussels_date(self.start)

    @property
    def end_day(self) -> date:
        """The first Brussels day after the window (exclusive)."""
        last = brussels_date(self.end - timedelta(microseconds=1))
        return last + timedelta(days=1)

    def bucket_count(self) -> int:
        step = _FIXED_STEP.get(self.granularity)
        if step is not None:
            return (self.end - self.start) // step
        if self.granularity is ReadGranularity.day:
            return (self.end_day - self.first_day).days
        return len(self._month_starts())

    def bucket_start(self, index: int) -> datetime:
        """The UTC instant at which bucket ``index`` starts."""
        step = _FIXED_STEP.get(self.granularity)
        if step is not None:
            return self.start + index * step
        if self.granularity is ReadGranularity.day:
            return day_start(self.first_day + timedelta(days=index))
        month = self.first_day
        for _ in range(index):
            month = _next_month(month)
        return day_start(month)

    def bucket_bounds(self) -> Iterator[tuple[datetime, datetime]]:
        """``(start, end)`` of every bucket, in order."""
        step = _FIXED_STEP.get(self.granularity)
        if step is not None:
            start = self.start
            for _ in range(self.bucket_count()):
                yield start, start + step
                start += step
            return
        if self.granularity is ReadGranularity.day:
            for day in days_between(self.first_day, self.end_day):
                yield day_start(day), day_start(day + timedelta(days=1))
            return
        month = self.first_day
        for _ in range(self.bucket_count()):
            following = _next_month(month)
            yield day_start(month), day_start(following)
            month = following

    def _month_starts(self) -> list[date]:
        months, month = [], self.first_day
        while month < self.end_day:
            months.append(month)
            month = _next_month(month)
        return months


_GRID_HINT = {
    ReadGranularity.quarter_hour: "minutes 00, 15, 30 or 45, no seconds.",
    ReadGranularity.hour: "a whole hour.",
    ReadGranularity.day: "midnight in Brussels (give a date).",
    ReadGranularity.month: "midnight in Brussels on the first of a month.",
}


def parse_bound(text: str, name: str) -> datetime:
    """A window bound from a query: a date is Brussels midnight; an instant must carry an
    offset (a local time without one is ambiguous on DST days and refused with a 422)."""
    try:
        if len(text) == 10:
            return day_start(date.fromisoformat(text))
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
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


def _on_grid(instant: datetime, granularity: ReadGranularity) -> bool:
    step = _FIXED_STEP.get(granularity)
    if step is not None:
        return instant.timestamp() % step.total_seconds() == 0
    day = brussels_date(instant)
    if day_start(day) != instant:
        return False
    return granularity is ReadGranularity.day or day.day == 1


def month_chunks(window: ReadWindow) -> Iterator[ReadWindow]:
    """The window cut at Brussels month starts (each piece is on the window's grid): how
    long ranges are read and streamed a month of blocks at a time."""
    start = window.start
    while start < window.end:
        boundary = day_start(_next_month(brussels_date(start)))
        end = min(boundary, window.end)
        yield ReadWindow(start, end, window.granularity)
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
    granularity: ReadGranularity
    unit: StoredUnit
    window: ReadWindow
    values: list[int | None]
    states: list[int | None]
    complete: list[bool]
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


def _source_granularity(asked: ReadGranularity, stored: set[Granularity]) -> Granularity:
    """The stored granularity a series is read from (see the module docstring)."""
    exact = _STORED.get(asked)
    if exact in stored:
        return exact
    finer = [
        granularity
        for granularity in stored
        if _FINENESS.index(_AS_READ[granularity]) < _fineness(asked)
    ]
    if finer:
        return max(finer, key=lambda g: _FINENESS.index(_AS_READ[g]))
    return min(stored, key=lambda g: _FINENESS.index(_AS_READ[g]))


def _fineness(granularity: ReadGranularity) -> int:
    return len(_FINENESS) if granularity is ReadGranularity.month else _FINENESS.index(granularity)


def _expected_parts(window: ReadWindow, source: Granularity) -> list[int]:
    """How many stored slots make up each bucket of the window."""
    step = _FIXED_STEP.get(window.granularity)
    count = window.bucket_count()
    if step is not None:
        return [step // SLOT_LENGTH[source]] * count
    days = list(days_between(window.first_day, window.end_day))
    per_day = [expected_slots(day, source) for day in days]
    if window.granularity is ReadGranularity.day:
        return per_day
    parts: dict[date, int] = {}
    for day, slots in zip(days, per_day, strict=True):
        month = _month_start(day)
        parts[month] = parts.get(month, 0) + slots
    return list(parts.values())


def _widened(window: ReadWindow, granularity: ReadGranularity) -> ReadWindow:
    """The smallest window on ``granularity``'s grid that holds ``window``."""
    step = _FIXED_STEP.get(granularity)
    if step is not None:
        seconds = int(step.total_seconds())
        start = window.start - timedelta(seconds=int(window.start.timestamp()) % seconds)
        overshoot = int(window.end.timestamp()) % seconds
        end = window.end + timedelta(seconds=seconds - overshoot) if overshoot else window.end
        return ReadWindow(start, end, granularity)
    return ReadWindow(day_start(window.first_day), day_start(window.end_day), granularity)


def served_window(window: ReadWindow, granularity: ReadGranularity) -> ReadWindow:
    """The window a series served at ``granularity`` spans when ``window`` was asked:
    ``window`` itself, or widened to the grid of a coarser step (a series stored only
    coarser than asked, see :func:`assemble`)."""
    if granularity is window.granularity:
        return window
    return _widened(window, granularity)


def _bucket_of_day(window: ReadWindow, day: date) -> int:
    if window.granularity is ReadGranularity.day:
        return (day - window.first_day).days
    first = window.first_day
    return (day.year - first.year) * 12 + day.month - first.month


def _new_series(key: SeriesKey, window: ReadWindow, source: Granularity, unit: int) -> Series:
    asked = window.granularity
    own = _AS_READ[source]
    if _fineness(own) > _fineness(asked):  # only stored coarser: served at its own step
        window = _widened(window, own)
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


def _add_block(series: Series, block: DayBlock) -> None:
    window = series.window
    values, states, present = series.values, series.states, series._parts_present
    step = _FIXED_STEP.get(window.granularity)
    source = block.key.granularity
    if step is not None:
        slot_length = SLOT_LENGTH[source]
        per_bucket = step // slot_length
        first = (slot_start(block.key.day, source, 0) - window.start) // slot_length
        count = len(values) * per_bucket
        indexes = range(max(0, -first), min(len(block.values), count - first))
    else:
        bucket = _bucket_of_day(window, block.key.day)
        indexes = range(len(block.values))
    for index in indexes:
        value = block.values[index]
        if value is None:
            continue
        if step is not None:
            bucket = (first + index) // per_bucket
        stored = values[bucket]
        values[bucket] = value if stored is None else stored + value
        state = block.states[index]
        previous = states[bucket]
        if previous is None or (
            state is not None and STATE_SEVERITY[state] > STATE_SEVERITY[previous]
        ):
            states[bucket] = state
        present[bucket] += 1


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
    blocks: Sequence[DayBlock], window: ReadWindow, shapes: Sequence[SeriesShape] = ()
) -> list[Series]:
    """The series of ``blocks`` (an EAN's blocks of the window's days, as
    :func:`~datahub_api.meter_data.repository.read_blocks` returns them) over ``window``,
    ordered by meter, direction and register. ``shapes`` (of a longer read this window is a
    piece of) add all-gap series for keys without blocks here and fix which stored
    granularity feeds each series, so every piece has the same series."""
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
        for block in chosen:
            _add_block(series, block)
        series.complete = [
            present == expected
            for present, expected in zip(series._parts_present, series._parts_expected, strict=True)
        ]
        result.append(series)
    return result
