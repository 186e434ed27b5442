"""Rules of ESP organisations."""

from __future__ import annotations

from dataclasses import dataclass, replace

from datahub_api.accounts import repository as accounts_repository
from datahub_api.accounts import service as accounts_service
from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.audit.service import record_action
from datahub_api.auth.grants import AccessGrants
from datahub_api.auth.principal import Principal, Role
from datahub_api.contracts import repository as contracts_repository
from datahub_api.contracts.scopes import BASE_ESP_SCOPES
from datahub_api.db import ReadSession, WriteSession, after_commit
from datahub_api.deps import reload_grants_after_commit
from datahub_api.errors import Conflict, NotFound, UnprocessableContent
from datahub_api.events import service as events_service
from datahub_api.events.event_types import ORGANISATION_RESUMED, ORGANISATION_SUSPENDED
from datahub_api.organisations import enterprise_number, repository
from datahub_api.organisations.models import (
    Organisation,
    OrganisationStatus,
    OrganisationStatusChange,
)
from datahub_api.organisations.schemas import OrganisationCreate, OrganisationUpdate


async def get(session: ReadSession, organisation_id: int) -> Organisation | None:
    return await repository.get(session, organisation_id)


async def get_by_enterprise_number(session: ReadSession, number: str) -> Organisation | None:
    """The organisation of a canonical enterprise number, if registered."""
    return await repository.get_by_enterprise_number(session, number)


async def list_all(session: ReadSession) -> list[Organisation]:
    return await repository.list_all(session)


async def latest_status_changes(
    session: ReadSession, organisation_ids: list[int]
) -> dict[int, OrganisationStatusChange]:
    """Each organisation's last recorded status change (those that have one)."""
    return await repository.latest_status_changes(session, organisation_ids)


async def create(
    session: WriteSession,
    body: OrganisationCreate,
    status: OrganisationStatus = OrganisationStatus.active,
    *,
    actor: Principal | str | None = None,
) -> Organisation:
    """A new organisation; audited as ``organisation.create`` when someone (``actor``)
    registers it on their side (an operator, on the API or the command line)."""
    if await repository.get_by_enterprise_number(session, body.enterprise_number) is not None:
        raise Conflict(f"An organisation with enterprise number {body.enterprise_number} exists.")
    organisation = Organisation(
        name=body.name,
        enterprise_number=body.enterprise_number,
        contact_email=body.contact_email,
        status=status,
        return_url_prefixes=body.return_url_prefixes,
    )
    repository.add(session, organisation)
    await session.flush()
    await contracts_repository.notify_access_changed(session, organisation.id)
    after_commit(session, reload_grants_after_commit)
    if actor is not None:
        record_action(
            session, actor=actor, action="organisation.create", target=body.enterprise_number
        )
    return organisation


@dataclass(frozen=True)
class NewStaff:
    """The first person of a self-registering organisation."""

    username: str
    password: str
    display_name: str


async def register(
    session: WriteSession, body: OrganisationCreate, staff: NewStaff
) -> tuple[Organisation, Account] | None:
    """Self-registration: the organisation waits for an operator (``pending``, so it may
    not apply for contracts yet); its first staff member may log in at once.

    None when the username or the enterprise number is taken: the caller gives the same
    answer either way (no one learns from it which usernames exist), and the password is
    hashed either way, so both take as long. Credentials that break the accounts rules are
    a 422. Audited as ``organisation.register`` (or ``.taken``)."""
    problems = accounts_service.credential_problems(staff.username, staff.password)
    if problems:
        raise UnprocessableContent(f"Invalid {', '.join(problems)}.")
    password_hash = hash_password(staff.password)
    taken = await accounts_repository.get_by_username(session, staff.username) is not None
    known = await repository.get_by_enterprise_number(session, body.enterprise_number)
    free = not taken and known is None
    record_action(
        session,
        actor=f"self-registration:{staff.username}",
        action="organisation.register" if free else "organisation.register.taken",
        target=body.enterprise_number,
    )
    if not free:
        return None
    organisation = await create(session, body, OrganisationStatus.pending)
    account = Account(
        username=staff.username,
        password_hash=password_hash,
        display_name=staff.display_name,
        email=body.contact_email,
        role=AccountRole.esp_user,
        organisation_id=organisation.id,
    )
    accounts_repository.add(session, account)
    await session.flush()
    return organisation, account


async def update_own(
    session: WriteSession, principal: Principal, organisation_id: int, body: OrganisationUpdate
) -> Organisation:
    """ESP staff change their organisation's contact e-mail and consent return-URL
    allow-list (what the body names); audited as ``organisation.update``."""
    organisation = await repository.get(session, organisation_id)
    if organisation is None:
        raise NotFound("Unknown organisation.")
    if body.contact_email is not None:
        organisation.contact_email = body.contact_email
    if body.return_url_prefixes is not None:
        organisation.return_url_prefixes = body.return_url_prefixes
    await session.flush()
    record_action(
        session,
        actor=principal,
        action="organisation.update",
        target=organisation.enterprise_number,
    )
    return organisation


