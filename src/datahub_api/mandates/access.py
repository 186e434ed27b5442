"""Who may read which metering data: the one gate every data route goes through.

Data leaves only with an **approved** mandate of the calling ESP for that EAN, on a channel
the face serves, under an active contract for it (the token's scopes are narrowed to the
contracts on every call), inside the mandate's data period, at a granularity its data
service allows, and never from before the consenting customer's (or co-signing grid
user's) own tenure on the EAN began. The check comes before any other validation, so an
ESP without a mandate learns nothing about an EAN: it gets the same answer as for an
unknown EAN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from datahub_api.access_points import service as access_points_service
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.db import ReadSession
from datahub_api.errors import Forbidden, NotFound
from datahub_api.mandates import repository
from datahub_api.mandates.models import DataServiceType, Mandate


class Granularity(StrEnum):
    quarter_hour = "PT15M"
    hour = "PT1H"
    day = "P1D"
    month = "P1M"


# Which granularities each data service lets an ESP read.
ALLOWED_GRANULARITIES: dict[DataServiceType, frozenset[Granularity]] = {
    DataServiceType.quarter_hourly: frozenset(Granularity),
    DataServiceType.undetermined: frozenset(Granularity),
    DataServiceType.daily: frozenset({Granularity.day, Granularity.month}),
    DataServiceType.installation: frozenset(),
}


class UnknownOrNotYours(NotFound):
    """The answer for an EAN without a fitting mandate: the same as for an unknown EAN."""

    def __init__(self, ean: str) -> None:
        super().__init__(f"No access point {ean[:18]} that you may read.")


@dataclass(frozen=True)
class ReadGrant:
    """The mandate that allows a read, and the window it allows."""

    mandate: Mandate
    allowed_from: datetime
    allowed_to: datetime


async def _window(session: ReadSession, mandate: Mandate) -> tuple[datetime, datetime]:
    start, end = mandate.data_period_from, mandate.data_period_to
    today = today_in_brussels()
    for account_id in {mandate.given_by_account_id, mandate.grid_user_account_id} - {None}:
        assert account_id is not None
        tenure = await access_points_service.tenure_start(session, mandate.ean, account_id, today)
        if tenure is not None:
            start = max(start, day_start(tenure))
    return start, end


async def read_window(session: ReadSession, mandate: Mandate) -> tuple[datetime, datetime]:
    """The instants [from, to) a mandate lets its ESP read: its data period, never from
    before the consenting customer's or the grid user's tenure began."""
    return await _window(session, mandate)


async def readable_mandates(
    session: ReadSession, principal: Principal, ean: str, *, channels: Sequence[str]
) -> list[Mandate]:
    """The calling ESP's approved mandates on ``ean`` that ``channels`` serve (and a contract
    covers today), or the unknown-EAN 404. Routes call it before validating anything else
    of the request, so an ESP without a mandate learns nothing about the EAN."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Metering data is read by energy service providers.")
    mandates = await repository.approved_for_read(
        session, principal.organisation_id, ean, channels, today_in_brussels()
    )
    if not mandates:
        raise UnknownOrNotYours(ean)
    return mandates


async def authorize_read(
    session: ReadSession,
    principal: Principal,
    ean: str,
    *,
    start: datetime,
    end: datetime,
    granularities: Sequence[Granularity],
    channels: Sequence[str],
) -> ReadGrant:
    """The grant for reading [start, end) of ``ean`` at ``granularities``, or a refusal:
    404 (as for an unknown EAN) without an approved mandate on ``channels``; 403 with the
    allowed window or granularities when the mandate exists but does not cover the ask."""
    mandates = await readable_mandates(session, principal, ean, channels=channels)
    windows: list[tuple[Mandate, datetime, datetime]] = []
    for mandate in mandates:
        allowed = ALLOWED_GRANULARITIES[mandate.data_service_type]
        if all(g in allowed for g in granularities):
            window_start, window_end = await _window(session, mandate)
            windows.append((mandate, window_start, window_end))
    if not windows:
        services = ", ".join(sorted({m.data_service_type.value for m in mandates}))
        raise Forbidden(
            f"Your mandate ({services}) does not cover this granularity.",
            extra={"data_service_types": sorted({m.data_service_type.value for m in mandates})},
        )
    for mandate, window_start, window_end in windows:
        if window_start <= start and end <= window_end:
            return ReadGrant(mandate=mandate, allowed_from=window_start, allowed_to=window_end)
    best = max(windows, key=lambda w: w[2] - w[1])
    raise Forbidden(
        f"The period asked is outside your mandate: you may read from {best[1].isoformat()} "
        f"to {best[2].isoformat()}.",
        extra={"allowed_from": best[1].isoformat(), "allowed_to": best[2].isoformat()},
    )
