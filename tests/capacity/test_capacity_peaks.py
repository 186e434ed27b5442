"""Monthly capacity peaks, the rule alone (``capacity/peaks.py``): Brussels months with their
DST days, gaps and empty months, the 2.5 kW minimum, the rolling 12-month average, meters and
registers summed, and only the released quarter-hours counted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from datahub_api.brussels_days import day_start, days_between
from datahub_api.capacity.peaks import (
    OfftakeDay,
    add_months,
    month_peaks,
    months_between,
    next_month,
    quarter_hours_in,
    rolling_average,
)
from datahub_api.meter_data.blocks import expected_slots
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Register, ValidationState

MARCH, OCTOBER, JUNE = date(2026, 3, 1), date(2026, 10, 1), date(2026, 6, 1)
READ = ValidationState.READ


def day(
    when: date,
    value: int = 100,
    *,
    meter: str = "M1",
    register: Register = Register.total,
    state: ValidationState = ValidationState.VAL,
    peaks: dict[int, int] | None = None,
    gaps: set[int] | frozenset[int] = frozenset(),
) -> OfftakeDay:
    """A day block with ``value`` Wh every quarter-hour, ``peaks`` {slot: Wh}, no ``gaps``."""
    slots = expected_slots(when, Granularity.PT15M)
    values: list[int | None] = [
        None if index in gaps else (peaks or {}).get(index, value) for index in range(slots)
    ]
    states: list[int | None] = [None if v is None else int(state) for v in values]
    return OfftakeDay(meter, register, when, values, states)


def month(first: date, value: int = 100) -> list[OfftakeDay]:
    return [day(d, value) for d in days_between(first, next_month(first))]


def everything() -> tuple[datetime, datetime]:
    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def test_dst_months_count_92_and_100_quarter_hours_on_the_clock_change_days() -> None:
    assert quarter_hours_in(MARCH) == 31 * 96 - 4
    assert quarter_hours_in(OCTOBER) == 31 * 96 + 4
    assert quarter_hours_in(JUNE) == 30 * 96
    [march, october] = month_peaks(
        [*month(MARCH), *month(OCTOBER)], [MARCH, OCTOBER], *everything()
    )
    assert (march.quarter_hours, march.quarter_hours_expected) == (2972, 2972)
    assert (october.quarter_hours, october.quarter_hours_expected) == (2980, 2980)
    assert march.completeness == october.completeness == "complete"


def test_a_peak_on_the_spring_day_is_at_its_utc_instant() -> None:
    spring = date(2026, 3, 29)  # 02:00 -> 03:00: slot 8 starts at 03:00 CEST
    blocks = [b for b in month(MARCH) if b.day != spring] + [day(spring, peaks={8: 1500})]
    [peak] = month_peaks(blocks, [MARCH], *everything())
    assert peak.peak_wh == 1500
    assert peak.peak_kw == Decimal("6.000")  # 1.5 kWh in a quarter-hour = 6 kW
    assert peak.at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert peak.at == day_start(spring) + timedelta(hours=2)


def test_the_repeated_autumn_hour_is_told_apart() -> None:
    autumn = date(2026, 10, 25)  # 03:00 -> 02:00: slots 8-11 and 12-15 are both 02:xx local
    blocks = [b for b in month(OCTOBER) if b.day != autumn]
    blocks.append(day(autumn, peaks={9: 900, 13: 1000}))
    [peak] = month_peaks(blocks, [OCTOBER], *everything())
    assert peak.peak_wh == 1000
    assert peak.at == datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 CET, the second one
    assert peak.quarter_hours == 2980


def test_a_month_with_gaps_has_the_peak_of_what_is_there_and_says_what_is_missing() -> None:
    blocks = [b for b in month(JUNE) if b.day not in (date(2026, 6, 3), date(2026, 6, 4))]
    blocks.append(day(date(2026, 6, 3), gaps=set(range(10)), peaks={20: 700}))
    [peak] = month_peaks(blocks, [JUNE], *everything())
    assert peak.quarter_hours == 30 * 96 - 96 - 10
    assert peak.quarter_hours_expected == 2880
    assert peak.completeness == "incomplete"
    assert not peak.complete
    assert peak.peak_wh == 700


def test_a_month_without_quarter_hours_has_no_peak_not_a_zero() -> None:
    [empty] = month_peaks([], [JUNE], *everything())
    assert (empty.peak_wh, empty.peak_kw, empty.billed_kw) == (None, None, None)
    assert (empty.at, empty.state) == (None, None)
    assert (empty.quarter_hours, empty.completeness) == (0, "empty")
    # A month of zeros does have a peak: 0 kW, billed at the minimum.
    [zeros] = month_peaks(month(JUNE, 0), [JUNE], *everything())
    assert zeros.peak_kw == Decimal("0.000")
    assert zeros.billed_kw == Decimal("2.5")


def test_the_billed_value_is_at_least_2_5_kw() -> None:
    [low] = month_peaks(month(JUNE, 300), [JUNE], *everything())  # 0.3 kWh -> 1.2 kW
    assert low.peak_kw == Decimal("1.200")
    assert low.billed_kw == Decimal("2.5")
    [high] = month_peaks(month(JUNE, 1001), [JUNE], *everything())  # 4.004 kW
    assert high.billed_kw == Decimal("4.004")


def test_the_rolling_average_is_over_the_12_months_up_to_the_month_with_a_peak() -> None:
    months = months_between(date(2025, 5, 1), date(2026, 6, 1))  # 14 months
    assert len(months) == 14
    blocks = []
    for index, first in enumerate(months):
        if first == date(2025, 9, 1):
            continue  # no data at all: left out of the average
        # 250 Wh = 1 kW (billed 2.5) for the first two months, then 1000 + 250 * index Wh.
        wh = 250 if index < 2 else 1000 + 250 * index
        blocks.append(day(first, wh))
    peaks = month_peaks(blocks, months, *everything())
    average, counted = rolling_average(peaks, date(2026, 6, 1))
    # The 12 months up to June 2026 are July 2025 (index 2) to June 2026 (index 13), minus
    # September 2025 (index 4): kW = 4 + index for each.
    expected = [Decimal(4 + index) for index in range(2, 14) if index != 4]
    assert counted == [m for m in months[2:] if m != date(2025, 9, 1)]
    assert average == (sum(expected, Decimal(0)) / len(expected)).quantize(Decimal("0.001"))
    # Up to June 2025 (two months of 1 kW, billed 2.5 each): 2.5.
    early, counted_early = rolling_average(peaks, date(2025, 6, 1))
    assert (early, len(counted_early)) == (Decimal("2.500"), 2)
    assert rolling_average(peaks, date(2020, 1, 1)) == (None, [])


def test_meters_are_summed_and_a_total_register_wins_over_day_and_night() -> None:
    when = date(2026, 6, 10)
    blocks = [
        day(when, 100, meter="M1", peaks={40: 400}),
        day(when, 100, meter="M2", register=Register.day, peaks={40: 300}, state=READ),
        day(when, 0, meter="M2", register=Register.night, peaks={41: 500}),
        # M1's day register is ignored: M1 has a total.
        day(when, 5000, meter="M1", register=Register.day),
    ]
    [peak] = month_peaks(blocks, [JUNE], *everything())
    assert peak.peak_wh == 700  # M1 400 + M2 day 300 + night 0 at slot 40
    assert peak.at == day_start(when) + timedelta(minutes=15 * 40)
    assert peak.state is ValidationState.READ  # the least validated of those summed
    assert peak.quarter_hours == 96


def test_the_state_is_the_least_validated_and_a_tie_goes_to_the_earliest() -> None:
    first, second = date(2026, 6, 2), date(2026, 6, 9)
    blocks = [
        day(first, 10, peaks={5: 800}, state=ValidationState.EST),
        day(first, 10, meter="M2", state=ValidationState.NVAL, gaps=set(range(96)) - {5}),
        day(second, 10, peaks={5: 810}),
    ]
    [peak] = month_peaks(blocks, [JUNE], *everything())
    assert (peak.peak_wh, peak.state) == (810, ValidationState.NVAL)
    assert peak.at == day_start(first) + timedelta(minutes=75)
    tie = [day(first, 10, peaks={3: 500}), day(second, 10, peaks={3: 500})]
    [tied] = month_peaks(tie, [JUNE], *everything())
    assert tied.at == day_start(first) + timedelta(minutes=45)


def test_only_the_quarter_hours_inside_the_counted_instants_count() -> None:
    moved_in = date(2026, 6, 12)
    blocks = [day(date(2026, 6, 5), peaks={0: 3000}), day(moved_in), day(date(2026, 6, 13))]
    start, end = day_start(moved_in) + timedelta(hours=6), day_start(date(2026, 7, 1))
    [peak] = month_peaks(blocks, [JUNE], start, end)
    assert peak.peak_wh == 100  # the 3 kWh of June 5th is a previous occupant's
    assert peak.quarter_hours == 96 - 24 + 96
    assert peak.completeness == "incomplete"


def test_month_arithmetic() -> None:
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert add_months(date(2026, 12, 1), 1) == date(2027, 1, 1)
    assert add_months(date(2000, 3, 1), -11) == date(1999, 4, 1)
    assert months_between(date(2025, 11, 1), date(2026, 2, 1)) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
