"""A customer's own metering data (EU Implementing Regulation 2023/1162, Art. 5): the
access points they are or were the customer of, and their days there only.

The gate is the tenure, not a mandate: a person reads the Brussels days of their spans as
customer of the access point (never the grid user's role alone: a landlord's days are the
tenants'), and any other EAN answers like an unknown one. These reads are the customer's
own, not an ESP's: nothing is added to the access log that tells customers who read their
data.
"""

from __future__ import annotations

from datetime import date, timedelta

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.repository import CustomerTenures, Tenure
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import today_in_brussels
from datahub_api.db import ReadSession
from datahub_api.errors import Forbidden
from datahub_api.iso_dates import END_DAY
from datahub_api.mandates.access import UnknownOrNotYours
from datahub_api.meter_data import repository
from datahub_api.meter_data.reads import Days, Release, newest_day
from datahub_api.meter_data.series import ReadWindow

PEOPLE = (Role.customer, Role.grid_user)


def _person(principal: Principal) -> int:
    if principal.role not in PEOPLE or principal.user_id is None:
        raise Forbidden("Your own metering data is read by the customer, signed in.")
    return principal.user_id


async def own_access_points(session: ReadSession, principal: Principal) -> list[CustomerTenures]:
    """The access points the signed-in person is or was the customer of, by EAN."""
    return await access_points_service.customer_tenures(session, _person(principal))


async def own_access_point(session: ReadSession, principal: Principal, ean: str) -> CustomerTenures:
    """One of them, or the unknown-EAN 404 (asked before any other parameter is looked at,
    so the answer for another customer's EAN is the answer for one that does not exist)."""
    for point in await own_access_points(session, principal):
        if point.ean == ean:
            return point
    raise UnknownOrNotYours(ean)


def tenure_days(tenure: Tenure) -> Days:
    """The tenure's days; an open one runs to the end of the service calendar."""
    return tenure.start, tenure.end or END_DAY


def released(point: CustomerTenures, window: ReadWindow) -> Release:
    """The Brussels days of ``window`` the customer may read: those of the tenure that holds
    most of it (a customer who left and came back reads one stay at a time; days of the
    other stay in the same window show as gaps, never as another occupant's data)."""
    first, end = window.read_days()
    best: Days = (first, first)
    for tenure in point.tenures:
        start, stop = tenure_days(tenure)
        low, high = max(first, start), min(end, stop)
        if low < high and (high - low) > (best[1] - best[0]):
            best = (low, high)
    return Release(point.ean, best)


async def last_days_with_data(
    session: ReadSession, points: list[CustomerTenures]
) -> list[date | None]:
    """Per access point, in order: the last of the customer's own days there that holds
    data, yesterday at most (None: none yet). One query for all of them."""
    end = today_in_brussels()  # the day after yesterday
    spans: list[tuple[str, date, date]] = []
    owners: list[int] = []
    for index, point in enumerate(points):
        for start, stop in (tenure_days(t) for t in point.tenures):
            if start < end:
                spans.append((point.ean, start, min(stop, end)))
                owners.append(index)
    last: list[date | None] = [None] * len(points)
    for index, found in zip(owners, await repository.last_received(session, spans), strict=True):
        known = last[index]
        if found is not None and (known is None or found[0] > known):
            last[index] = found[0]
    return last


async def default_day(session: ReadSession, point: CustomerTenures) -> date:
    """The day the customer's chart shows without a date, by the rule of an ESP's
    (:func:`~datahub_api.meter_data.reads.newest_day`): the last of their own days with
    data, at most yesterday and at most the last day of their last tenure."""
    [last] = await last_days_with_data(session, [point])
    ends = [tenure_days(t)[1] - timedelta(days=1) for t in point.tenures]
    return newest_day(max(ends, default=None), [last])
