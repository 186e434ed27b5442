"""The rules of consent: consent sessions, mandates, grid-user co-consent, revocation,
expiry and renewal. Both API faces call these; neither holds a rule of its own."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import AccessPoint, MeterType
from datahub_api.access_points.sandbox import make_sandbox_point
from datahub_api.accounts.models import Account
from datahub_api.audit.service import record_action
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import brussels_date, day_start, today_in_brussels
from datahub_api.contracts import repository as contracts_repository
from datahub_api.contracts.models import Channel, ContractStatus
from datahub_api.db import ReadSession, WriteSession, after_commit
from datahub_api.deps import started_mandate_versions
from datahub_api.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    UnprocessableContent,
)
from datahub_api.events.service import publish
from datahub_api.mandates import repository, tenure
from datahub_api.mandates.access import UnknownOrNotYours as UnknownOrNotYours
from datahub_api.mandates.models import (
    CoConsentStatus,
    CoConsentTask,
    ConsentSession,
    ConsentSessionStatus,
    DataServiceType,
    Flow,
    Mandate,
    MandateSource,
    MandateStatus,
    MandateStatusChange,
    OutboxMessage,
    RenewalStatus,
)
from datahub_api.organisations import enterprise_number
from datahub_api.organisations import repository as organisations_repository
from datahub_api.settings import Settings

# Channels a customer can consent for on the portal: the API, the portal itself, and NPS
# (whose EAN lists may reference such a portal mandate as evidence).
CONSENT_CHANNELS = frozenset({Channel.api.value, Channel.portal.value, Channel.nps.value})
RENEWAL_WINDOW = timedelta(days=91)  # "ToBeRenewed" from three months before expiry
DEFAULT_DATA_PERIOD = timedelta(days=366)
# Expiry: a mandate expires at the end of its data period, but never sooner than this after
# it was given. A consent for a past period (or one ending within days) would otherwise be
# expired at once, before the ESP could read what the customer consented to share.
MIN_ACCESS_AFTER_CONSENT = timedelta(days=30)


class MandateEvent:
    requested = "mandate.requested"
    approved = "mandate.approved"
    rejected = "mandate.rejected"
    finished = "mandate.finished"
    renewal_status_changed = "mandate.renewal_status_changed"
    ends_at_changed = "mandate.ends_at_changed"


# Called inside the changing transaction for every mandate event (the change feed and
# webhooks subscribe here).
MandateListener = Callable[[WriteSession, Mandate, str], Awaitable[None]]
MANDATE_EVENT_LISTENERS: list[MandateListener] = []


@dataclass(frozen=True)
class DataServiceRequest:
    data_service_type: DataServiceType
    data_period_from: datetime | None
    data_period_to: datetime | None


@dataclass(frozen=True)
class ConsentSessionRequest:
    contract_number: str
    reference_number: str
    flow: Flow
    data_services: Sequence[DataServiceRequest]
    number_of_eans: int
    return_url_success: str | None
    return_url_failed: str | None
    enterprise_number: str | None
    channel: str = Channel.api.value


@dataclass(frozen=True)
class ConsentRules:
    session_lifetime: timedelta
    co_consent_days: int

    @classmethod
    def of(cls, settings: Settings) -> ConsentRules:
        """The rules the service is configured with."""
        return cls(
            session_lifetime=timedelta(hours=settings.consent_session_lifetime_hours),
            co_consent_days=settings.co_consent_days,
        )


async def get(session: ReadSession, principal: Principal, mandate_id: int) -> Mandate | None:
    """The mandate, if the principal may see it."""
    return await repository.get(session, principal, mandate_id)


async def consent_session_of_organisation(
    session: ReadSession, organisation_id: int, identifier: str
) -> ConsentSession | None:
    """The organisation's own consent request with that short-URL identifier."""
    return await repository.consent_session_of_organisation(session, organisation_id, identifier)


def utcnow() -> datetime:
    return datetime.now(UTC)


