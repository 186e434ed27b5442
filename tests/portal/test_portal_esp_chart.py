"""The ESP chart's period picker and drawing, without a database: periods in Brussels days,
DST-correct buckets, gaps and estimates marked, gas at its own hourly step."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, StoredUnit, ValidationState
from datahub_api.meter_data.series import ReadWindow, Series, SeriesKey
from datahub_api.portal.esp_chart import (
    BadPeriod,
    Period,
    Span,
    chart_data,
    draw,
    nice_step,
    number,
    parse_period,
)
from datahub_api.portal.i18n import texts

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("span", "text", "first", "end"),
    [
        ("day", "2026-03-29", date(2026, 3, 29), date(2026, 3, 30)),
        ("week", "2026-03-29", date(2026, 3, 23), date(2026, 3, 30)),  # ISO week, Monday
        ("month", "2026-02-14", date(2026, 2, 1), date(2026, 3, 1)),
        ("month", "2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("year", "2024", date(2024, 1, 1), date(2025, 1, 1)),
        (None, None, TODAY, date(2026, 3, 11)),
    ],
)
def test_periods(span: str | None, text: str | None, first: date, end: date) -> None:
    period = parse_period(span, text, TODAY)
    assert (period.first, period.end) == (first, end)


@pytest.mark.parametrize(
    ("span", "text", "key"),
    [
        ("day", "2026-02-30", "bad_date"),
        ("day", "2026-13-01", "bad_date"),
        ("day", "tomorrow", "bad_date"),
        ("day", "2026-3-1", "bad_date"),
        ("day", "1999-12-31", "bad_year"),
        ("day", "2101-01-01", "bad_year"),
        ("fortnight", "2026-03-01", "bad_span"),
        ("", "2026-00", "bad_date"),
    ],
)
def test_nonsense_periods_are_refused(span: str, text: str, key: str) -> None:
    with pytest.raises(BadPeriod) as refused:
        parse_period(span, text, TODAY)
    assert refused.value.key == key
    assert f"esp_{key}" in texts("nl")
    assert f"esp_{key}" in texts("en")


@pytest.mark.parametrize(
    ("span", "anchor", "buckets"),
    [
        (Span.day, date(2026, 3, 29), 92),
        (Span.day, date(2026, 10, 25), 100),
        (Span.day, date(2026, 3, 10), 96),
        (Span.week, date(2026, 3, 29), 167),
        (Span.week, date(2026, 10, 25), 169),
        (Span.month, date(2026, 2, 1), 28),
        (Span.year, date(2026, 6, 1), 12),
    ],
)
def test_buckets_follow_brussels_days(span: Span, anchor: date, buckets: int) -> None:
    window = Period.holding(span, anchor).window()
    assert window.bucket_count() == buckets
    data = chart_data([], window)
    assert len(data.buckets) == buckets
    assert all(b.gap for b in data.buckets)
    assert data.unit is None


def _series(
    window: ReadWindow,
    direction: Direction,
    values: list[int | None],
    states: list[int | None] | None = None,
    *,
    unit: StoredUnit = StoredUnit.Wh,
    register: Register = Register.total,
    meter: str = "M1",
) -> Series:
    return Series(
        key=SeriesKey(meter, direction, register),
        granularity=window.granularity,
        unit=unit,
        window=window,
        values=values,
        states=states or [ValidationState.READ if v is not None else None for v in values],
        complete=[v is not None for v in values],
    )


def test_gaps_estimates_and_sums_over_meters() -> None:
    window = ReadWindow(
        datetime(2026, 3, 10, tzinfo=UTC),
        datetime(2026, 3, 10, 1, tzinfo=UTC),
        Granularity.PT15M,
    )
    offtake = _series(window, Direction.offtake, [100, None, 300, 400])
    second_meter = _series(window, Direction.offtake, [1, None, 1, 1], meter="M2")
    injection = _series(
        window,
        Direction.injection,
        [0, None, 50, 60],
        [ValidationState.READ, None, ValidationState.EST, ValidationState.READ],
    )
    reactive = _series(window, Direction.offtake, [9, 9, 9, 9], unit=StoredUnit.varh)
    data = chart_data([offtake, second_meter, injection, reactive], window)
    assert [b.offtake for b in data.buckets] == [101, None, 301, 401]
    assert [b.injection for b in data.buckets] == [0, None, 50, 60]
    assert [b.gap for b in data.buckets] == [False, True, False, False]
    assert [b.estimated for b in data.buckets] == [False, False, True, False]
    assert data.has_injection
    chart = draw(data, "nl", texts("nl"), "kWh")
    assert chart.bucket_count == 4
    assert chart.gap_count == 1
    assert chart.estimated_count == 1
    assert "geen gegevens" in chart.columns[1].title
    assert "geschat" in chart.columns[2].title
    assert chart.columns[2].bars[1].estimated
    assert chart.columns[0].title.startswith("10-03-2026 01:00-01:15 (CET)")  # Brussels time
    # offtake up, injection down from the same zero line
    up, down = chart.columns[3].bars
    assert up.y + up.height == pytest.approx(chart.zero_y)
    assert down.y == pytest.approx(chart.zero_y)


def test_day_and_night_registers_are_summed_when_there_is_no_total() -> None:
    window = Period.holding(Span.year, date(2026, 1, 1)).window()
    day = _series(window, Direction.offtake, [1000] * 12, register=Register.day)
    night = _series(window, Direction.offtake, [500] * 12, register=Register.night)
    data = chart_data([day, night], window)
    assert [b.offtake for b in data.buckets] == [1500] * 12
    assert not data.has_injection
    chart = draw(data, "en", texts("en"), "kWh")
    assert [t.label for t in chart.x_ticks][:3] == ["Jan", "Feb", "Mar"]


def test_gas_is_drawn_at_its_hourly_step() -> None:
    window = Period.holding(Span.day, date(2026, 10, 25)).window()
    hourly = ReadWindow(window.start, window.end, Granularity.PT1H)
    gas = _series(hourly, Direction.offtake, [1000] * 25, unit=StoredUnit.litre)
    data = chart_data([gas], window)
    assert data.granularity is Granularity.PT1H
    assert len(data.buckets) == 25
    assert data.unit is StoredUnit.litre


def test_axis_steps_and_numbers() -> None:
    assert nice_step(0.37) == pytest.approx(0.1)
    assert nice_step(7) == 2
    assert nice_step(0) == 1
    assert number(1234.5, "nl") == "1 234,5"
    assert number(1234.5, "en") == "1 234.5"
    assert number(0.25, "nl") == "0,25"


def test_clipping_keeps_the_grid() -> None:
    from datahub_api.brussels_days import day_start
    from datahub_api.meter_data.reads import clipped

    year = Period.holding(Span.year, date(2025, 6, 1)).window()
    mandate_from = datetime(2025, 1, 1, tzinfo=UTC)  # 01:00 in Brussels
    mandate_to = datetime(2025, 8, 17, 12, tzinfo=UTC)
    narrowed = clipped(year, mandate_from, mandate_to)
    assert narrowed is not None
    assert (narrowed.start, narrowed.end) == (
        day_start(date(2025, 2, 1)),
        day_start(date(2025, 8, 1)),
    )
    assert narrowed.bucket_count() == 6
    month = Period.holding(Span.month, date(2025, 8, 1)).window()
    days = clipped(month, mandate_from, mandate_to)
    assert days is not None
    assert days.bucket_count() == 16  # 1..16 August; the 17th is not whole
    day = Period.holding(Span.day, date(2025, 1, 1)).window()
    quarters = clipped(day, mandate_from, mandate_to)
    assert quarters is not None
    assert quarters.bucket_count() == 92
    assert clipped(day, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) is None
