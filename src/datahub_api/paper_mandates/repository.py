"""SQL of paper mandates. Which mandates a hold keeps from giving data is decided in
:func:`not_held` only; every read path of metering data applies it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import QueryableAttribute

from datahub_api.array_parameters import in_array
from datahub_api.db import ReadSession, WriteSession
from datahub_api.mandates.models import CoConsentStatus, CoConsentTask, Mandate
from datahub_api.organisations.models import Organisation
from datahub_api.paper_mandates.models import NameCheck, PaperMandate, PaperMandateAttempts


def not_held(mandate_id: QueryableAttribute[int] | ColumnElement[Any]) -> ColumnElement[bool]:
    """True for a mandate that no paper-mandate hold keeps from giving data."""
    return ~(
        select(PaperMandate.id)
        .where(PaperMandate.mandate_id == mandate_id, PaperMandate.hold.is_not(None))
        .exists()
    )


def add(session: WriteSession, row: PaperMandate) -> None:
    session.add(row)


# --- the daily bound -------------------------------------------------------------------------


async def count_attempts(
    session: WriteSession, organisation_id: int, day: date, attempts: int, limit: int
) -> bool:
    """Add ``attempts`` to the organisation's count of ``day`` unless that would pass
    ``limit`` (one statement: concurrent requests of several processes cannot both pass)."""
    if attempts > limit:
        return False
    table = PaperMandateAttempts.__table__
    statement = (
        insert(PaperMandateAttempts)
        .values(organisation_id=organisation_id, day=day, attempts=attempts)
        .on_conflict_do_update(
            index_elements=[PaperMandateAttempts.organisation_id, PaperMandateAttempts.day],
            set_={"attempts": table.c.attempts + attempts},
            where=table.c.attempts + attempts <= limit,
        )
        .returning(PaperMandateAttempts.attempts)
    )
    return (await session.execute(statement)).first() is not None


async def attempts_on(session: ReadSession, organisation_id: int, day: date) -> int:
    found = await session.scalar(
        select(PaperMandateAttempts.attempts).where(
            PaperMandateAttempts.organisation_id == organisation_id,
            PaperMandateAttempts.day == day,
        )
    )
    return int(found or 0)


# --- the check ---------------------------------------------------------------------------------


async def pending_checks(
    session: WriteSession, *, mandate_ids: Sequence[int] | None = None, limit: int = 500
) -> list[tuple[PaperMandate, Mandate]]:
    """Paper mandates whose check has not run, oldest first, locked: any of them, skipping
    those another worker holds, or those of ``mandate_ids`` (waiting for a worker that holds
    one, which then has checked it)."""
    query = (
        select(PaperMandate, Mandate)
        .join(Mandate, Mandate.id == PaperMandate.mandate_id)
        .where(PaperMandate.name_check == NameCheck.pending)
        .order_by(PaperMandate.id)
        .limit(limit)
        .with_for_update(of=PaperMandate, skip_locked=mandate_ids is None)
        .execution_options(populate_existing=True)
    )
    if mandate_ids is not None:
        query = query.where(in_array(PaperMandate.mandate_id, mandate_ids))
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def for_mandate(
    session: ReadSession, mandate_id: int, *, for_update: bool = False
) -> PaperMandate | None:
    query = select(PaperMandate).where(PaperMandate.mandate_id == mandate_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def for_mandates(session: ReadSession, mandate_ids: Sequence[int]) -> dict[int, PaperMandate]:
    if not mandate_ids:
        return {}
    query = select(PaperMandate).where(in_array(PaperMandate.mandate_id, mandate_ids))
    return {paper.mandate_id: paper for paper in (await session.scalars(query)).all()}


async def co_consent_given(session: ReadSession, mandate_id: int) -> bool:
    """Whether the grid user co-consented to the mandate (a customer signed it)."""
    found = await session.scalar(
        select(func.count()).where(
            CoConsentTask.mandate_id == mandate_id,
            CoConsentTask.status == CoConsentStatus.approved,
        )
    )
    return bool(found)


# --- what people see -----------------------------------------------------------------------


@dataclass(frozen=True)
class PaperRow:
    paper: PaperMandate
    mandate: Mandate
    esp_name: str
    esp_enterprise_number: str


def _rows_query() -> Any:
    return (
        select(PaperMandate, Mandate, Organisation.name, Organisation.enterprise_number)
        .join(Mandate, Mandate.id == PaperMandate.mandate_id)
        .join(Organisation, Organisation.id == PaperMandate.organisation_id)
        .order_by(PaperMandate.id.desc())
    )


async def on_eans_or_naming(
    session: ReadSession, eans: Sequence[str], account_id: int, *, limit: int
) -> list[PaperRow]:
    """Paper mandates on ``eans`` or naming the account (as grid user or signatory), newest
    first; the caller narrows them to what the person may see."""
    query = _rows_query().where(
        or_(
            PaperMandate.ean == any_(bindparam("eans", sorted(set(eans)), ARRAY(String))),
            Mandate.grid_user_account_id == account_id,
            Mandate.given_by_account_id == account_id,
        )
    )
    return [PaperRow(*row) for row in (await session.execute(query.limit(limit))).all()]


async def row_of(session: ReadSession, mandate_id: int) -> PaperRow | None:
    row = (
        await session.execute(_rows_query().where(PaperMandate.mandate_id == mandate_id))
    ).first()
    return PaperRow(*row) if row else None
