"""SQL of organisations."""

from __future__ import annotations

from sqlalchemy import func, select

from datahub_api.array_parameters import in_array
from datahub_api.db import ReadSession, WriteSession
from datahub_api.organisations.models import (
    Organisation,
    OrganisationStatus,
    OrganisationStatusChange,
)


async def active_organisation_ids(session: ReadSession) -> list[int]:
    query = select(Organisation.id).where(Organisation.status == OrganisationStatus.active)
    return list((await session.scalars(query)).all())


async def get(session: ReadSession, organisation_id: int) -> Organisation | None:
    return await session.get(Organisation, organisation_id, populate_existing=True)


async def get_by_enterprise_number(
    session: ReadSession, number: str, *, for_update: bool = False
) -> Organisation | None:
    query = select(Organisation).where(Organisation.enterprise_number == number)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def list_all(session: ReadSession) -> list[Organisation]:
    return list((await session.scalars(select(Organisation).order_by(Organisation.id))).all())


def add(session: WriteSession, organisation: Organisation) -> None:
    session.add(organisation)


def add_status_change(session: WriteSession, change: OrganisationStatusChange) -> None:
    session.add(change)


async def latest_status_changes(
    session: ReadSession, organisation_ids: list[int]
) -> dict[int, OrganisationStatusChange]:
    """Each organisation's last recorded status change (those that have one)."""
    if not organisation_ids:
        return {}
    last = (
        select(func.max(OrganisationStatusChange.id))
        .where(in_array(OrganisationStatusChange.organisation_id, organisation_ids))
        .group_by(OrganisationStatusChange.organisation_id)
    )
    query = select(OrganisationStatusChange).where(OrganisationStatusChange.id.in_(last))
    return {change.organisation_id: change for change in (await session.scalars(query)).all()}