def mandate_payload(mandate: Mandate) -> dict[str, Any]:
    return {
        "mandate_id": mandate.id,
        "ean": mandate.ean,
        "reference_number": mandate.reference_number,
        "status": mandate.status.value,
        "renewal_status": mandate.renewal_status.value if mandate.renewal_status else None,
        "data_service_type": mandate.data_service_type.value,
        "channel": mandate.channel,
        "finished_reason": mandate.finished_reason,
        "ends_at": mandate.tenure_to.isoformat() if mandate.tenure_to is not None else None,
    }


def default_expiration(period_to: datetime, given_at: datetime) -> datetime:
    """The end of the data period, and at least :data:`MIN_ACCESS_AFTER_CONSENT` after the
    consent was given (a consent for a past period lets the ESP read it for that long)."""
    return max(period_to, given_at + MIN_ACCESS_AFTER_CONSENT)


async def _forget_versions(app: Any) -> None:
    """After-commit hook: this process forgets its cached mandate versions at once (its own
    change is then seen before the notification arrives)."""
    versions = started_mandate_versions(app)
    if versions is not None:
        versions.forget()


async def _announce(session: WriteSession, mandate: Mandate, event: str) -> None:
    await repository.bump_organisation_version(session, mandate.organisation_id)
    after_commit(session, _forget_versions)
    for listener in MANDATE_EVENT_LISTENERS:
        await listener(session, mandate, event)


async def _move(
    session: WriteSession,
    mandate: Mandate,
    status: MandateStatus,
    *,
    actor: str,
    reason: str | None = None,
    renewal_status: RenewalStatus | None = None,
) -> None:
    previous = mandate.status
    mandate.status = status
    if renewal_status is not None:
        mandate.renewal_status = renewal_status
    if status is MandateStatus.finished:
        mandate.finished_reason = reason
    await repository.touch(session, mandate)
    repository.add(
        session,
        MandateStatusChange(
            mandate_id=mandate.id,
            from_status=previous.value,
            to_status=status.value,
            renewal_status=mandate.renewal_status.value if mandate.renewal_status else None,
            actor=actor,
            reason=reason,
        ),
    )
    await session.flush()
    event = {
        MandateStatus.approved: MandateEvent.approved,
        MandateStatus.rejected: MandateEvent.rejected,
        MandateStatus.finished: MandateEvent.finished,
        MandateStatus.requested: MandateEvent.requested,
    }[status]
    await _announce(session, mandate, event)


# --- consent sessions ----------------------------------------------------------------


def _check_return_url(url: str | None, prefixes: Sequence[str]) -> None:
    if url is not None and not any(url.startswith(prefix) for prefix in prefixes):
        raise UnprocessableContent(
            f"Return URL {url[:200]} is not on your organisation's registered allow-list."
        )


def _period(service: DataServiceRequest, today: date) -> tuple[datetime, datetime]:
    start = service.data_period_from or day_start(today)
    end = service.data_period_to or start + DEFAULT_DATA_PERIOD
    if start.tzinfo is None or end.tzinfo is None:
        raise UnprocessableContent("Data periods are instants: give a time zone offset.")
    if end <= start:
        raise UnprocessableContent("dataPeriodTo must be after dataPeriodFrom.")
    return start, end


