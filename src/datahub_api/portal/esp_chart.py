"""The portal's period picker and meter-data chart (the ESP's access-point page and the
customer's "my data" page), drawn as server-side SVG.

A period is a Brussels day, ISO week, month or year; it is shown in quarter-hours, hours,
days or months (a DST day has 92 or 100 quarter-hours). The chart draws offtake above the
zero line and injection below it, one bar per bucket; a bucket without a value is hatched
over the whole height (a gap), an estimated value is striped, and a summed bucket that
misses parts is marked as incomplete. Times are Brussels local times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from datahub_api.brussels_days import BRUSSELS, day_start
from datahub_api.iso_dates import FIRST_YEAR, LAST_YEAR  # the years a picker accepts
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, StoredUnit, ValidationState
from datahub_api.meter_data.series import UNIT_NAMES, ReadWindow, Series
from datahub_api.portal import svg_chart
from datahub_api.portal.svg_chart import MONTHS as MONTHS
from datahub_api.portal.svg_chart import WEEKDAYS as WEEKDAYS
from datahub_api.portal.svg_chart import nice_step as nice_step
from datahub_api.portal.svg_chart import number as number

# The portal's words for a step (``esp_step_day``, ``esp_per_day``).
STEP_NAMES = {
    Granularity.PT15M: "quarter_hour",
    Granularity.PT1H: "hour",
    Granularity.P1D: "day",
    Granularity.P1M: "month",
}


class Span(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    year = "year"


STEP_OF_SPAN = {
    Span.day: Granularity.PT15M,
    Span.week: Granularity.PT1H,
    Span.month: Granularity.P1D,
    Span.year: Granularity.P1M,
}


class BadPeriod(ValueError):
    """A period picker's input that names no period; ``key`` is the message's text key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """The Brussels days ``[first, end)`` of a span that holds ``anchor``."""

    span: Span
    anchor: date
    first: date
    end: date

    @classmethod
    def holding(cls, span: Span, anchor: date) -> Period:
        if span is Span.day:
            first, end = anchor, anchor + timedelta(days=1)
        elif span is Span.week:
            first = anchor - timedelta(days=anchor.weekday())
            end = first + timedelta(days=7)
        elif span is Span.month:
            first = anchor.replace(day=1)
            end = _next_month(first)
        else:
            first, end = date(anchor.year, 1, 1), date(anchor.year + 1, 1, 1)
        return cls(span, anchor, first, end)

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def granularity(self) -> Granularity:
        return STEP_OF_SPAN[self.span]

    def window(self) -> ReadWindow:
        return ReadWindow(day_start(self.first), day_start(self.end), self.granularity)

    def previous(self) -> date:
        return self.first - timedelta(days=1)

    def following(self) -> date:
        return self.end


def parse_period(span_text: str | None, date_text: str | None, default_day: date) -> Period:
    """The period a picker asks for: ``span`` day/week/month/year (default day) and
    ``date`` ``YYYY-MM-DD`` (also ``YYYY-MM`` or ``YYYY``) inside it, default
    ``default_day``. Anything else raises :class:`BadPeriod`."""
    try:
        span = Span(span_text or "day")
    except ValueError:
        raise BadPeriod("bad_span") from None
    if not date_text:
        return Period.holding(span, default_day)
    text = date_text.strip()
    try:
        if len(text) == 4 and text.isdigit():
            anchor = date(int(text), 1, 1)
        elif len(text) == 7 and text[4] == "-":
            anchor = date(int(text[:4]), int(text[5:]), 1)
        elif len(text) == 10:
            anchor = date.fromisoformat(text)
        else:
            raise BadPeriod("bad_date")
    except ValueError:
        raise BadPeriod("bad_date") from None
    if not FIRST_YEAR <= anchor.year <= LAST_YEAR:
        raise BadPeriod("bad_year")
    return Period.holding(span, anchor)


# --- the chart's data -------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    offtake: int | None  # milli-units (Wh, litres)
    injection: int | None
    estimated: bool  # some value of the bucket is an estimate
    incomplete: bool  # a value lacks parts (a gap inside a summed bucket)

    @property
    def gap(self) -> bool:
        return self.offtake is None and self.injection is None


def _chosen(series: Sequence[Series], direction: Direction) -> list[Series]:
    mine = [s for s in series if s.key.direction is direction]
    totals = [s for s in mine if s.key.register is Register.total]
    return totals or [s for s in mine if s.key.register in (Register.day, Register.night)]


@dataclass(frozen=True)
class ChartData:
    buckets: list[Bucket]
    unit: StoredUnit | None  # None when the access point has no series in the period
    granularity: Granularity
    has_injection: bool


def chart_data(series: Sequence[Series], window: ReadWindow) -> ChartData:
    """Offtake and injection per bucket, summed over meters (and over the day and night
    registers when there is no total), on the grid of the series (gas is hourly)."""
    # Gas is drawn in m3 (its converted kWh series are left out).
    gas = any(s.unit == StoredUnit.litre for s in series)
    energy = [
        s
        for s in series
        if s.unit in (StoredUnit.Wh, StoredUnit.litre) and not (gas and s.unit == StoredUnit.Wh)
    ]
    offtake, injection = _chosen(energy, Direction.offtake), _chosen(energy, Direction.injection)
    shown = offtake + injection
    if not shown:
        bounds = list(window.bucket_bounds())
        empty = [Bucket(s, e, None, None, False, False) for s, e in bounds]
        return ChartData(empty, None, window.granularity, False)
    grid = shown[0].window
    offtake = [s for s in offtake if s.window == grid]
    injection = [s for s in injection if s.window == grid]
    buckets = []
    for index, (start, end) in enumerate(grid.bucket_bounds()):
        values: dict[Direction, int | None] = {}
        estimated = incomplete = False
        for direction, group in ((Direction.offtake, offtake), (Direction.injection, injection)):
            total: int | None = None
            for s in group:
                value = s.values[index]
                if value is not None:
                    total = (total or 0) + value
                    estimated = estimated or s.states[index] == ValidationState.EST
                    incomplete = incomplete or not s.complete[index]
            values[direction] = total
        buckets.append(
            Bucket(
                start,
                end,
                values[Direction.offtake],
                values[Direction.injection],
                estimated,
                incomplete,
            )
        )
    return ChartData(buckets, shown[0].unit, grid.granularity, bool(injection))


