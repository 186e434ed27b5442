"""Calendar values as they enter the service, and the one range they must lie in.

Every date, instant, month and year a caller sends (query or body, on every face, the portal's
forms and the CLI's arguments) lies from :data:`FIRST_DAY` up to :data:`END_DAY`
(2000-01-01 up to 2100-01-01, both included so that an exclusive end may be 2100-01-01), and
an instant's offset is at most ±14:00. Outside that a caller gets 400/422, never a 5xx: the
range keeps every day and month sum (a day after, a month after, a Brussels day start) inside
what Python and PostgreSQL hold. Values already stored (the registry, migrations, sandbox
mocks) are never checked against it on the way out: they render whatever they are.

Days are ``YYYY-MM-DD`` and nothing else: Pydantic's lax mode also reads a number as a Unix
timestamp (``0`` is 1970-01-01, in a query string as in JSON), which no client means when it
sends a day; :data:`IsoDate` refuses it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ValidationInfo

FIRST_DAY = date(2000, 1, 1)
END_DAY = date(2100, 1, 1)
FIRST_YEAR, LAST_YEAR = FIRST_DAY.year, END_DAY.year - 1
MAX_OFFSET = timedelta(hours=14)
RANGE_TEXT = f"from {FIRST_DAY} up to {END_DAY}"

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MONTH = re.compile(r"(\d{4})-(\d{2})")


class OutOfRange(ValueError):
    """A calendar value outside the service's range (the message says which range)."""


def check_day(value: date) -> date:
    if not FIRST_DAY <= value <= END_DAY:
        raise OutOfRange(f"a day {RANGE_TEXT}")
    return value


def check_instant(value: datetime) -> datetime:
    """An aware instant whose own wall-clock time lies in the range, offset at most ±14:00."""
    offset = value.utcoffset()
    if offset is None:
        raise OutOfRange("an instant needs an offset (Z or ±hh:mm)")
    if abs(offset) > MAX_OFFSET:
        raise OutOfRange("an instant's offset is at most ±14:00")
    wall = value.replace(tzinfo=None)
    if (
        not datetime.combine(FIRST_DAY, datetime.min.time())
        <= wall
        <= datetime.combine(END_DAY, datetime.min.time())
    ):
        raise OutOfRange(f"an instant {RANGE_TEXT}")
    return value


def check_year(value: int) -> int:
    if not FIRST_YEAR <= value <= LAST_YEAR:
        raise OutOfRange(f"a year from {FIRST_YEAR} up to {LAST_YEAR}")
    return value


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` in the range (ValueError otherwise)."""
    if not _ISO_DAY.fullmatch(text):
        raise ValueError("a day is written YYYY-MM-DD")
    return check_day(date.fromisoformat(text))


def parse_month(text: str) -> date:
    """``YYYY-MM`` in the range: its first day (ValueError otherwise)."""
    found = _ISO_MONTH.fullmatch(text)
    if found is None or not 1 <= int(found[2]) <= 12:
        raise ValueError("a month is written YYYY-MM")
    first = date(int(found[1]), int(found[2]), 1)
    if not FIRST_DAY <= first < END_DAY:
        raise OutOfRange(f"a month {RANGE_TEXT}")
    return first


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with an offset (``Z`` too) in the range (ValueError otherwise)."""
    if "\x00" in text:
        raise ValueError("not an ISO 8601 instant")
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return check_instant(value)


def _iso_day(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("a day is written YYYY-MM-DD")


STORED: dict[str, Any] = {"stored": True}
"""Validation context for models built from stored rows: no range check on the way out."""


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _day_in_range(value: date, info: ValidationInfo) -> date:
    return value if _stored(info) else check_day(value)


IsoDate = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_day_in_range)]
"""A day a caller sends: ``YYYY-MM-DD``, in the range (unchecked in the :data:`STORED`
context)."""

IsoInstant = Annotated[AwareDatetime, AfterValidator(check_instant)]
"""An instant a caller sends: with an offset, in the range."""

IsoYear = Annotated[int, AfterValidator(check_year)]
"""A calendar year a caller sends, in the range."""