async def open_consent_session(
    session: WriteSession,
    principal: Principal,
    request: ConsentSessionRequest,
    rules: ConsentRules,
    *,
    identifier: str | None = None,
) -> ConsentSession:
    """``identifier`` is random unless given (the demo world gives it, to be the same for
    the same seed)."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Only an energy service provider may ask for consent.")
    if request.channel not in CONSENT_CHANNELS:
        raise UnprocessableContent(
            "Consent sessions are for the `api`, `portal` and `nps` channels."
        )
    found = await contracts_repository.get(session, principal, request.contract_number)
    if found is None:
        raise NotFound(f"No data-access contract {request.contract_number[:20]} of yours.")
    contract, organisation = found
    if contract.status is not ContractStatus.approved:
        raise Conflict(f"Contract {contract.number} is {contract.status.value}, not approved.")
    if request.channel not in contract.channels:
        raise Conflict(f"Contract {contract.number} does not cover the {request.channel} channel.")
    if request.number_of_eans < 1:
        raise UnprocessableContent("numberOfEans must be at least 1.")
    if not request.data_services:
        raise UnprocessableContent("Name at least one data service.")
    if len({s.data_service_type for s in request.data_services}) != len(request.data_services):
        raise UnprocessableContent("Each data service may be named once.")
    if not request.reference_number.strip():
        raise UnprocessableContent("referenceNumber is required.")
    company = None
    if request.flow is Flow.b2b:
        if not request.enterprise_number:
            raise UnprocessableContent(
                "A B2B consent session needs the customer's enterpriseNumber."
            )
        try:
            company = enterprise_number.canonical(request.enterprise_number)
        except enterprise_number.InvalidEnterpriseNumber as exc:
            raise UnprocessableContent(str(exc)) from None
    _check_return_url(request.return_url_success, organisation.return_url_prefixes)
    _check_return_url(request.return_url_failed, organisation.return_url_prefixes)
    today = today_in_brussels()
    services = []
    for service in request.data_services:
        start, end = _period(service, today)
        services.append(
            {
                "data_service_type": service.data_service_type.value,
                "data_period_from": start.isoformat(),
                "data_period_to": end.isoformat(),
            }
        )
    consent = ConsentSession(
        short_url_identifier=identifier or secrets.token_urlsafe(12),
        organisation_id=organisation.id,
        contract_id=contract.id,
        channel=request.channel,
        reference_number=request.reference_number,
        flow=request.flow,
        enterprise_number=company,
        number_of_eans=request.number_of_eans,
        data_services=services,
        return_url_success=request.return_url_success,
        return_url_failed=request.return_url_failed,
        status=ConsentSessionStatus.open,
        valid_to=utcnow() + rules.session_lifetime,
    )
    repository.add(session, consent)
    await session.flush()
    for mandate in await repository.to_be_renewed_with_reference(
        session, organisation.id, request.reference_number
    ):
        mandate.renewal_status = RenewalStatus.renewal_requested
        await repository.touch(session, mandate)
        await session.flush()
        await _announce(session, mandate, MandateEvent.renewal_status_changed)
    return consent


@dataclass(frozen=True)
class EligibleAccessPoint:
    ean: str
    energy_type: str
    is_grid_user: bool


@dataclass(frozen=True)
class ConsentSessionView:
    consent: ConsentSession
    organisation_name: str
    eligible: list[EligibleAccessPoint]


async def _eligible(
    session: ReadSession, account_id: int, today: date, channel: str
) -> list[EligibleAccessPoint]:
    """The account's own access points (customer today) that the channel serves: with a
    digital meter for `api` and `portal`, large-consumption (GVM) installations for `nps`."""
    eligible = []
    for point in await access_points_service.access_points_of_account(session, account_id, today):
        if not point.is_customer:
            continue
        access_point = await access_points_service.find_access_point(session, point.ean)
        if access_point is None:
            continue
        if channel == Channel.nps.value:
            if not access_point.gvm:
                continue
        elif access_point.meter_type is not MeterType.digital:
            continue
        eligible.append(
            EligibleAccessPoint(
                ean=point.ean,
                energy_type=access_point.energy_type.value,
                is_grid_user=point.is_grid_user,
            )
        )
    return eligible


async def _open_consent(
    session: ReadSession, identifier: str, *, for_update: bool
) -> ConsentSession:
    consent = await repository.consent_session_by_identifier(
        session, identifier, for_update=for_update
    )
    if consent is None:
        raise NotFound("No such consent request.")
    return consent


async def view_consent_session(
    session: ReadSession, account: Account, identifier: str
) -> ConsentSessionView:
    consent = await _open_consent(session, identifier, for_update=False)
    organisation = await organisations_repository.get(session, consent.organisation_id)
    assert organisation is not None
    return ConsentSessionView(
        consent=consent,
        organisation_name=organisation.name,
        eligible=await _eligible(session, account.id, today_in_brussels(), consent.channel),
    )


@dataclass(frozen=True)
class Decision:
    consent: ConsentSession
    mandates: list[Mandate]
    redirect_url: str | None


async def decide_consent_session(
    session: WriteSession,
    account: Account,
    identifier: str,
    *,
    approve: bool,
    eans: Sequence[str],
    rules: ConsentRules,
    actor: Principal | None = None,
) -> Decision:
    """The customer's answer. Exactly one decision wins when two race (row lock)."""
    consent = await _open_consent(session, identifier, for_update=True)
    now = utcnow()
    if consent.status is ConsentSessionStatus.open and consent.valid_to <= now:
        consent.status = ConsentSessionStatus.expired
        await session.flush()
    if consent.status is ConsentSessionStatus.expired:
        raise Gone("This consent request has expired; ask the service provider for a new one.")
    if consent.status is not ConsentSessionStatus.open:
        raise Conflict("This consent request was already answered.")
    if consent.flow is Flow.b2b and account.enterprise_number != consent.enterprise_number:
        raise Forbidden("This consent request is for another enterprise.")
    mandates: list[Mandate] = []
    if approve:
        mandates = await _grant(session, account, consent, eans, rules, now)
    consent.status = ConsentSessionStatus.approved if approve else ConsentSessionStatus.rejected
    consent.decided_at = now
    consent.decided_by_account_id = account.id
    await session.flush()
    url = consent.return_url_success if approve else consent.return_url_failed
    if actor is not None:  # a person deciding (not the demo world's set-up)
        choice = "approve" if approve else "reject"
        record_action(session, actor=actor, action=f"consent.{choice}", target=identifier)
    return Decision(consent=consent, mandates=mandates, redirect_url=url)


