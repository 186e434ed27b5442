"""Day blocks become series over a window: every bucket present, sums, worst states,
completeness, both DST days."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from datahub_api.brussels_days import day_start
from datahub_api.errors import UnprocessableContent
from datahub_api.meter_data.blocks import BlockKey, DayBlock, expected_slots
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, ValidationState
from datahub_api.meter_data.series import (
    ReadWindow,
    assemble,
    month_chunks,
    parse_bound,
)

EAN = "541448800000000011"
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def block(
    day: date,
    values: list[int | None],
    *,
    granularity: Granularity = Granularity.PT15M,
    direction: Direction = Direction.offtake,
    states: list[int | None] | None = None,
) -> DayBlock:
    return DayBlock(
        key=BlockKey(EAN, "M1", direction, Register.total, granularity, day),
        id=1,
        unit=1,
        expected_slots=expected_slots(day, granularity),
        filled_slots=sum(v is not None for v in values),
        version=1,
        first_inserted_at=NOW,
        last_inserted_at=NOW,
        completed_at=None,
        values=values,
        states=states or [None if v is None else ValidationState.READ for v in values],
    )


def full_day(day: date, value: int = 10, granularity: Granularity = Granularity.PT15M) -> DayBlock:
    return block(day, [value] * expected_slots(day, granularity), granularity=granularity)


def window(first: date, end: date, granularity: Granularity) -> ReadWindow:
    return ReadWindow.checked(day_start(first), day_start(end), granularity)


@pytest.mark.parametrize(("day", "quarters", "hours"), [(SPRING, 92, 23), (AUTUMN, 100, 25)])
def test_dst_days_have_92_or_100_quarter_hours_and_23_or_25_hours(
    day: date, quarters: int, hours: int
) -> None:
    blocks = [full_day(day)]
    next_day = day + timedelta(days=1)
    (quarter,) = assemble(blocks, window(day, next_day, Granularity.PT15M))
    (hour,) = assemble(blocks, window(day, next_day, Granularity.PT1H))
    (daily,) = assemble(blocks, window(day, next_day, Granularity.P1D))
    assert len(quarter.values) == quarters
    assert len(hour.values) == hours
    assert hour.values == [40] * hours
    assert daily.values == [10 * quarters]
    assert all(daily.complete)
    bounds = list(quarter.bucket_bounds())
    assert bounds[0][0] == day_start(day)
    assert bounds[-1][1] == day_start(next_day)


def test_gaps_stay_null_and_make_the_bucket_incomplete() -> None:
    day = date(2026, 6, 1)
    values: list[int | None] = [5] * 96
    values[1] = None
    (hour,) = assemble([block(day, values)], window(day, date(2026, 6, 2), Granularity.PT1H))
    assert hour.values[0] == 15
    assert hour.complete[0] is False
    assert hour.incomplete_buckets() == [0]
    (quarter,) = assemble([block(day, values)], window(day, date(2026, 6, 2), Granularity.PT15M))
    assert quarter.values[1] is None
    assert quarter.states[1] is None


def test_a_day_without_blocks_is_a_null_bucket_not_a_missing_one() -> None:
    first = date(2026, 6, 1)
    (daily,) = assemble(
        [full_day(first), full_day(date(2026, 6, 3))],
        window(first, date(2026, 6, 4), Granularity.P1D),
    )
    assert daily.values == [960, None, 960]
    assert daily.complete == [True, False, True]


def test_sums_carry_the_worst_validation_state() -> None:
    day = date(2026, 6, 1)
    states: list[int | None] = [ValidationState.VAL] * 96
    states[10] = ValidationState.EST
    (daily,) = assemble(
        [block(day, [1] * 96, states=states)], window(day, date(2026, 6, 2), Granularity.P1D)
    )
    assert daily.states == [ValidationState.EST]
    states[20] = ValidationState.NVAL
    (daily,) = assemble(
        [block(day, [1] * 96, states=states)], window(day, date(2026, 6, 2), Granularity.P1D)
    )
    assert daily.states == [ValidationState.NVAL]


def test_months_follow_the_brussels_calendar() -> None:
    days = [date(2026, 3, 1) + timedelta(days=n) for n in range(61)]  # March and April
    (monthly,) = assemble(
        [full_day(day, 1) for day in days],
        window(date(2026, 3, 1), date(2026, 5, 1), Granularity.P1M),
    )
    assert monthly.values == [31 * 96 - 4, 30 * 96]
    assert monthly.complete == [True, True]
    assert [start for start, _ in monthly.bucket_bounds()] == [
        day_start(date(2026, 3, 1)),
        day_start(date(2026, 4, 1)),
    ]


def test_a_window_inside_a_day_is_clipped() -> None:
    day = date(2026, 6, 1)
    start = day_start(day) + timedelta(hours=2)
    (quarter,) = assemble(
        [block(day, list(range(96)))],
        ReadWindow.checked(start, start + timedelta(hours=1), Granularity.PT15M),
    )
    assert quarter.values == [8, 9, 10, 11]


def test_the_asked_granularity_is_preferred_when_stored() -> None:
    day = date(2026, 6, 1)
    blocks = [full_day(day, 1), block(day, [500], granularity=Granularity.P1D)]
    (daily,) = assemble(blocks, window(day, date(2026, 6, 2), Granularity.P1D))
    assert daily.values == [500]


def test_series_stored_coarser_is_served_at_its_own_step() -> None:
    day = date(2026, 6, 1)
    hourly = block(day, [100] * 24, granularity=Granularity.PT1H)
    (gas,) = assemble([hourly], window(day, date(2026, 6, 2), Granularity.PT15M))
    assert gas.granularity is Granularity.PT1H
    assert len(gas.values) == 24


def test_series_are_per_direction() -> None:
    day = date(2026, 6, 1)
    blocks = [full_day(day), block(day, [1] * 96, direction=Direction.injection)]
    series = assemble(blocks, window(day, date(2026, 6, 2), Granularity.PT15M))
    assert [s.key.direction for s in series] == [Direction.offtake, Direction.injection]


@pytest.mark.parametrize(
    ("start", "granularity"),
    [
        (datetime(2026, 6, 1, 0, 7, tzinfo=UTC), Granularity.PT15M),
        (datetime(2026, 6, 1, 0, 15, tzinfo=UTC), Granularity.PT1H),
        (datetime(2026, 6, 1, 0, 0, tzinfo=UTC), Granularity.P1D),  # 02:00 in Brussels
        (day_start(date(2026, 6, 2)), Granularity.P1M),
    ],
)
def test_windows_off_the_grid_are_refused(start: datetime, granularity: Granularity) -> None:
    with pytest.raises(UnprocessableContent):
        ReadWindow.checked(start, start + timedelta(days=40), granularity)


def test_empty_window_is_refused() -> None:
    start = day_start(date(2026, 6, 1))
    with pytest.raises(UnprocessableContent):
        ReadWindow.checked(start, start, Granularity.P1D)


def test_month_chunks_cover_the_window_exactly() -> None:
    whole = ReadWindow.checked(
        day_start(date(2026, 1, 15)), day_start(date(2026, 4, 3)), Granularity.PT15M
    )
    chunks = list(month_chunks(whole))
    assert chunks[0].start == whole.start
    assert chunks[-1].end == whole.end
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
    assert sum(chunk.bucket_count() for chunk in chunks) == whole.bucket_count()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-29", datetime(2026, 3, 28, 23, tzinfo=UTC)),
        ("2026-10-25T00:00:00+02:00", datetime(2026, 10, 24, 22, tzinfo=UTC)),
        ("2026-10-25T01:00:00Z", datetime(2026, 10, 25, 1, tzinfo=UTC)),
        ("2026-10-25T02:00:00 01:00", datetime(2026, 10, 25, 1, tzinfo=UTC)),  # '+' unescaped
    ],
)
def test_bounds_are_dates_or_instants_with_offset(text: str, expected: datetime) -> None:
    assert parse_bound(text, "from") == expected


@pytest.mark.parametrize("text", ["2026-10-25T02:30:00", "yesterday", "2026-13-01", ""])
def test_bounds_without_offset_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(UnprocessableContent):
        parse_bound(text, "from")
