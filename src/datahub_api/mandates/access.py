"""Who may read which metering data: the one gate every data route goes through.

Data leaves only with an **approved** mandate of the calling ESP for that EAN, on a channel
the face serves, under an active contract for it (the token's scopes are narrowed to the
contracts on every call), before the mandate's expiration instant and before the end of the
tenure of the people who gave it (whether or not the daily job has finished it yet), at a
granularity its data service allows. The check comes before any other validation, so an ESP
without a mandate learns nothing about an EAN: it gets the same answer as for an unknown EAN.

Two windows per mandate (:class:`ReadGrant`):

* what the ESP may **ask** for: the mandate's data period, which it knows (403 outside it,
  naming only that period);
* what is **released**: the data period narrowed to the tenure of the customer who gave the
  mandate and of the grid user who co-signed it (:mod:`datahub_api.mandates.tenure`). Days of
  the data period outside it read as gaps, exactly like days without data, and are never
  named: whether a day belongs to the customer is not the ESP's to learn from us.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import brussels_date, day_start
from datahub_api.db import ReadSession
from datahub_api.errors import Forbidden, NotFound
from datahub_api.mandates import repository
from datahub_api.mandates.models import DataServiceType, Mandate, MandateStatus
from datahub_api.meter_data.granularity import Granularity

# Which granularities each data service lets an ESP read.
ALLOWED_GRANULARITIES: dict[DataServiceType, frozenset[Granularity]] = {
    DataServiceType.quarter_hourly: frozenset(Granularity),
    DataServiceType.undetermined: frozenset(Granularity),
    DataServiceType.daily: frozenset({Granularity.P1D, Granularity.P1M}),
    DataServiceType.installation: frozenset(),
}


class UnknownOrNotYours(NotFound):
    """The answer for an EAN without a fitting mandate: the same as for an unknown EAN."""

    def __init__(self, ean: str) -> None:
        super().__init__(f"No access point {ean[:18]} that you may read.")


def utcnow() -> datetime:
    return datetime.now(UTC)


def released_window(mandate: Mandate) -> tuple[datetime, datetime]:
    """The instants [from, to) whose data a mandate releases: its data period narrowed to
    the tenure of the people who gave it (stored on the mandate; empty when from >= to)."""
    start, end = mandate.data_period_from, mandate.data_period_to
    if mandate.tenure_from is not None:
        start = max(start, mandate.tenure_from)
    if mandate.tenure_to is not None:
        end = min(end, mandate.tenure_to)
    return start, end


def reads_at(mandate: Mandate, now: datetime) -> bool:
    """The gate's rule for one loaded mandate, as :func:`repository.readable_at` says it in
    SQL: approved, before its expiration instant and before the end of the tenure."""
    return (
        mandate.status is MandateStatus.approved
        and now < mandate.expiration_date
        and (mandate.tenure_to is None or now < mandate.tenure_to)
    )


def why_not_reading(mandate: Mandate, now: datetime) -> str:
    """Why a mandate that :func:`reads_at` refuses reads no more, in the words of
    ``finished_reason`` (also before the daily job has finished it)."""
    if mandate.finished_reason:
        return mandate.finished_reason
    if mandate.tenure_to is not None and mandate.tenure_to <= now:
        return "tenure_ended"
    if mandate.expiration_date <= now:
        return "expired"
    return mandate.status.value


def days_of(start: datetime, end: datetime) -> tuple[date, date]:
    """The Brussels days [first, end) that [start, end) touches (first == end: none)."""
    if end <= start:
        first = brussels_date(start)
        return first, first
    last = brussels_date(end - timedelta(microseconds=1))
    # A stored end in the last day Python holds (a sandbox mock at 9999-12-31) saturates.
    return brussels_date(start), last + timedelta(1) if last < date.max else last


@dataclass(frozen=True)
class ReadGrant:
    """The mandate that allows a read: the period the ESP may ask for (``allowed_*``: the
    mandate's data period) and the part of it whose data is released (``released_*``:
    narrowed to the tenure; never told to the ESP)."""

    mandate: Mandate
    allowed_from: datetime
    allowed_to: datetime
    released_from: datetime
    released_to: datetime

    @classmethod
    def of(cls, mandate: Mandate) -> ReadGrant:
        start, end = released_window(mandate)
        return cls(mandate, mandate.data_period_from, mandate.data_period_to, start, end)

    def released_part(self, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
        """The part of [start, end) whose data is released (None: none of it)."""
        low, high = max(start, self.released_from), min(end, self.released_to)
        return (low, high) if low < high else None

    def released_days(self) -> tuple[date, date]:
        """The Brussels days [first, end) holding released data (the tenure's bounds are
        Brussels midnights; a data period's bounds are cut by the asked window itself)."""
        return days_of(self.released_from, self.released_to)

    def releases_day(self, day: date) -> bool:
        """Whether the whole Brussels ``day`` is released."""
        return self.released_from <= day_start(day) and (
            day_start(day + timedelta(days=1)) <= self.released_to
        )


async def readable_mandates(
    session: ReadSession,
    principal: Principal,
    ean: str,
    *,
    channels: Sequence[str],
    reference_number: str | None = None,
    data_service_types: Sequence[DataServiceType] = (),
    now: datetime | None = None,
) -> list[Mandate]:
    """The calling ESP's approved mandates on ``ean`` that ``channels`` serve (and a contract
    covers today), not past their expiration instant nor the end of the tenure, only those
    with ``reference_number`` when one is given, or the unknown-EAN 404. Routes call it
    before validating anything else of the request, so an ESP without a mandate learns
    nothing about the EAN. ``data_service_types`` (when given) keeps only mandates of those
    data services, as a ``reference_number`` does."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Metering data is read by energy service providers.")
    mandates = await repository.approved_for_read(
        session, principal.organisation_id, ean, channels, now or utcnow()
    )
    if reference_number is not None:
        mandates = [m for m in mandates if m.reference_number == reference_number]
    if data_service_types:
        mandates = [m for m in mandates if m.data_service_type in data_service_types]
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
    data_service_types: Sequence[DataServiceType] = (),
    now: datetime | None = None,
) -> list[ReadGrant]:
    """Every mandate of the caller on ``ean`` whose data service allows ``granularities``,
    with its windows: 404 (as for an unknown EAN) without a readable mandate on
    ``channels``, 403 naming the data services when none allows the granularities."""
    mandates = await readable_mandates(
        session,
        principal,
        ean,
        channels=channels,
        reference_number=reference_number,
        data_service_types=data_service_types,
        now=now,
    )
    grants = [
        ReadGrant.of(mandate)
        for mandate in mandates
        if all(g in ALLOWED_GRANULARITIES[mandate.data_service_type] for g in granularities)
    ]
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
    data_service_types: Sequence[DataServiceType] = (),
    now: datetime | None = None,
) -> ReadGrant:
    """The grant for reading [start, end) of ``ean`` at ``granularities``, or a refusal:
    404 (as for an unknown EAN) without a readable mandate on ``channels`` (with
    ``reference_number``, when given); 403 naming the granularities, or the data period, when
    the mandate exists but does not cover the ask. Of several mandates whose data period
    holds the ask, the one releasing most of it grants it."""
    grants = await readable_grants(
        session,
        principal,
        ean,
        granularities=granularities,
        channels=channels,
        reference_number=reference_number,
        data_service_types=data_service_types,
        now=now,
    )
    covering = [g for g in grants if g.allowed_from <= start and end <= g.allowed_to]
    if covering:

        def released(grant: ReadGrant) -> timedelta:
            part = grant.released_part(start, end)
            return part[1] - part[0] if part else timedelta(0)

        return max(covering, key=released)
    best = max(grants, key=lambda g: g.allowed_to - g.allowed_from)
    raise Forbidden(
        "The period asked is outside your mandate's data period: you may ask for "
        f"{best.allowed_from.isoformat()} to {best.allowed_to.isoformat()}.",
        extra={
            "allowed_from": best.allowed_from.isoformat(),
            "allowed_to": best.allowed_to.isoformat(),
        },
    )


@dataclass(frozen=True)
class ReadableWindow:
    """What one mandate releases: [start, end) (the data period narrowed to the tenure, as
    :class:`ReadGrant` narrows it; may be empty) at ``granularities``."""

    mandate: Mandate
    start: datetime
    end: datetime
    granularities: frozenset[Granularity]

    def holds_day(self, day: date) -> bool:
        """Whether the whole Brussels ``day`` lies inside the window."""
        return self.start <= day_start(day) and day_start(day + timedelta(days=1)) <= self.end

    def grant(self) -> ReadGrant:
        return ReadGrant.of(self.mandate)


def readable_windows(mandates: Sequence[Mandate]) -> list[ReadableWindow]:
    """The windows of many mandates, as :class:`ReadGrant` and :data:`ALLOWED_GRANULARITIES`
    give them one by one. Mandates that allow no metering data (``IG``) are left out."""
    windows = []
    for mandate in mandates:
        granularities = ALLOWED_GRANULARITIES[mandate.data_service_type]
        if granularities:
            start, end = released_window(mandate)
            windows.append(ReadableWindow(mandate, start, end, granularities))
    return windows


async def readable_portfolio(
    session: ReadSession,
    principal: Principal,
    *,
    channels: Sequence[str],
    now: datetime | None = None,
) -> list[ReadableWindow]:
    """Every window the calling ESP may read, over all its EANs: its readable mandates on
    ``channels`` under a contract covering them today (what :func:`readable_mandates` finds
    for one EAN), by EAN and mandate id."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Metering data is read by energy service providers.")
    mandates = await repository.approved_for_reads(
        session, channels, now or utcnow(), organisation_id=principal.organisation_id
    )
    return readable_windows(mandates)


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
    approved ``IG`` mandate (no other data service grants them, as at Fluvius) that reads at
    ``now`` (before its expiry and the end of the tenure of the people who gave it) and
    whose released window (its data period narrowed to that tenure) holds ``now``. 404 (as
    for an unknown EAN) without a readable mandate on ``channels``; 403 when the caller's
    mandates on the EAN grant no installation data now.
    """
    mandates = await readable_mandates(
        session, principal, ean, channels=channels, reference_number=reference_number, now=now
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
    for mandate in installation_mandates:
        grant = ReadGrant.of(mandate)
        if grant.released_from <= now < grant.released_to:
            return grant
    raise Forbidden(
        "Your IG mandate does not cover installation data today: they are served as they "
        "are now, while the mandate runs."
    )