async def _grant(
    session: WriteSession,
    account: Account,
    consent: ConsentSession,
    eans: Sequence[str],
    rules: ConsentRules,
    now: datetime,
) -> list[Mandate]:
    if not eans:
        raise UnprocessableContent("Pick at least one access point to approve.")
    if len(set(eans)) != len(eans):
        raise UnprocessableContent("Each access point may be picked once.")
    if len(eans) > consent.number_of_eans:
        raise UnprocessableContent(
            f"This request is for at most {consent.number_of_eans} access point(s)."
        )
    today = today_in_brussels()
    eligible = {
        point.ean: point for point in await _eligible(session, account.id, today, consent.channel)
    }
    for ean in eans:
        if ean not in eligible:
            what = "large-consumption" if consent.channel == Channel.nps.value else "digital-meter"
            raise Forbidden(f"{ean[:18]} is not one of your {what} access points.")
    made: list[Mandate] = []
    for ean in eans:
        access_point = await access_points_service.get_access_point(session, ean)
        grid_user = await access_points_service.grid_user_on(session, ean, today)
        for service in consent.data_services:
            mandate = await _new_mandate(
                session,
                organisation_id=consent.organisation_id,
                access_point=access_point,
                reference_number=consent.reference_number,
                channel=consent.channel,
                data_service_type=DataServiceType(service["data_service_type"]),
                period=(
                    datetime.fromisoformat(service["data_period_from"]),
                    datetime.fromisoformat(service["data_period_to"]),
                ),
                given_by=account.id,
                grid_user=grid_user,
                consent_session_id=consent.id,
                source=MandateSource.consent,
                actor=f"user:{account.id}",
            )
            if grid_user is not None and grid_user != account.id:
                await _ask_grid_user(session, mandate, grid_user, account.display_name, rules, now)
            made.append(mandate)
    return made


