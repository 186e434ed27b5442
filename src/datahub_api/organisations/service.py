"""Rules of ESP organisations."""

from __future__ import annotations

from dataclasses import dataclass

from datahub_api.accounts import repository as accounts_repository
from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.auth.grants import reload_after_commit
from datahub_api.contracts import repository as contracts_repository
from datahub_api.db import WriteSession, after_commit
from datahub_api.errors import Conflict, NotFound
from datahub_api.organisations import repository
from datahub_api.organisations.models import Organisation, OrganisationStatus
from datahub_api.organisations.schemas import OrganisationCreate


async def create(
    session: WriteSession,
    body: OrganisationCreate,
    status: OrganisationStatus = OrganisationStatus.active,
) -> Organisation:
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
    after_commit(session, reload_after_commit)
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
    hashed either way, so both take as long."""
    password_hash = hash_password(staff.password)
    taken = await accounts_repository.get_by_username(session, staff.username) is not None
    known = await repository.get_by_enterprise_number(session, body.enterprise_number)
    if taken or known is not None:
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


async def approve(session: WriteSession, number: str) -> Organisation:
    """An operator admits a self-registered organisation (``pending`` to ``active``)."""
    organisation = await repository.get_by_enterprise_number(session, number)
    if organisation is None:
        raise NotFound(f"No organisation with enterprise number {number}.")
    if organisation.status is not OrganisationStatus.pending:
        raise Conflict(f"The organisation is {organisation.status.value}, not pending.")
    organisation.status = OrganisationStatus.active
    await session.flush()
    await contracts_repository.notify_access_changed(session, organisation.id)
    after_commit(session, reload_after_commit)
    return organisation
