"""The monthly capacity peaks on the portal's access-point page: the 12 months up to the shown
period, one column per month with its peak, the 2.5 kW minimum and the rolling 12-month
average as labelled lines, drawn with the shared SVG module; a table of the same figures and
the CSV of the API route.

The months are read through :func:`datahub_api.capacity.service.read_monthly_peaks` (the
API's gate and access record); months wholly outside the mandate's data period are left
out, and a refusal (no quarter-hour mandate) is said in words instead of the chart. A customer's
own page draws :func:`datahub_api.capacity.service.own_monthly_peaks` with :func:`draw`
(the CSV of their own route, :data:`OWN_ROUTE`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from datahub_api.brussels_days import in_brussels
from datahub_api.capacity.peaks import MINIMUM_KW, ROLLING_MONTHS, add_months, month_start
from datahub_api.capacity.service import (
    MonthFigures,
    MonthlyPeaks,
    read_monthly_peaks,
)
from datahub_api.db import WriteSession
from datahub_api.errors import DatahubError, NotFound
from datahub_api.meter_data.reads import ReadGate
from datahub_api.portal.svg_chart import MONTH_NAMES, MONTHS, Axis, Chart, Frame, Slot, bars, number

FRAME = Frame(width=760, height=320, left=64, bottom=54)


def month_name(month: date, language: str) -> str:
    return f"{MONTH_NAMES[language][month.month - 1]} {month.year}"


def _kw(value: Decimal | None, language: str) -> str:
    return "" if value is None else number(float(value), language)


def _when(at: datetime | None) -> str:
    if at is None:
        return ""
    local = in_brussels(at)
    return f"{local:%d-%m-%Y %H:%M} ({local:%Z})"


@dataclass(frozen=True)
class PeaksSection:
    """What the page shows of the peaks: a chart and its rows, or ``note`` (a refusal)."""

    chart: Chart | None = None
    label: str = ""
    x_title: str = ""
    y_title: str = ""
    rows: list[dict[str, str]] = field(default_factory=list)
    average: str = ""
    csv_link: str = ""
    minimum: str = ""
    note: str = ""


def _tip(figures: MonthFigures, words: Mapping[str, str], language: str) -> list[str]:
    peak = figures.peak
    lines = [month_name(peak.month, language)]
    if peak.peak_kw is None:
        lines.append(words["peaks_tip_none"])
    else:
        lines.append(
            words["peaks_tip_peak"].format(kw=_kw(peak.peak_kw, language), at=_when(peak.at))
        )
        lines.append(words["peaks_tip_billed"].format(kw=_kw(peak.billed_kw, language)))
        if peak.state is not None:
            lines.append(words[f"peaks_state_{peak.state.name}"])
    lines.append(
        words["peaks_tip_quarter_hours"].format(
            n=peak.quarter_hours, expected=peak.quarter_hours_expected
        )
    )
    return lines


def draw(
    peaks: MonthlyPeaks,
    shown: date,
    words: Mapping[str, str],
    language: str,
    *,
    route: str = "/api/v1/access-points/{ean}/monthly-peaks",
) -> PeaksSection:
    """The chart and table of ``peaks``; ``shown`` (a month) is highlighted; the CSV link
    goes to ``route`` (the ESP's API route, or the customer's own)."""
    slots = []
    rows = []
    for figures in peaks.months:
        peak = figures.peak
        kw = peak.peak_kw
        slots.append(
            Slot(
                start=peak.label,
                label=MONTHS[language][peak.month.month - 1],
                values=[] if kw is None else [("offtake", float(kw))],
                tip=_tip(figures, words, language),
                gap=kw is None,
                incomplete=kw is not None and not peak.complete,
                estimated=peak.state is not None and peak.state.name == "EST",
                current=peak.month == shown,
            )
        )
        rows.append(
            {
                "month": month_name(peak.month, language),
                "peak": _kw(kw, language),
                "at": _when(peak.at),
                "state": "" if peak.state is None else words[f"peaks_state_{peak.state.name}"],
                "billed": _kw(peak.billed_kw, language),
                "average": _kw(figures.rolling_average_kw, language),
                "quarter_hours": f"{peak.quarter_hours} / {peak.quarter_hours_expected}",
                "completeness": peak.completeness,
            }
        )
    average = peaks.rolling_average_kw
    top = max(
        [float(MINIMUM_KW), float(average or 0)]
        + [float(f.peak.peak_kw) for f in peaks.months if f.peak.peak_kw is not None]
    )
    axis = Axis.around(top * 1.1)
    minimum = words["peaks_minimum_line"].format(kw=_kw(MINIMUM_KW, language))
    rules = [(float(MINIMUM_KW), minimum, "minimum")]
    if average is not None:
        line = words["peaks_average_line"].format(kw=_kw(average, language))
        if abs(float(average - MINIMUM_KW)) < (axis.high - axis.low) / 15:
            # Lines this close would hide one label under the other: one line, both labels.
            rules = [(float(average), f"{minimum} · {line}", "average")]
        else:
            rules.append((float(average), line, "average"))
    chart = bars(
        slots,
        axis,
        language,
        frame=FRAME,
        rules=rules,
        tick_decimals=1,
        min_height=2.0,
    )
    first, last = peaks.months[0].peak.month, peaks.months[-1].peak.month
    names = {"first": month_name(first, language), "last": month_name(last, language)}
    return PeaksSection(
        chart=chart,
        label=words["peaks_chart_alt"].format(ean=peaks.ean, **names),
        x_title=words["peaks_x_months"].format(**names),
        y_title=words["peaks_y_kw"],
        rows=rows,
        average=(
            words["peaks_average"].format(
                month=month_name(last, language), kw=_kw(average, language)
            )
            if average is not None
            else words["peaks_no_average"].format(month=month_name(last, language))
        ),
        csv_link=f"{route.format(ean=peaks.ean)}?from={first:%Y-%m}&to={last:%Y-%m}&format=csv",
        minimum=_kw(MINIMUM_KW, language),
    )


OWN_ROUTE = "/api/v1/me/access-points/{ean}/monthly-peaks"


def months_up_to(day: date) -> list[date]:
    """The :data:`ROLLING_MONTHS` months up to the month of ``day`` (first days)."""
    last = month_start(day)
    return [add_months(last, offset) for offset in range(-(ROLLING_MONTHS - 1), 1)]


async def peaks_section(
    session: WriteSession,
    gate: ReadGate,
    day: date,
    words: Mapping[str, str],
    language: str,
) -> PeaksSection:
    """The peaks of the :data:`ROLLING_MONTHS` months up to the month of ``day``, read (and
    logged) in ``session``; a refusal of the gate becomes the section's note."""
    months = months_up_to(day)
    try:
        peaks = await read_monthly_peaks(session, gate, months, lenient=True)
    except NotFound:
        raise
    except DatahubError as refused:
        extra = refused.extra or {}
        if "data_service_types" in extra:
            return PeaksSection(note=words["peaks_not_allowed"])
        if "allowed_from" in extra:
            return PeaksSection(note=words["peaks_outside"])
        return PeaksSection(note=str(refused.detail))
    return draw(peaks, months[-1], words, language)
