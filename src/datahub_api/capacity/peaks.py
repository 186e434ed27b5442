"""Monthly capacity peaks (Flemish *capaciteitstarief*), computed from quarter-hour day blocks.

The rules, as the issue and the Flemish tariff state them:

* the **peak of a month** is its highest quarter-hour average offtake power: the quarter-hour's
  offtake energy in kWh times 4, in kW; offtake summed over the access point's meters, and per
  meter over its ``total`` register (or its ``day`` and ``night`` registers when it has no
  total), in Europe/Brussels months (a DST month has 92 or 100 quarter-hours on its clock-change
  day); the earliest quarter-hour wins a tie;
* the **billed value** of a month is its peak, at least :data:`MINIMUM_KW` (2.5 kW);
* the **rolling 12-month average** is the mean of the billed values of the 12 months up to
  the last month asked, over the months that have a peak (a new meter has fewer).

A month without any quarter-hour value has **no** peak (``None``), never a zero; a month with
some quarter-hours missing has the peak of those present and says how many are missing
(:attr:`MonthPeak.quarter_hours` against :attr:`MonthPeak.quarter_hours_expected`). The
validation state of a peak is that of its quarter-hour; where meters or registers summed into
it differ, the least validated one (``NVAL`` before ``EST`` before ``READ`` before ``VAL``).

Everything here is pure: callers hand in the blocks and the instants ``[start, end)`` whose
quarter-hours count (what the reader's grant releases), so one rule serves every face.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from datahub_api.brussels_days import day_start, days_between
from datahub_api.meter_data.blocks import expected_slots
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Register, ValidationState
from datahub_api.meter_data.sums import worst_state

MINIMUM_KW = Decimal("2.5")
"""The billed monthly peak is at least this (the Flemish capacity tariff's minimum)."""
ROLLING_MONTHS = 12
QUARTER_HOUR = timedelta(minutes=15)
KW_PER_WH = Decimal(4) / Decimal(1000)  # Wh in a quarter-hour -> average kW
THOUSANDTH = Decimal("0.001")

ENERGY_REGISTERS = (Register.total, Register.day, Register.night)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def add_months(month: date, count: int) -> date:
    """The first day of the month ``count`` months after (negative: before) ``month``."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """The first days of the months from ``first`` up to ``last``, both included."""
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def quarter_hours_in(month: date) -> int:
    """Quarter-hours of a Brussels month: 96 a day, 92 and 100 on the clock-change days."""
    return sum(
        expected_slots(day, Granularity.PT15M) for day in days_between(month, next_month(month))
    )


def kw(quarter_hour_wh: int) -> Decimal:
    """The average power of a quarter-hour's energy: kWh x 4."""
    return (Decimal(quarter_hour_wh) * KW_PER_WH).quantize(THOUSANDTH)


@dataclass(frozen=True)
class OfftakeDay:
    """One register's quarter-hour offtake of one meter on one Brussels day: a value in Wh
    per quarter-hour (None for a gap) and its :class:`ValidationState` code."""

    meter_id: str
    register: Register
    day: date
    values: Sequence[int | None]
    states: Sequence[int | None]


@dataclass(frozen=True)
class MonthPeak:
    """The capacity peak of one Brussels month (``month``: its first day)."""

    month: date
    peak_wh: int | None  # the peak quarter-hour's offtake in Wh; None: no value at all
    at: datetime | None  # when that quarter-hour starts (UTC)
    state: ValidationState | None
    quarter_hours: int  # quarter-hours of the month holding a value
    quarter_hours_expected: int

    @property
    def peak_kw(self) -> Decimal | None:
        return None if self.peak_wh is None else kw(self.peak_wh)

    @property
    def billed_kw(self) -> Decimal | None:
        peak = self.peak_kw
        return None if peak is None else max(peak, MINIMUM_KW)

    @property
    def complete(self) -> bool:
        return self.quarter_hours == self.quarter_hours_expected

    @property
    def completeness(self) -> str:
        """``complete``, ``incomplete`` (some quarter-hours missing) or ``empty`` (none)."""
        if self.quarter_hours == 0:
            return "empty"
        return "complete" if self.complete else "incomplete"

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


def _chosen(blocks: Sequence[OfftakeDay]) -> list[OfftakeDay]:
    """A meter's total register when it has one that day, else its day and night ones."""
    by_meter: dict[str, list[OfftakeDay]] = defaultdict(list)
    for block in blocks:
        by_meter[block.meter_id].append(block)
    chosen = []
    for mine in by_meter.values():
        totals = [b for b in mine if b.register is Register.total]
        chosen += totals or [b for b in mine if b.register in (Register.day, Register.night)]
    return chosen


@dataclass(frozen=True)
class _DayPeak:
    """The highest summed quarter-hour of one day inside the counted instants."""

    present: int  # quarter-hours holding a value
    best: int | None
    index: int  # the earliest quarter-hour holding ``best``
    state: ValidationState | None


def _state(blocks: Sequence[OfftakeDay], index: int) -> ValidationState:
    """The least validated state of the values summed into quarter-hour ``index``."""
    states = [
        ValidationState(b.states[index] or ValidationState.READ)
        for b in blocks
        if index < len(b.values) and b.values[index] is not None
    ]
    return worst_state(states)


def _day_peak(day: date, blocks: Sequence[OfftakeDay], start: datetime, end: datetime) -> _DayPeak:
    slots = expected_slots(day, Granularity.PT15M)
    first = day_start(day)
    low = max(0, -(-(start - first) // QUARTER_HOUR))  # first slot starting at or after start
    high = min(slots, -(-(end - first) // QUARTER_HOUR))  # slots starting before end
    chosen = _chosen(blocks)
    sums: Sequence[int | None]
    if len(chosen) == 1:  # the usual case: one meter's total register
        sums = chosen[0].values
    else:
        summed: list[int | None] = [None] * slots
        for block in chosen:
            for index, value in enumerate(block.values[:slots]):
                if value is not None:
                    total = summed[index]
                    summed[index] = value if total is None else total + value
        sums = summed
    counted = list(sums[low:high])
    present = len(counted) - counted.count(None)
    if not present:
        return _DayPeak(0, None, 0, None)
    if present == len(counted):  # no gap: compare in C
        best = max(cast(list[int], counted))
    else:
        best = max(value for value in counted if value is not None)
    index = low + counted.index(best)
    return _DayPeak(present, best, index, _state(chosen, index))


def month_peaks(
    blocks: Iterable[OfftakeDay], months: Sequence[date], start: datetime, end: datetime
) -> list[MonthPeak]:
    """The peak of each month of ``months`` (first days) from ``blocks``, counting only the
    quarter-hours starting in ``[start, end)``; the others are missing, like gaps."""
    by_day: dict[date, list[OfftakeDay]] = defaultdict(list)
    for block in blocks:
        if block.register in ENERGY_REGISTERS:
            by_day[block.day].append(block)
    peaks = []
    for month in months:
        best: int | None = None
        at: datetime | None = None
        state: ValidationState | None = None
        present = 0
        for day in days_between(month, next_month(month)):
            found = by_day.get(day)
            if not found:
                continue
            peak = _day_peak(day, found, start, end)
            present += peak.present
            if peak.best is not None and (best is None or peak.best > best):
                best, state = peak.best, peak.state
                at = day_start(day) + peak.index * QUARTER_HOUR
        peaks.append(MonthPeak(month, best, at, state, present, quarter_hours_in(month)))
    return peaks


def rolling_average(peaks: Sequence[MonthPeak], last: date) -> tuple[Decimal | None, list[date]]:
    """The mean billed value of the months with a peak among the :data:`ROLLING_MONTHS` up to
    ``last`` (None when none has one), and those months."""
    first = add_months(month_start(last), -(ROLLING_MONTHS - 1))
    counted = [p for p in peaks if first <= p.month <= last and p.billed_kw is not None]
    if not counted:
        return None, []
    total = sum((p.billed_kw for p in counted if p.billed_kw is not None), Decimal(0))
    average = (total / len(counted)).quantize(THOUSANDTH, rounding=ROUND_HALF_UP)
    return average, [p.month for p in counted]
