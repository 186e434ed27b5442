"""Reading an access point's monthly capacity peaks, through the one read gate.

**Computed on read, never stored.** A month's peak is computed from the quarter-hour day blocks
each time it is asked for (:mod:`.peaks`), so when ingest corrects a day block, the next read
of its month already has the corrected peak: there is no second copy to refresh, and no
transaction in which the two could disagree. Storing peaks would not even serve every reader:
what a reader may see of a month depends on its grant (a mandate releases only the days of
the customer who gave it, so a move-in on the 12th leaves the ESP the 12th onwards), and a
stored peak is the whole month's. The cost is small: a year of one EAN's quarter-hour offtake
is a few thousand day blocks read by primary key. What a correction changes is told on the
change feed (:mod:`.corrections`, an event in the correction's own transaction).

The gate is the one of every meter-data read (:func:`datahub_api.meter_data.reads.gate`, on the
face's channels): an approved mandate whose data service allows quarter-hours
(``VH_kwartier_uur``, ``VH_onbepaald``); the months are read inside its data period and
released to the customer's tenure (:func:`~datahub_api.meter_data.reads.granted`), and the
read is written to the access log.
A customer reading their own access point goes through
:mod:`datahub_api.meter_data.own_reads` instead (their own days; not in the access log):
:func:`own_monthly_peaks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import EnergyType
from datahub_api.access_points.repository import CustomerTenures
from datahub_api.brussels_days import brussels_date, day_start
from datahub_api.capacity import repository
from datahub_api.capacity.peaks import (
    ROLLING_MONTHS,
    MonthPeak,
    add_months,
    month_peaks,
    month_start,
    months_between,
    next_month,
    rolling_average,
)
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import Conflict, UnprocessableContent
from datahub_api.iso_dates import OutOfRange, parse_month
from datahub_api.mandates.access import ReadGrant
from datahub_api.meter_data import own_reads, reads
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.reads import ReadGate
from datahub_api.meter_data.series import ReadWindow

MAX_MONTHS = 36
"""Months one call may ask for (the rolling average reads 11 more before them)."""


class NotElectricity(Conflict):
    code, title = "not-electricity", "No capacity peaks for this access point"


@dataclass(frozen=True)
class MonthFigures:
    """A month's peak and the rolling 12-month average of the billed values up to it."""

    peak: MonthPeak
    rolling_average_kw: Decimal | None
    rolling_months: int  # how many months with a peak that average counts


@dataclass(frozen=True)
class MonthlyPeaks:
    ean: str
    months: list[MonthFigures]  # the months asked (only those the mandate holds, if lenient)

    @property
    def rolling_average_kw(self) -> Decimal | None:
        """The rolling 12-month average up to the last month answered."""
        return self.months[-1].rolling_average_kw if self.months else None


def parse_months(first_text: str | None, last_text: str | None, this_month: date) -> list[date]:
    """The months ``YYYY-MM`` from ``first_text`` up to ``last_text``, both included (``to``
    defaults to ``this_month``, ``from`` to 11 months before ``to``), or a 422."""

    def month(name: str, value: str) -> date:
        try:
            return parse_month(value)
        except OutOfRange as error:
            raise UnprocessableContent(f"`{name}` ({value[:20]}): {error}.") from None
        except ValueError:
            raise UnprocessableContent(f"`{name}` ({value[:20]}) is a month: YYYY-MM.") from None

    last = this_month if last_text is None else month("to", last_text)
    if first_text is None:
        first = add_months(last, -(ROLLING_MONTHS - 1))
    else:
        first = month("from", first_text)
    if last < first:
        raise UnprocessableContent("`to` is a month at or after `from`.")
    asked = months_between(first, last)
    if len(asked) > MAX_MONTHS:
        raise UnprocessableContent(f"At most {MAX_MONTHS} months per call.")
    return asked


