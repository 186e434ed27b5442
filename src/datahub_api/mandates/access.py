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
from datetime import date, datetime, timedelta
from enum import StrEnum

from datahub_api.access_points import service as access_points_service
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import brussels_date, day_start, today_in_brussels
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
    session: ReadSession,
    principal: Principal,
    ean: str,
    *,
    channels: Sequence[str],
    reference_number: str | None = None,
) -> list[Mandate]:
    """The calling ESP's approved mandates on ``ean`` that ``channels`` serve (and a contract
    covers today), only those with ``reference_number`` when one is given, or the
    unknown-EAN 404. Routes call it before validating anything else of the request, so an
    ESP without a mandate learns nothing about the EAN."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Metering data is read by energy service providers.")
    mandates = await repository.approved_for_read(
        session, principal.organisation_id, ean, channels, today_in_brussels()
    )
    if reference_number is not None:
        mandates = [m for m in mandates if m.reference_number == reference_number]
    if not mandates:
        raise UnknownOrNotYours(ean)
    return mandates


async def readable_grants(
    session: ReadSession,
    principal: Principal,
    ean: str,
    *,
    granularities: Sequence[Granularity],
    channels: Sequence[str],
    reference_number: str | None = None,
) -> list[ReadGrant]:
    """Every mandate of the caller on ``ean`` whose data service allows ``granularities``,
    with the window it allows: 404 (as for an unknown EAN) without an approved mandate on
    ``channels``, 403 naming the data services when none allows the granularities."""
    mandates = await readable_mandates(
        session, principal, ean, channels=channels, reference_number=reference_number
    )
    grants: list[ReadGrant] = []
    for mandate in mandates:
        allowed = ALLOWED_GRANULARITIES[mandate.data_service_type]
        if all(g in allowed for g in granularities):
            window_start, window_end = await _window(session, mandate)
            grants.append(ReadGrant(mandate, window_start, window_end))
    if not grants:
        services = sorted({m.data_service_type.value for m in mandates})
        raise Forbidden(
            f"Your mandate ({', '.join(services)}) does not cover this granularity.",
            extra={"data_service_types": services},
        )
    return grants


async def authorize_read(
    session: ReadSession,
    principal: Principal,
    ean: str,
    *,
    start: datetime,
    end: datetime,
    granularities: Sequence[Granularity],
    channels: Sequence[str],
    reference_number: str | None = None,
) -> ReadGrant:
    """The grant for reading [start, end) of ``ean`` at ``granularities``, or a refusal:
    404 (as for an unknown EAN) without an approved mandate on ``channels`` (with
    ``reference_number``, when given); 403 with the allowed window or granularities when the
    mandate exists but does not cover the ask."""
    grants = await readable_grants(
        session,
        principal,
        ean,
        granularities=granularities,
        channels=channels,
        reference_number=reference_number,
    )
    for grant in grants:
        if grant.allowed_from <= start and end <= grant.allowed_to:
            return grant
    best = max(grants, key=lambda g: g.allowed_to - g.allowed_from)
    raise Forbidden(
        "The period asked is outside your mandate: you may read from "
        f"{best.allowed_from.isoformat()} to {best.allowed_to.isoformat()}.",
        extra={
            "allowed_from": best.allowed_from.isoformat(),
            "allowed_to": best.allowed_to.isoformat(),
        },
    )


@dataclass(frozen=True)
class ReadableWindow:
    """What one mandate lets its ESP read: [start, end) (the data period, narrowed to the
    tenure as :func:`authorize_read` narrows it) at ``granularities``."""

    mandate: Mandate
    start: datetime
    end: datetime
    granularities: frozenset[Granularity]

    def holds_day(self, day: date) -> bool:
        """Whether the whole Brussels ``day`` lies inside the window."""
        return self.start <= day_start(day) and day_start(day + timedelta(days=1)) <= self.end

    def grant(self) -> ReadGrant:
        return ReadGrant(mandate=self.mandate, allowed_from=self.start, allowed_to=self.end)


async def readable_windows(
    session: ReadSession, mandates: Sequence[Mandate]
) -> list[ReadableWindow]:
    """The windows of many mandates at once (tenures in one query), as :func:`_window` and
    :data:`ALLOWED_GRANULARITIES` give them one by one. Mandates that allow no metering
    data (``IG``) or whose window is empty are left out."""
    today = today_in_brussels()
    wanted = [m for m in mandates if ALLOWED_GRANULARITIES[m.data_service_type]]
    pairs = {
        (mandate.ean, account_id)
        for mandate in wanted
        for account_id in (mandate.given_by_account_id, mandate.grid_user_account_id)
        if account_id is not None
    }
    tenures = await access_points_service.tenure_starts(session, pairs, today)
    windows = []
    for mandate in wanted:
        start = mandate.data_period_from
        for account_id in {mandate.given_by_account_id, mandate.grid_user_account_id} - {None}:
            assert account_id is not None
            tenure = tenures.get((mandate.ean, account_id))
            if tenure is not None:
                start = max(start, day_start(tenure))
        if start < mandate.data_period_to:
            windows.append(
                ReadableWindow(
                    mandate,
                    start,
                    mandate.data_period_to,
                    ALLOWED_GRANULARITIES[mandate.data_service_type],
                )
            )
    return windows


async def readable_portfolio(
    session: ReadSession, principal: Principal, *, channels: Sequence[str]
) -> list[ReadableWindow]:
    """Every window the calling ESP may read, over all its EANs: its approved mandates on
    ``channels`` under a contract covering them today (what :func:`readable_mandates` finds
    for one EAN), by EAN and mandate id."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Metering data is read by energy service providers.")
    mandates = await repository.approved_for_reads(
        session, channels, today_in_brussels(), organisation_id=principal.organisation_id
    )
    return await readable_windows(session, mandates)