async def _new_mandate(
    session: WriteSession,
    *,
    organisation_id: int,
    access_point: AccessPoint,
    reference_number: str,
    channel: str,
    data_service_type: DataServiceType,
    period: tuple[datetime, datetime],
    given_by: int | None,
    grid_user: int | None,
    consent_session_id: int | None,
    source: MandateSource,
    actor: str,
    status: MandateStatus | None = None,
    expiration: datetime | None = None,
    renewal_status: RenewalStatus | None = None,
) -> Mandate:
    existing = await repository.live_mandate(
        session, organisation_id, access_point.ean, data_service_type, reference_number
    )
    if existing is not None:
        await _move(
            session, existing, MandateStatus.finished, actor=actor, reason="replaced_by_new_consent"
        )
    if status is None:
        needs_co_consent = grid_user is not None and grid_user != given_by
        status = MandateStatus.requested if needs_co_consent else MandateStatus.approved
    now = utcnow()
    [held] = await tenure.tenures_of(
        session, [tenure.People(access_point.ean, given_by, grid_user, today_in_brussels(now))]
    )
    mandate = Mandate(
        organisation_id=organisation_id,
        ean=access_point.ean,
        access_point_id=access_point.id,
        reference_number=reference_number,
        channel=channel,
        energy_type=access_point.energy_type.value,
        data_service_type=data_service_type,
        data_period_from=period[0],
        data_period_to=period[1],
        expiration_date=expiration or default_expiration(period[1], now),
        status=status,
        renewal_status=renewal_status,
        source=source,
        consent_session_id=consent_session_id,
        given_by_account_id=given_by,
        grid_user_account_id=grid_user,
        tenure_from=held.start,
        tenure_to=held.end,
        created_at=now,  # its Brussels day is the day of consent the tenure must hold
        version=1,
    )
    repository.add(session, mandate)
    await session.flush()
    repository.add(
        session,
        MandateStatusChange(
            mandate_id=mandate.id, from_status=None, to_status=status.value, actor=actor
        ),
    )
    await session.flush()
    await _announce(
        session,
        mandate,
        MandateEvent.approved if status is MandateStatus.approved else MandateEvent.requested,
    )
    if status in (MandateStatus.rejected, MandateStatus.finished):
        await _announce(session, mandate, f"mandate.{status.value}")
    return mandate


async def _ask_grid_user(
    session: WriteSession,
    mandate: Mandate,
    grid_user: int,
    customer_name: str,
    rules: ConsentRules,
    now: datetime,
) -> None:
    task = CoConsentTask(
        mandate_id=mandate.id,
        grid_user_account_id=grid_user,
        status=CoConsentStatus.open,
        due_at=now + timedelta(days=rules.co_consent_days),
    )
    repository.add(session, task)
    repository.add(
        session,
        OutboxMessage(
            account_id=grid_user,
            kind="co_consent_request",
            payload={
                "mandate_id": mandate.id,
                "ean": mandate.ean,
                "customer": customer_name,
                "due_at": task.due_at.isoformat(),
            },
        ),
    )
    await session.flush()


async def new_signed_mandate(
    session: WriteSession,
    *,
    organisation_id: int,
    access_point: AccessPoint,
    reference_number: str,
    channel: str,
    data_service_type: DataServiceType,
    period: tuple[datetime, datetime],
    grid_user: int,
    signed_by_grid_user: bool,
    signatory_name: str,
    actor: str,
    rules: ConsentRules,
    expiration: datetime | None = None,
) -> Mandate:
    """A mandate on a signed paper mandate the ESP keeps (NPS, yearly history; ``expiration``
    defaults to the end of the data period). It starts ``requested`` whoever signed it: the
    DSO checks the signatory after registration (see :mod:`datahub_api.paper_mandates`) and
    :func:`approve_signed` approves it. When a customer signed, the grid user gets the same
    co-consent task (and letter) as when another customer consents on the portal."""
    mandate = await _new_mandate(
        session,
        organisation_id=organisation_id,
        access_point=access_point,
        reference_number=reference_number,
        channel=channel,
        data_service_type=data_service_type,
        period=period,
        given_by=grid_user if signed_by_grid_user else None,
        grid_user=grid_user,
        consent_session_id=None,
        source=MandateSource.signed,
        actor=actor,
        status=MandateStatus.requested,
        expiration=expiration,
    )
    if not signed_by_grid_user:
        await _ask_grid_user(session, mandate, grid_user, signatory_name, rules, utcnow())
    return mandate