async def read_monthly_peaks(
    session: WriteSession,
    gate: ReadGate,
    months: Sequence[date],
    *,
    lenient: bool = False,
) -> MonthlyPeaks:
    """The peaks of ``months`` (consecutive first days) of the gate's EAN for an ESP, with the
    access record of the read. Refusals are the gate's (:func:`reads.gate` answers the 404
    before any parameter is looked at): 403 when no mandate allows quarter-hours, or when the
    first or last month asked lies wholly outside the mandate's data period (naming it). A
    month partly inside it, or partly the customer's, has the peak of its quarter-hours that
    are, and says the others are missing. ``lenient`` (the portal's 12-month chart): months
    wholly outside the data period are left out instead."""
    ean = gate.ean
    grants = await reads.grants_at(session, gate, Granularity.PT15M)
    point = await access_points_service.get_access_point(session, ean)
    if point.energy_type is not EnergyType.electricity:
        raise NotElectricity("Capacity peaks are measured on electricity access points.")
    first, last = months[0], months[-1]
    start, end = day_start(first), day_start(next_month(last))

    def held(grant: ReadGrant) -> timedelta:
        return max(min(end, grant.allowed_to) - max(start, grant.allowed_from), timedelta(0))

    best = max(grants, key=held)
    low, high = max(start, best.allowed_from), min(end, best.allowed_to)
    holds_ends = low < day_start(next_month(first)) and high > day_start(last)
    if high <= low or (not lenient and not holds_ends):
        # The gate's own 403, naming the data period (no grant holds the months asked).
        await reads.refuse_unless_granted(session, gate, ReadWindow(start, end, Granularity.PT15M))
        low, high = start, end
    shown = [m for m in months if day_start(m) < high and day_start(next_month(m)) > low]
    context = max(day_start(add_months(shown[0], -(ROLLING_MONTHS - 1))), best.allowed_from)
    window = ReadWindow(context, high, Granularity.PT15M)
    grant = await reads.granted(session, gate, window)
    released = grant.released_part(window.start, window.end)
    return await _computed(session, ean, shown, context, released)


async def _computed(
    session: ReadSession,
    ean: str,
    shown: Sequence[date],
    context: datetime,
    released: tuple[datetime, datetime] | None,
) -> MonthlyPeaks:
    """The peaks of the ``shown`` months and their rolling averages, from the months since
    ``context`` (the start of the read), counting the ``released`` instants only."""
    read_months = months_between(month_start(brussels_date(context)), shown[-1])
    if released is None:
        peaks = month_peaks([], read_months, context, context)
    else:
        blocks = await repository.offtake_days(
            session,
            ean,
            brussels_date(released[0]),
            brussels_date(released[1] - timedelta(microseconds=1)) + timedelta(days=1),
        )
        peaks = month_peaks(blocks, read_months, released[0], released[1])
    figures = []
    for peak in peaks:
        if peak.month in shown:
            average, counted = rolling_average(peaks, peak.month)
            figures.append(MonthFigures(peak, average, len(counted)))
    return MonthlyPeaks(ean, figures)


async def own_monthly_peaks(
    session: ReadSession, point: CustomerTenures, months: Sequence[date]
) -> MonthlyPeaks:
    """The peaks of ``months`` of a customer's own access point (``point``: what
    :func:`datahub_api.meter_data.own_reads.own_access_point` found, the gate) over their own
    days only: those of the tenure that holds most of the months read (as their meter-data
    reads choose it); other days count as missing, never as another occupant's. A
    customer's own read is not an ESP's: nothing goes to the access log."""
    if point.energy_type is not EnergyType.electricity:
        raise NotElectricity("Capacity peaks are measured on electricity access points.")
    context = day_start(add_months(months[0], -(ROLLING_MONTHS - 1)))
    window = ReadWindow(context, day_start(next_month(months[-1])), Granularity.PT15M)
    first, end = own_reads.released(point, window).days
    released = (day_start(first), day_start(end)) if first < end else None
    return await _computed(session, point.ean, months, context, released)