# --- geometry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart(svg_chart.Chart):
    """The shared chart's geometry and what the meter-data page says about it."""

    unit: str = ""
    bucket_count: int = 0
    has_injection: bool = False
    estimated_count: int = 0
    gap_count: int = 0


def _x_label(start: datetime, granularity: Granularity, language: str) -> str | None:
    local = start.astimezone(BRUSSELS)
    if granularity is Granularity.PT15M:
        return local.strftime("%H:%M") if local.minute == 0 and local.hour % 3 == 0 else None
    if granularity is Granularity.PT1H:
        if local.hour != 0:
            return None
        return f"{WEEKDAYS[language][local.weekday()]} {local.day:02d}-{local.month:02d}"
    if granularity is Granularity.P1D:
        return str(local.day)
    return MONTHS[language][local.month - 1]


def bucket_label(bucket: Bucket, granularity: Granularity, language: str) -> str:
    """The bucket's Brussels time span as a person reads it."""
    start, end = bucket.start.astimezone(BRUSSELS), bucket.end.astimezone(BRUSSELS)
    if granularity in (Granularity.PT15M, Granularity.PT1H):
        return f"{start:%d-%m-%Y %H:%M}-{end:%H:%M} ({start:%Z})"
    if granularity is Granularity.P1D:
        return f"{WEEKDAYS[language][start.weekday()]} {start:%d-%m-%Y}"
    return f"{MONTHS[language][start.month - 1]} {start.year}"


def draw(data: ChartData, language: str, words: dict[str, str], unit_name: str) -> Chart:
    """The SVG geometry of ``data``: offtake up, injection down, from a shared zero line."""
    scale = 1000.0  # milli-units to kWh or m3
    top = max((b.offtake or 0) / scale for b in data.buckets) if data.buckets else 0.0
    bottom = max((b.injection or 0) / scale for b in data.buckets) if data.has_injection else 0.0
    slots = []
    for bucket in data.buckets:
        values = [
            (kind, value / scale if kind == "offtake" else -value / scale)
            for kind, value in (("offtake", bucket.offtake), ("injection", bucket.injection))
            if value  # a zero is no bar
        ]
        parts = [bucket_label(bucket, data.granularity, language)]
        if bucket.gap:
            parts.append(words["esp_chart_gap"])
        else:
            parts.append(f"{words['esp_offtake']}: {_amount(bucket.offtake, language)} {unit_name}")
            if data.has_injection:
                parts.append(
                    f"{words['esp_injection']}: {_amount(bucket.injection, language)} {unit_name}"
                )
            if bucket.estimated:
                parts.append(words["esp_chart_estimated"])
            if bucket.incomplete:
                parts.append(words["esp_chart_incomplete"])
        slots.append(
            svg_chart.Slot(
                start=bucket.start.isoformat(),
                label=_x_label(bucket.start, data.granularity, language),
                values=values,
                tip=parts,
                gap=bucket.gap,
                incomplete=bucket.incomplete,
                estimated=bucket.estimated,
            )
        )
    # Hours and quarter-hours are ticked where they start, days and months in the middle.
    centred = data.granularity in (Granularity.P1D, Granularity.P1M)
    shape = svg_chart.bars(
        slots, svg_chart.Axis.around(top, bottom), language, labels_centred=centred
    )
    geometry: dict[str, Any] = {f.name: getattr(shape, f.name) for f in fields(shape)}
    return Chart(
        **geometry,
        unit=unit_name,
        bucket_count=len(data.buckets),
        has_injection=data.has_injection,
        estimated_count=sum(1 for b in data.buckets if b.estimated),
        gap_count=sum(1 for b in data.buckets if b.gap),
    )


def _amount(value: int | None, language: str) -> str:
    return "-" if value is None else number(value / 1000, language)


def chart_context(
    series: Sequence[Series], window: ReadWindow, language: str, words: dict[str, str]
) -> dict[str, Any]:
    """What ``templates/meter_chart.html`` draws of ``series`` over ``window``: the chart,
    its totals in kWh (or m3) and the values table, in the page's language."""
    data = chart_data(series, window)
    unit = UNIT_NAMES[data.unit] if data.unit is not None else "kWh"
    rows = [
        {
            "label": bucket_label(b, data.granularity, language),
            "offtake": "" if b.offtake is None else number(b.offtake / 1000, language),
            "injection": "" if b.injection is None else number(b.injection / 1000, language),
            "bucket": b,
        }
        for b in data.buckets
    ]
    totals = {
        direction: number(sum(getattr(b, direction) or 0 for b in data.buckets) / 1000, language)
        for direction in ("offtake", "injection")
    }
    return {
        "chart": draw(data, language, words, unit),
        "chart_step": data.granularity.value,
        "chart_step_name": STEP_NAMES[data.granularity],
        "totals": totals,
        "rows": rows,
        "step": words["esp_step_" + STEP_NAMES[data.granularity]],
    }
