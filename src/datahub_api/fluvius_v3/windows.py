"""What the ``from`` and ``to`` of a ``/v3`` energy request mean.

Fluvius runs on ASP.NET, whose date-time binding takes about any ISO 8601 shape, and the
clients written for it send what their platform writes: the PyPI ``fluvius-energy-api``
writes every bound as UTC with ``Z`` (``2024-01-01T00:00:00Z`` .. ``2024-06-01T00:00:00Z``
for the days of January to May), EDDIE's Fluvius connector asks one day as
``<day>T00:00Z`` .. ``<day>T23:59:59Z``, .NET writes seven fraction digits
(``23:59:59.9999999Z``). This module reads them all as the caller meant them.

**Parsing.** A bound is a date (``2024-01-01``: that day in Brussels) or a date-time with
minutes, optional seconds and a fraction of any length (cut to microseconds), then ``Z``, an
offset (``+01:00``, ``+0100``, ``+01``; a ``+`` sent unescaped arrives as a space) or nothing
(a naive time is Brussels wall-clock time; in the repeated October hour its first pass).
A trailing ``[Europe/Brussels]`` zone name, as Java writes it, is ignored. Anything else is
unparseable: 400.

**Meaning** (``readTime``), in this order:

1. an *inclusive end*: a ``to`` in the last second of a minute (``23:59:59``,
   ``23:59:59.9999999``, ``10:14:59``) ends at the next whole minute;
2. a *midnight names a day*: a bound that is midnight on the clock it is written in (UTC for
   ``Z``, the offset's clock, Brussels for a naive time or a date) or a Brussels midnight
   written in any offset (``2023-12-31T23:00:00Z``) is the start of that day in Brussels,
   for every granularity; for gas, a gas-day start (06:00 Brussels) is that gas day;
3. *otherwise the grid*: each granularity asked widens the window to its own grid, ``from``
   down and ``to`` up (a quarter-hour, an hour, a day; a gas day for daily gas), so every
   slot the window touches is served.

Days are then read as gas days for a gas EAN (:meth:`ReadWindow.as_gas`). A window whose
``to`` is not later than its ``from``, as written or once placed on the grid, is a 400.
``insertTime`` bounds are parsed the same way and used as the instants they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from datahub_api.brussels_days import (
    BRUSSELS,
    brussels_date,
    day_start,
    gas_date,
    gas_day_start,
)
from datahub_api.iso_dates import check_instant
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.series import ReadWindow

_BOUND = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>[Zz]|[+\- ]\d{2}(?::?\d{2})?)?"
    r"(?:\[[A-Za-z0-9_/+\-]+\])?)?"
)
_STEPS = {
    Granularity.PT15M: timedelta(minutes=15),
    Granularity.PT1H: timedelta(hours=1),
}
_MIDNIGHT = time(0)


class UnreadableBound(ValueError):
    """A bound that is no date-time."""


@dataclass(frozen=True)
class Bound:
    """One bound as the caller meant it: ``instant`` (UTC) and, when it is a midnight of
    the clock it was written in or of Brussels, the Brussels ``day`` it names; for gas,
    the gas day when it is 06:00 in Brussels."""

    instant: datetime
    day: date | None = None
    gas_day: date | None = None

    @classmethod
    def at(cls, instant: datetime, written: datetime | None = None) -> Bound:
        """The bound at a UTC ``instant``; ``written``: the same instant on the caller's
        clock."""
        day = None
        if written is not None and written.timetz().replace(tzinfo=None) == _MIDNIGHT:
            day = written.date()
        elif day_start(brussels_date(instant)) == instant:
            day = brussels_date(instant)
        gas_day = gas_date(instant) if gas_day_start(gas_date(instant)) == instant else None
        return cls(instant, day, gas_day)

    def start(self, granularity: Granularity, *, gas: bool) -> datetime:
        """Where a window starting at this bound starts on the granularity's grid."""
        if self.day is not None:
            return day_start(self.day)
        return _floor(self.instant, granularity, self.gas_day, gas=gas)

    def end(self, granularity: Granularity, *, gas: bool) -> datetime:
        """Where a window ending at this bound ends on the granularity's grid (exclusive)."""
        if self.day is not None:
            return day_start(self.day)
        floor = _floor(self.instant, granularity, self.gas_day, gas=gas)
        if floor == self.instant or (gas and self.gas_day and granularity is Granularity.P1D):
            return floor
        step = _STEPS.get(granularity)
        if step is not None:
            return floor + step
        return day_start(brussels_date(floor) + timedelta(days=1))


