"""Rules of ESP organisations."""

from __future__ import annotations

from datahub_api.auth.grants import reload_after_commit
from datahub_api.contracts import repository as contracts_repository
from datahub_api.db import WriteSession, after_commit
from datahub_api.errors import Conflict
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