async def authorize_installation_read(
    session: ReadSession,
    principal: Principal,
    ean: str,
    *,
    now: datetime,
    channels: Sequence[str],
    reference_number: str | None = None,
) -> ReadGrant:
    """The grant for reading the installation facts of ``ean`` as they are at ``now``: an
    approved ``IG`` mandate (no other data service grants them, as at Fluvius) whose window,
    its data period narrowed to the consenting customer's tenure, holds ``now``, while that
    customer (and a co-signing grid user) still holds a role on the EAN, before the
    mandate's expiry. 404 (as for an unknown EAN) without an approved mandate on
    ``channels``; 403 when the caller's mandates on the EAN grant no installation data now.
    """
    mandates = await readable_mandates(
        session, principal, ean, channels=channels, reference_number=reference_number
    )
    installation_mandates = [
        m for m in mandates if m.data_service_type is DataServiceType.installation
    ]
    if not installation_mandates:
        services = sorted({m.data_service_type.value for m in mandates})
        raise Forbidden(
            f"Your mandate ({', '.join(services)}) does not cover installation data: that "
            "needs a mandate for data service IG.",
            extra={"data_service_types": services},
        )
    today = brussels_date(now)
    for mandate in installation_mandates:
        start, end = await _window(session, mandate)
        if not (start <= now < end and now < mandate.expiration_date):
            continue
        if await _consenting_parties_hold_on(session, mandate, today):
            return ReadGrant(mandate, start, end)
    raise Forbidden(
        "Your IG mandate does not cover installation data today: they are served as they "
        "are now, while the mandate runs."
    )


async def _consenting_parties_hold_on(session: ReadSession, mandate: Mandate, day: date) -> bool:
    """Whether the customer who gave ``mandate`` (and the grid user who co-signed it) are
    still customer or grid user of its EAN on ``day``."""
    for account_id in {mandate.given_by_account_id, mandate.grid_user_account_id} - {None}:
        assert account_id is not None
        if await access_points_service.tenure_start(session, mandate.ean, account_id, day) is None:
            return False
    return True
