"""Query-parameter parsing shared by the mandate routes of both faces."""

from __future__ import annotations

from datetime import datetime

from datahub_api.errors import UnprocessableContent
from datahub_api.iso_dates import OutOfRange, check_instant


def parse_instant(raw: str | None, name: str) -> datetime | None:
    """An ISO 8601 instant with an offset (``Z`` accepted); None when absent."""
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UnprocessableContent(f"{name} is not an ISO 8601 instant.") from None
    if value.tzinfo is None:
        raise UnprocessableContent(f"{name} needs a time zone offset.")
    try:
        return check_instant(value)
    except OutOfRange as exc:
        raise UnprocessableContent(f"{name}: {exc}.") from None
