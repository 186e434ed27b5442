"""``column IN (values)`` as one array parameter.

PostgreSQL's protocol carries at most 32,767 parameters per statement, and SQLAlchemy's
expanding ``IN`` takes one per value: a list of account ids, EANs or mandate ids that grows
with the input (a demo of 100,000 access points, an NPS list of 10,000 EANs, a national
import) would fail with "the number of query arguments cannot exceed 32767". Written as
``column = ANY(:array)`` it is one parameter whatever the length, and PostgreSQL plans it as
it plans ``IN``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute


def in_array(
    column: InstrumentedAttribute[Any] | ColumnElement[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column = ANY(:values)``: true when the column's value is one of ``values``."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
