"""A mandate never outlives the tenure of the people who gave it.

A mandate is given on a day (the Brussels day it was made) by a customer (``given_by``) and,
when that customer is not the grid user, co-signed by the grid user (``grid_user``). Each of
them holds the access point for an unbroken span of days holding that day: their *tenure*,
as the registry says (their customer and grid-user periods merged where they touch). The
mandate releases the data of the days both tenures hold, and of no other day: from the later
start to the earlier end. A signed paper mandate has the grid user as its only person when
someone else signed it; a mandate with no person at all (a sandbox mock on an access point
without parties) is bounded by its data period only.

The bounds are stored on the mandate (``tenure_from``, ``tenure_to``) when it is made, and
again whenever the registry replaces its access point, in the registry's own transaction
(:func:`datahub_api.mandates.service.on_parties_changed`): so every read path, and every SQL
report, applies them without asking the registry, and the same day the registry learns of a
move the mandate follows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.repository import tenure_holding
from datahub_api.brussels_days import day_start
from datahub_api.db import ReadSession

# Why a mandate ended with the tenure: the customer who gave it left, or the grid user who
# co-signed it did (a new grid user).
TENURE_ENDED = "tenure_ended"
GRID_USER_CHANGED = "grid_user_changed"


@dataclass(frozen=True)
class People:
    """Who gave a mandate on which EAN, and on which Brussels day."""

    ean: str
    given_by: int | None
    grid_user: int | None
    consent_day: date


@dataclass(frozen=True)
class MandateTenure:
    """[start, end) as instants (None: unbounded); ``held`` is False when one of the people
    held no role on the access point on the day of consent (the mandate reads nothing and
    ends at once); ``reason`` is what ends the mandate when it ends with the tenure."""

    start: datetime | None
    end: datetime | None
    held: bool
    reason: str


async def tenures_of(session: ReadSession, people: Sequence[People]) -> list[MandateTenure]:
    """The tenure of each mandate's people, in the order given (one registry query)."""
    pairs = {
        (one.ean, account)
        for one in people
        for account in (one.given_by, one.grid_user)
        if account is not None
    }
    spans = await access_points_service.tenures(session, pairs)
    found = []
    for one in people:
        start: date | None = None
        end: date | None = None
        held, reason = True, TENURE_ENDED
        for account, ends_with in (
            (one.given_by, TENURE_ENDED),
            (one.grid_user, GRID_USER_CHANGED),
        ):
            if account is None or (ends_with == GRID_USER_CHANGED and account == one.given_by):
                continue
            span = tenure_holding(spans.get((one.ean, account), []), one.consent_day)
            if span is None:
                if held:
                    reason = ends_with
                held = False
                continue
            start = span.start if start is None else max(start, span.start)
            if span.end is not None and (end is None or span.end < end):
                end = span.end
                if held:
                    reason = ends_with
        if not held:  # an empty window from the day of consent
            start = end = one.consent_day
        found.append(
            MandateTenure(
                start=day_start(start) if start is not None else None,
                end=day_start(end) if end is not None else None,
                held=held,
                reason=reason,
            )
        )
    return found