def _floor(
    instant: datetime, granularity: Granularity, gas_day: date | None, *, gas: bool
) -> datetime:
    step = _STEPS.get(granularity)
    if step is not None:
        seconds = int(step.total_seconds())
        whole = instant.replace(microsecond=0)
        return whole - timedelta(seconds=int(whole.timestamp()) % seconds)
    if gas:  # a day of gas: the Brussels midnight that ReadWindow.as_gas moves to its 06:00
        return day_start(gas_day if gas_day is not None else gas_date(instant))
    return day_start(brussels_date(instant))


def _zone(text: str | None) -> tzinfo:
    if text is None:
        return BRUSSELS
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise UnreadableBound(text)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_bound(raw: str, *, inclusive_end: bool = False) -> Bound:
    """A bound as the caller meant it (see the module docstring); ``inclusive_end`` for a
    ``to``. :class:`UnreadableBound` when it is no date-time, :class:`OutOfRange` when it
    lies outside the service's calendar (``iso_dates``)."""
    found = _BOUND.fullmatch(raw.strip())
    if found is None:
        raise UnreadableBound(raw)
    try:
        day = date.fromisoformat(found["date"])
        if found["hour"] is None:
            written = datetime.combine(day, _MIDNIGHT, tzinfo=BRUSSELS)
        else:
            fraction = (found["fraction"] or "").ljust(6, "0")[:6]
            written = datetime(
                day.year,
                day.month,
                day.day,
                int(found["hour"]),
                int(found["minute"]),
                int(found["second"] or 0),
                int(fraction),
                tzinfo=_zone(found["zone"]),
            )
    except ValueError as error:
        raise UnreadableBound(raw) from error
    check_instant(written)  # OutOfRange: the service's calendar, before any arithmetic
    if inclusive_end and written.second == 59:
        # Wall-clock arithmetic on the caller's clock: 23:59:59 ends at the next midnight.
        written = written.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if written.tzinfo is BRUSSELS:  # normalise a wall time the clock change skipped
            written = written.astimezone(UTC).astimezone(BRUSSELS)
    return Bound.at(written.astimezone(UTC), written)


@dataclass(frozen=True)
class WindowRequest:
    """The two bounds of a ``readTime`` request."""

    first: Bound
    last: Bound

    def window(self, granularity: Granularity, *, gas: bool) -> ReadWindow:
        """The window read at ``granularity`` (Brussels days; the caller moves them to gas
        days), possibly empty (``end <= start``)."""
        return ReadWindow(
            self.first.start(granularity, gas=gas), self.last.end(granularity, gas=gas), granularity
        )


def default_bounds(first: Bound | None, last: Bound | None, today: date) -> WindowRequest:
    """Absent bounds: ``to`` the start of today in Brussels, ``from`` the start of the
    Brussels day before ``to``."""
    if last is None:
        last = Bound.at(day_start(today), datetime.combine(today, _MIDNIGHT, tzinfo=BRUSSELS))
    if first is None:
        before = brussels_date(last.instant - timedelta(microseconds=1))
        if last.day is not None:
            before = last.day - timedelta(days=1)
        first = Bound.at(day_start(before), datetime.combine(before, _MIDNIGHT, tzinfo=BRUSSELS))
    return WindowRequest(first, last)


def period_bound(value: datetime, *, end: bool) -> datetime:
    """A mandate's ``dataPeriodFrom`` / ``dataPeriodTo`` read by the same rule: a bound that
    names a day (``2024-01-01T00:00:00Z``, ``2026-12-31T23:59:59Z`` as an end) is that
    Brussels day's start; another instant stays as it is (a naive one is Brussels time)."""
    written = value if value.tzinfo is not None else value.replace(tzinfo=BRUSSELS)
    if end and written.second == 59:
        written = written.replace(second=0, microsecond=0) + timedelta(minutes=1)
    bound = Bound.at(written.astimezone(UTC), written)
    return day_start(bound.day) if bound.day is not None else bound.instant
