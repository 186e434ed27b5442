"""The monthly peaks as the API answers them (JSON), and as a CSV file."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from datahub_api.brussels_days import in_brussels
from datahub_api.capacity.peaks import MINIMUM_KW, ROLLING_MONTHS
from datahub_api.capacity.service import MonthFigures, MonthlyPeaks


def _kw(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class MonthPeakOut(BaseModel):
    month: str = Field(description="The Europe/Brussels month, YYYY-MM.")
    peak_kw: float | None = Field(
        description="The highest quarter-hour average offtake power (quarter-hour kWh x 4), "
        "summed over the meters; null when the month has no quarter-hour value (never 0)."
    )
    at: datetime | None = Field(description="Start of the peak quarter-hour (UTC).")
    validation_state: str | None = Field(
        description="READ, EST, VAL or NVAL: the state of the peak quarter-hour (the least "
        "validated of the values summed into it)."
    )
    billed_kw: float | None = Field(
        description=f"The peak, at least {MINIMUM_KW} kW (the capacity tariff's minimum)."
    )
    rolling_12_month_average_kw: float | None = Field(
        description=f"Mean billed value of the months with a peak among the {ROLLING_MONTHS} "
        "months up to this one."
    )
    completeness: str = Field(
        description="complete, incomplete (quarter-hours missing: not delivered yet, a gap, "
        "or outside what the mandate releases) or empty (no peak)."
    )
    quarter_hours: int = Field(description="Quarter-hours of the month that hold a value.")
    quarter_hours_expected: int = Field(
        description="Quarter-hours of the month (92 and 100 on the clock-change days)."
    )


class MonthlyPeaksOut(BaseModel):
    ean: str
    months: list[MonthPeakOut]
    rolling_12_month_average_kw: float | None = Field(
        description=f"Mean billed value (at least {MINIMUM_KW} kW a month) of the months with "
        f"a peak among the {ROLLING_MONTHS} months up to the last month answered: the figure "
        "the capacity tariff bills."
    )
    minimum_kw: float = Field(default=float(MINIMUM_KW))


def month_out(figures: MonthFigures) -> MonthPeakOut:
    peak = figures.peak
    return MonthPeakOut(
        month=peak.label,
        peak_kw=_kw(peak.peak_kw),
        at=peak.at,
        validation_state=None if peak.state is None else peak.state.name,
        billed_kw=_kw(peak.billed_kw),
        rolling_12_month_average_kw=_kw(figures.rolling_average_kw),
        completeness=peak.completeness,
        quarter_hours=peak.quarter_hours,
        quarter_hours_expected=peak.quarter_hours_expected,
    )


def peaks_out(peaks: MonthlyPeaks) -> MonthlyPeaksOut:
    return MonthlyPeaksOut(
        ean=peaks.ean,
        months=[month_out(figures) for figures in peaks.months],
        rolling_12_month_average_kw=_kw(peaks.rolling_average_kw),
    )


CSV_COLUMNS = (
    "EAN",
    "Maand",
    "Piek (kW)",
    "Tijdstip piek",
    "Validatiestatus",
    "Gefactureerde piek (kW)",
    "Rollend gemiddelde 12 maanden (kW)",
    "Volledigheid",
    "Kwartieren met waarde",
    "Kwartieren in de maand",
)


def _decimal(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.3f}".replace(".", ",")


def csv_file(peaks: MonthlyPeaks) -> bytes:
    """The months as a CSV in the layout of the portal's exports: ``;``, decimal comma, UTF-8
    with BOM, Brussels local times with their offset (the repeated October hour is told
    apart); an empty cell where a month has no peak."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for figures in peaks.months:
        peak = figures.peak
        writer.writerow(
            (
                peaks.ean,
                peak.label,
                _decimal(peak.peak_kw),
                "" if peak.at is None else in_brussels(peak.at).isoformat(),
                "" if peak.state is None else peak.state.name,
                _decimal(peak.billed_kw),
                _decimal(figures.rolling_average_kw),
                peak.completeness,
                peak.quarter_hours,
                peak.quarter_hours_expected,
            )
        )
    return ("\ufeff" + out.getvalue()).encode()


def csv_file_name(peaks: MonthlyPeaks) -> str:
    if not peaks.months:
        return f"capaciteitspieken_{peaks.ean}.csv"
    first, last = peaks.months[0].peak.label, peaks.months[-1].peak.label
    return f"capaciteitspieken_{peaks.ean}_{first}_{last}.csv"
