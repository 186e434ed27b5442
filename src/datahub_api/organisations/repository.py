"""SQL of organisations."""

from __future__ import annotations

from sqlalchemy import select

from datahub_api.db import ReadSession, WriteSession
from datahub_api.organisations.models import Organisation, OrganisationStatus


async def active_organisation_ids(session: ReadSession) -> list[int]:
    query = select(Organisation.id).where(Organisation.status == OrganisationStatus.active)
    return list((await session.scalars(query)).all())


async def get(session: ReadSession, organisation_id: int) -> Organisation | None:
    return await session.get(Organisation, organisation_id, populate_existing=True)


async def get_by_enterprise_number(session: ReadSession, number: str) -> Organisation | None:
    query = select(Organisation).where(Organisation.enterprise_number == number)
    return (await session.scalars(query)).first()


async def list_all(session: ReadSession) -> list[Organisation]:
    return list((await session.scalars(select(Organisation).order_by(Organisation.id))).all())


def add(session: WriteSession, organisation: Organisation) -> None:
    session.add(organisation)
