"""Days as the service counts them: calendar days in Europe/Brussels.

Instants are stored in UTC; validity periods, data days and SLA days are Brussels dates. A
Brussels day lasts 23 hours on the last Sunday of March and 25 hours on the last Sunday of
October.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")


def brussels_date(instant: datetime) -> date:
    """The Brussels day an aware instant falls on."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime is not an instant; give it a time zone")
    return in_brussels(instant).date()


def in_brussels(instant: datetime) -> datetime:
    """``instant`` on Brussels wall-clock time. A stored instant in the last hours of
    9999-12-31 UTC has no Brussels time (it would be year 10000): it is shown as the last
    moment Python holds instead of failing the page that shows it."""
    try:
        return instant.astimezone(BRUSSELS)
    except OverflowError:
        return (
            datetime.max.replace(tzinfo=BRUSSELS)
            if instant.year > 1
            else datetime.min.replace(tzinfo=BRUSSELS)
        )


def today_in_brussels(now: datetime | None = None) -> date:
    return brussels_date(now or datetime.now(UTC))


def day_start(day: date) -> datetime:
    """The UTC instant at which the Brussels day begins."""
    return datetime.combine(day, time(0), tzinfo=BRUSSELS).astimezone(UTC)


def day_length(day: date) -> timedelta:
    """23, 24 or 25 hours."""
    return day_start(day + timedelta(days=1)) - day_start(day)


def days_between(start: date, end: date) -> Iterator[date]:
    """Every day from ``start`` (inclusive) to ``end`` (exclusive)."""
    for offset in range((end - start).days):
        yield start + timedelta(days=offset)


GAS_DAY_HOUR = 6
"""A gas day runs from 06:00 to 06:00 Brussels time (23 or 25 hours across a clock change)
and is named by the date it starts on."""


def gas_day_start(day: date) -> datetime:
    """The UTC instant at which gas day ``day`` begins (06:00 in Brussels)."""
    return datetime.combine(day, time(GAS_DAY_HOUR), tzinfo=BRUSSELS).astimezone(UTC)


def gas_date(instant: datetime) -> date:
    """The gas day an aware instant falls in."""
    local = instant.astimezone(BRUSSELS)
    return local.date() - timedelta(days=1) if local.hour < GAS_DAY_HOUR else local.date()
