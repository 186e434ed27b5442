"""Calendar days as they enter the API: ``YYYY-MM-DD`` and nothing else.

Pydantic's lax mode also reads a number as a Unix timestamp (``0`` is 1970-01-01, in a query
string as in JSON), which no client means when it sends a day; :data:`IsoDate` refuses it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("a day is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_day)]
