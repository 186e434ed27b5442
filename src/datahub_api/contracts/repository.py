"""SQL of contracts. Which contracts a caller may see is decided in ``visible_to`` only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import Select, false, func, select, text, update
from sqlalchemy.orm import selectinload

from datahub_api.auth.principal import Principal, Role
from datahub_api.contracts.models import (
    COVERING_STATUSES,
    ContractStatus,
    ContractStatusChange,
    DataAccessContract,
)
from datahub_api.db import ReadSession, WriteSession
from datahub_api.organisations.models import Organisation

ACCESS_CHANGED_CHANNEL = "datahub_access_changed"


def visible_to(principal: Principal) -> Select[DataAccessContract, Organisation]:
    """Contracts with their organisation, narrowed to what ``principal`` may see."""
    query = select(DataAccessContract, Organisation).join(
        Organisation, Organisation.id == DataAccessContract.organisation_id
    )
    if principal.role is Role.operator:
        return query
    if principal.role is Role.esp and principal.organisation_id is not None:
        return query.where(DataAccessContract.organisation_id == principal.organisation_id)
    return query.where(false())


def _with_history(
    query: Select[DataAccessContract, Organisation],
) -> Select[DataAccessContract, Organisation]:
    return query.options(selectinload(DataAccessContract.history))


async def get(
    session: ReadSession, principal: Principal, number: str, *, for_update: bool = False
) -> tuple[DataAccessContract, Organisation] | None:
    query = _with_history(visible_to(principal).where(DataAccessContract.number == number))
    query = query.execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update(of=DataAccessContract)
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def page(
    session: ReadSession,
    principal: Principal,
    *,
    after_id: int | None,
    limit: int,
    statuses: Sequence[ContractStatus] | None = None,
    newest_first: bool = False,
) -> list[tuple[DataAccessContract, Organisation]]:
    order = DataAccessContract.id.desc() if newest_first else DataAccessContract.id
    query = _with_history(visible_to(principal)).order_by(order).limit(limit)
    if after_id is not None:
        query = query.where(DataAccessContract.id > after_id)
    if statuses:
        query = query.where(DataAccessContract.status.in_(list(statuses)))
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def covering(
    session: WriteSession, organisation_id: int, channels: Iterable[str]
) -> list[DataAccessContract]:
    """Contracts of the organisation that still cover any of ``channels``."""
    query = (
        select(DataAccessContract)
        .where(
            DataAccessContract.organisation_id == organisation_id,
            DataAccessContract.status.in_(list(COVERING_STATUSES)),
            DataAccessContract.channels.overlap(list(channels)),
        )
        .with_for_update()
    )
    return list((await session.scalars(query)).all())


async def number_taken(session: WriteSession, number: str) -> bool:
    found = await session.scalar(select(func.count()).where(DataAccessContract.number == number))
    return bool(found)


def add(session: WriteSession, contract: DataAccessContract) -> None:
    session.add(contract)


def add_status_change(session: WriteSession, change: ContractStatusChange) -> None:
    session.add(change)


async def set_status(
    session: WriteSession, contract: DataAccessContract, status: ContractStatus
) -> None:
    await session.execute(
        update(DataAccessContract)
        .where(DataAccessContract.id == contract.id)
        .values(status=status, updated_at=func.now())
    )
    contract.status = status


async def active_channels_by_organisation(session: ReadSession, today: date) -> dict[int, set[str]]:
    """Channels of every approved contract valid today, per organisation."""
    query = select(DataAccessContract.organisation_id, DataAccessContract.channels).where(
        DataAccessContract.status == ContractStatus.approved,
        DataAccessContract.valid_from <= today,
        (DataAccessContract.valid_to.is_(None)) | (DataAccessContract.valid_to > today),
    )
    result: dict[int, set[str]] = {}
    for organisation_id, channels in (await session.execute(query)).all():
        result.setdefault(organisation_id, set()).update(channels)
    return result


async def notify_access_changed(session: WriteSession, organisation_id: int | None) -> None:
    """Tell every process (on commit) that grants changed, so their caches reload."""
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": ACCESS_CHANGED_CHANNEL, "payload": str(organisation_id or "")},
    )