# --- co-consent ----------------------------------------------------------------------


async def co_consent_inbox(
    session: ReadSession, account_id: int
) -> list[tuple[CoConsentTask, Mandate]]:
    return await repository.open_tasks_of(session, account_id)


async def decide_co_consent(
    session: WriteSession,
    account: Account,
    task_id: int,
    *,
    approve: bool,
    actor: Principal | None = None,
) -> tuple[CoConsentTask, Mandate]:
    found = await repository.task_of(session, account.id, task_id)
    if found is None:
        raise NotFound("No such co-consent request.")
    task, mandate = found
    now = utcnow()
    if task.status is CoConsentStatus.open and task.due_at <= now:
        await _expire_task(session, task, mandate)
    if task.status is CoConsentStatus.expired:
        raise Gone("This co-consent request has expired.")
    if task.status is not CoConsentStatus.open:
        raise Conflict("This co-consent request was already answered.")
    task.status = CoConsentStatus.approved if approve else CoConsentStatus.rejected
    task.decided_at = now
    if mandate.status is MandateStatus.requested:
        await _move(
            session,
            mandate,
            MandateStatus.approved if approve else MandateStatus.rejected,
            actor=f"user:{account.id}",
            reason=None if approve else "rejected_by_grid_user",
        )
    await session.flush()
    if actor is not None:  # a person deciding (not the demo world's set-up)
        choice = "approve" if approve else "reject"
        record_action(session, actor=actor, action=f"co_consent.{choice}", target=str(task_id))
    return task, mandate


async def _expire_task(session: WriteSession, task: CoConsentTask, mandate: Mandate) -> None:
    task.status = CoConsentStatus.expired
    task.decided_at = utcnow()
    if mandate.status is MandateStatus.requested:
        await _move(
            session,
            mandate,
            MandateStatus.rejected,
            actor="system",
            reason="co_consent_not_given_in_time",
        )


# --- ending mandates -----------------------------------------------------------------


async def revoke(session: WriteSession, principal: Principal, mandate_id: int) -> Mandate:
    """The customer or the grid user takes consent back (audited as ``mandate.revoke``)."""
    mandate = await repository.get(session, principal, mandate_id, for_update=True)
    if mandate is None:
        raise NotFound("No such mandate.")
    if mandate.status not in repository.LIVE_STATUSES:
        raise Conflict(f"A {mandate.status.value} mandate cannot be revoked.")
    reason = (
        "revoked_by_grid_user"
        if principal.user_id == mandate.grid_user_account_id
        and principal.user_id != mandate.given_by_account_id
        else "revoked_by_customer"
    )
    await _close_task_of(session, mandate)
    await _move(session, mandate, MandateStatus.finished, actor=principal.subject, reason=reason)
    record_action(session, actor=principal, action="mandate.revoke", target=str(mandate_id))
    return mandate


async def terminate(session: WriteSession, principal: Principal, mandate_id: int) -> Mandate:
    """The ESP ends its own mandate (audited as ``mandate.terminate``)."""
    mandate = await repository.get(session, principal, mandate_id, for_update=True)
    if mandate is None:
        raise NotFound("No such mandate.")
    if mandate.status not in repository.LIVE_STATUSES:
        raise Conflict(f"A {mandate.status.value} mandate cannot be terminated.")
    await _close_task_of(session, mandate)
    await _move(
        session,
        mandate,
        MandateStatus.finished,
        actor=principal.subject,
        reason="terminated_by_esp",
    )
    record_action(session, actor=principal, action="mandate.terminate", target=str(mandate_id))
    return mandate