async def approve(session: WriteSession, actor: Principal | str, number: str) -> Organisation:
    """An operator admits a self-registered organisation (``pending`` to ``active``);
    audited as ``organisation.approve``."""
    organisation = await repository.get_by_enterprise_number(session, number)
    if organisation is None:
        raise NotFound(f"No organisation with enterprise number {number}.")
    if organisation.status is not OrganisationStatus.pending:
        raise Conflict(f"The organisation is {organisation.status.value}, not pending.")
    organisation.status = OrganisationStatus.active
    await session.flush()
    await contracts_repository.notify_access_changed(session, organisation.id)
    after_commit(session, reload_grants_after_commit)
    record_action(session, actor=actor, action="organisation.approve", target=number)
    return organisation


def _number(raw: str) -> str:
    """The canonical enterprise number; an unparsable one is unknown (404), like a missing."""
    try:
        return enterprise_number.canonical(raw)
    except enterprise_number.InvalidEnterpriseNumber:
        raise NotFound(f"No organisation with enterprise number {raw[:20]}.") from None


async def _change_status(
    session: WriteSession,
    actor: Principal | str,
    number: str,
    *,
    source: OrganisationStatus,
    target: OrganisationStatus,
    reason: str | None,
    event_type: str,
) -> tuple[Organisation, OrganisationStatusChange]:
    canonical = _number(number)
    organisation = await repository.get_by_enterprise_number(session, canonical, for_update=True)
    if organisation is None:
        raise NotFound(f"No organisation with enterprise number {canonical}.")
    if organisation.status is not source:
        raise Conflict(
            f"The organisation is {organisation.status.value}; only a {source.value} "
            f"organisation can become {target.value}."
        )
    by = actor.subject if isinstance(actor, Principal) else actor
    organisation.status = target
    change = OrganisationStatusChange(
        organisation_id=organisation.id,
        from_status=source.value,
        to_status=target.value,
        actor=by,
        reason=reason,
    )
    repository.add_status_change(session, change)
    await session.flush()
    await session.refresh(change)
    record_action(
        session,
        actor=actor,
        action="organisation.suspend"
        if target is OrganisationStatus.suspended
        else "organisation.resume",
        target=canonical,
        detail={"reason": reason} if reason else None,
    )
    await events_service.publish(
        session,
        organisation.id,
        event_type,
        {"enterprise_number": canonical, "status": target.value, "reason": reason, "at": change.at},
    )
    # Every process narrows the organisation's tokens and sessions at once (NOTIFY on commit).
    await contracts_repository.notify_access_changed(session, organisation.id)
    after_commit(session, reload_grants_after_commit)
    return organisation, change


async def suspend(
    session: WriteSession,
    actor: Principal | str,
    number: str,
    reason: str,
) -> tuple[Organisation, OrganisationStatusChange]:
    """An operator suspends an active organisation: until it is resumed its API clients and
    staff read nothing and change nothing, on every face (``/v3``, ``/api/v1``, portal, NPS
    and history export downloads). Mandates, contracts and clients are kept as they are.
    Recorded (who, when, why), audited and told to the organisation
    (``organisation.suspended``, in its feed and webhooks)."""
    return await _change_status(
        session,
        actor,
        number,
        source=OrganisationStatus.active,
        target=OrganisationStatus.suspended,
        reason=reason.strip(),
        event_type=ORGANISATION_SUSPENDED,
    )


async def resume(
    session: WriteSession,
    actor: Principal | str,
    number: str,
    reason: str | None = None,
) -> tuple[Organisation, OrganisationStatusChange]:
    """An operator lifts a suspension: everything the organisation had works again."""
    return await _change_status(
        session,
        actor,
        number,
        source=OrganisationStatus.suspended,
        target=OrganisationStatus.active,
        reason=(reason or "").strip() or None,
        event_type=ORGANISATION_RESUMED,
    )


@dataclass(frozen=True)
class StaffAccess:
    """What a logged-in ESP staff member may do now: ``principal`` is None while their
    organisation is suspended or closed (nothing at all), else their session narrowed to the
    scopes its contracts grant today, exactly as its API clients' tokens are."""

    organisation: Organisation
    principal: Principal | None


async def staff_access(
    session: ReadSession, grants: AccessGrants, person: Principal
) -> StaffAccess:
    """The portal's gate for ESP staff, on every page and form, read from the database on
    each request (the organisation's status) and from the grants every process keeps current
    (the contracts' scopes). A pending organisation's staff keep ``contracts`` (they see the
    contracts page; applying waits for the operator)."""
    assert person.role is Role.esp
    assert person.organisation_id is not None
    organisation = await repository.get(session, person.organisation_id)
    if organisation is None:
        raise NotFound("Unknown organisation.")
    if organisation.status is OrganisationStatus.pending:
        return StaffAccess(organisation, replace(person, scopes=person.scopes & BASE_ESP_SCOPES))
    if organisation.status is not OrganisationStatus.active:
        return StaffAccess(organisation, None)
    return StaffAccess(organisation, await grants.narrow(person))


# --- reads for the faces ----------------------------------------------------------------


async def all_with_status_changes(
    session: ReadSession,
) -> tuple[list[Organisation], dict[int, OrganisationStatusChange]]:
    """Every organisation, by id, with its last recorded status change (those that have
    one)."""
    organisations = await list_all(session)
    changes = await latest_status_changes(session, [o.id for o in organisations])
    return organisations, changes