async def finish(
    session: WriteSession, mandate_id: int, *, actor: str, reason: str
) -> Mandate | None:
    """End a live mandate for a reason of another domain (an NPS audit that failed, ...);
    None when it is not live any more."""
    mandate = await repository.get_for_update(session, mandate_id)
    if mandate is None or mandate.status not in repository.LIVE_STATUSES:
        return None
    await _close_task_of(session, mandate)
    await _move(session, mandate, MandateStatus.finished, actor=actor, reason=reason)
    return mandate


async def approve_signed(session: WriteSession, mandate_id: int, *, actor: str) -> Mandate | None:
    """A requested signed paper mandate that the DSO's checks now allow: approved. None when
    it is not a requested signed mandate (ended meanwhile, say)."""
    mandate = await repository.get_for_update(session, mandate_id)
    if (
        mandate is None
        or mandate.source is not MandateSource.signed
        or mandate.status is not MandateStatus.requested
    ):
        return None
    await _move(session, mandate, MandateStatus.approved, actor=actor)
    return mandate


async def hold_back_signed(
    session: WriteSession, mandate_id: int, *, actor: str, reason: str
) -> Mandate | None:
    """An approved signed paper mandate whose data is held (contested): ``requested`` again,
    on both faces, until :func:`approve_signed`. None when it is not approved."""
    mandate = await repository.get_for_update(session, mandate_id)
    if (
        mandate is None
        or mandate.source is not MandateSource.signed
        or mandate.status is not MandateStatus.approved
    ):
        return None
    await _move(session, mandate, MandateStatus.requested, actor=actor, reason=reason)
    return mandate


async def _close_task_of(session: WriteSession, mandate: Mandate) -> None:
    task = await repository.open_task_for_mandate(session, mandate.id)
    if task is not None:
        task.status = CoConsentStatus.rejected
        task.decided_at = utcnow()


async def on_parties_changed(session: WriteSession, eans: Sequence[str]) -> None:
    """The registry replaced these access points: every live mandate on them follows the
    tenure of the people who gave it, in the registry's transaction. A tenure that has ended
    (or that no longer holds the day of consent) ends the mandate at once; one that ends later
    is stored as the mandate's end (``ends_at``, the ESP is told), and the daily job ends it
    then; reads stop at that instant whatever the job."""
    mandates = await repository.live_on_eans(session, eans)
    if not mandates:
        return
    found = await tenure.tenures_of(session, [_people(m) for m in mandates])
    now = utcnow()
    for mandate, held in zip(mandates, found, strict=True):
        end_changed = held.end != mandate.tenure_to
        mandate.tenure_from, mandate.tenure_to = held.start, held.end
        if not held.held or (held.end is not None and held.end <= now):
            await _end_with_tenure(session, mandate, held.reason)
        elif end_changed:
            await repository.touch(session, mandate)
            await session.flush()
            await _announce(session, mandate, MandateEvent.ends_at_changed)
    await session.flush()


def _people(mandate: Mandate) -> tenure.People:
    return tenure.People(
        mandate.ean,
        mandate.given_by_account_id,
        mandate.grid_user_account_id,
        brussels_date(mandate.created_at),
    )


async def _end_with_tenure(session: WriteSession, mandate: Mandate, reason: str) -> None:
    await _close_task_of(session, mandate)
    await _move(session, mandate, MandateStatus.finished, actor="system", reason=reason)


@dataclass(frozen=True)
class DailyRun:
    expired: int
    to_be_renewed: int
    co_consents_expired: int
    consent_sessions_expired: int
    tenures_ended: int = 0


async def expire_and_renew(session: WriteSession, now: datetime | None = None) -> DailyRun:
    """The daily job: tenure ends, expiry, renewal status, unanswered co-consent, stale
    sessions. (Reads stop at a mandate's end instant without it: the job only puts the
    status, reason, event and webhook in step.)"""
    now = now or utcnow()
    ending = await repository.tenure_ended_by(session, now)
    reasons = await tenure.tenures_of(session, [_people(m) for m in ending])
    for mandate, held in zip(ending, reasons, strict=True):
        await _end_with_tenure(session, mandate, held.reason)
    expired = 0
    for mandate in await repository.expired_by(session, now):
        if mandate.status is MandateStatus.requested:
            await _close_task_of(session, mandate)
        await _move(
            session,
            mandate,
            MandateStatus.finished,
            actor="system",
            reason="expired",
            renewal_status=RenewalStatus.expired,
        )
        expired += 1
    renewing = 0
    for mandate in await repository.due_for_renewal(session, now + RENEWAL_WINDOW):
        mandate.renewal_status = RenewalStatus.to_be_renewed
        await repository.touch(session, mandate)
        await session.flush()
        await _announce(session, mandate, MandateEvent.renewal_status_changed)
        renewing += 1
    overdue = 0
    for task, mandate in await repository.overdue_tasks(session, now):
        await _expire_task(session, task, mandate)
        overdue += 1
    stale = await repository.expired_consent_sessions(session, now)
    await session.flush()
    return DailyRun(expired, renewing, overdue, stale, len(ending))


# --- sandbox -------------------------------------------------------------------------


@dataclass(frozen=True)
class MockMandate:
    reference_number: str
    ean: str
    data_service_type: DataServiceType
    data_period_from: datetime | None
    data_period_to: datetime | None
    status: MandateStatus | None
    expiration: datetime | None
    renewal_status: RenewalStatus | None


async def make_sandbox_mandate(
    session: WriteSession, principal: Principal, request: MockMandate
) -> Mandate:
    """Sandbox only: an `api` mandate with exactly the given status and period on any
    registered access point, without consent; on one of Fluvius's sandbox test EANs the
    registry does not hold, on the synthetic access point it names
    (:mod:`datahub_api.access_points.sandbox`)."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Only an energy service provider may make sandbox mandates.")
    access_point = await access_points_service.find_access_point(session, request.ean)
    if access_point is None:  # one of Fluvius's sandbox test EANs makes its access point
        access_point = await make_sandbox_point(session, request.ean)
    if access_point is None:
        raise NotFound(f"No access point {request.ean[:18]}.")
    today = today_in_brussels()
    start = request.data_period_from or day_start(today)
    end = request.data_period_to or start + DEFAULT_DATA_PERIOD
    if end <= start:
        raise UnprocessableContent("dataPeriodTo must be after dataPeriodFrom.")
    grid_user = await access_points_service.grid_user_on(session, request.ean, today)
    customers = await access_points_service.customers_on(session, request.ean, today)
    return await _new_mandate(
        session,
        organisation_id=principal.organisation_id,
        access_point=access_point,
        reference_number=request.reference_number,
        channel=Channel.api.value,
        data_service_type=request.data_service_type,
        period=(start, end),
        given_by=customers[0] if customers else grid_user,
        grid_user=grid_user,
        consent_session_id=None,
        source=MandateSource.sandbox,
        actor=principal.subject,
        status=request.status or MandateStatus.approved,
        expiration=request.expiration,
        renewal_status=request.renewal_status,
    )


def ensure_sandbox(sandbox: bool) -> None:
    if not sandbox:
        raise NotFound("This route exists only in sandbox mode.")


if on_parties_changed not in access_points_service.PARTY_CHANGE_LISTENERS:
    access_points_service.PARTY_CHANGE_LISTENERS.append(on_parties_changed)


async def publish_mandate_event(session: WriteSession, mandate: Mandate, event: str) -> None:
    """Every mandate change reaches the ESP's change feed and webhooks, in its transaction."""
    await publish(session, mandate.organisation_id, event, mandate_payload(mandate))


if publish_mandate_event not in MANDATE_EVENT_LISTENERS:
    MANDATE_EVENT_LISTENERS.append(publish_mandate_event)
