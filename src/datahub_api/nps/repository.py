"""SQL of the NPS channel. Tenant filtering: every ESP-facing query takes the organisation
id and filters on it (:func:`_of`); operators pass ``None`` and see every organisation's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import undefer

from datahub_api.array_parameters import in_array
from datahub_api.contracts.models import Channel
from datahub_api.db import ReadSession, WriteSession
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.models import Mandate, MandateSource, MandateStatus
from datahub_api.mandates.signed_evidence import AUDITED_CHANNELS
from datahub_api.nps.models import (
    CURRENT_AUDIT_STATUSES,
    AuditStatus,
    ItemOutcome,
    NpsAudit,
    NpsDailyFile,
    NpsEvidenceDocument,
    NpsRequest,
    NpsRequestItem,
)
from datahub_api.paper_mandates.models import PaperMandate

LIVE = (MandateStatus.requested, MandateStatus.approved)
NPS = Channel.nps.value

T = TypeVar("T", NpsRequest, NpsAudit, NpsDailyFile)


def _of(query: Select[T], model: type[T], organisation_id: int | None) -> Select[T]:
    """``query`` narrowed to one organisation's rows (``None``: an operator, all rows)."""
    if organisation_id is None:
        return query
    return query.where(model.organisation_id == organisation_id)


def add(session: WriteSession, row: Any) -> None:
    session.add(row)


async def lock_lists_of(session: WriteSession, organisation_id: int) -> None:
    """One list submission per organisation at a time (until the transaction ends), so two
    lists naming the same EAN cannot both make a mandate."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('nps-lists'), :organisation_id)"),
        {"organisation_id": organisation_id},
    )


# --- lists -------------------------------------------------------------------------------


async def listed_live_eans(
    session: ReadSession, organisation_id: int, eans: Sequence[str]
) -> set[str]:
    """Which of ``eans`` are on the organisation's NPS list with a live mandate."""
    query = (
        select(NpsRequestItem.ean)
        .join(Mandate, Mandate.id == NpsRequestItem.mandate_id)
        .where(
            NpsRequestItem.organisation_id == organisation_id,
            NpsRequestItem.outcome == ItemOutcome.accepted,
            in_array(NpsRequestItem.ean, eans),
            Mandate.status.in_(LIVE),
        )
    )
    return set((await session.scalars(query)).all())


async def live_nps_mandate_eans(
    session: ReadSession, organisation_id: int, eans: Sequence[str]
) -> set[str]:
    query = select(Mandate.ean).where(
        Mandate.organisation_id == organisation_id,
        Mandate.channel == NPS,
        in_array(Mandate.ean, eans),
        Mandate.status.in_(LIVE),
    )
    return set((await session.scalars(query)).all())


async def own_mandates(
    session: ReadSession, organisation_id: int, ids: Sequence[int]
) -> dict[int, Mandate]:
    query = select(Mandate).where(
        Mandate.organisation_id == organisation_id, in_array(Mandate.id, ids)
    )
    return {mandate.id: mandate for mandate in (await session.scalars(query)).all()}


async def requests_page(
    session: ReadSession, organisation_id: int, *, after_id: int | None, limit: int
) -> list[NpsRequest]:
    query = _of(select(NpsRequest), NpsRequest, organisation_id).order_by(NpsRequest.id)
    if after_id is not None:
        query = query.where(NpsRequest.id > after_id)
    return list((await session.scalars(query.limit(limit))).all())


async def get_request(
    session: ReadSession, organisation_id: int, request_id: int
) -> NpsRequest | None:
    query = _of(select(NpsRequest), NpsRequest, organisation_id).where(NpsRequest.id == request_id)
    return (await session.scalars(query)).first()


async def items_of(session: ReadSession, request_id: int) -> list[NpsRequestItem]:
    query = (
        select(NpsRequestItem)
        .where(NpsRequestItem.request_id == request_id)
        .order_by(NpsRequestItem.position)
    )
    return list((await session.scalars(query)).all())


async def registered_document_sha256(session: ReadSession, mandate_id: int) -> str | None:
    """The SHA-256 the ESP registered for the signed document behind a mandate (an NPS list
    or a yearly history export registered it as a paper mandate)."""
    found = await session.scalar(
        select(PaperMandate.document_sha256).where(PaperMandate.mandate_id == mandate_id)
    )
    return str(found) if found is not None else None


# --- audits ------------------------------------------------------------------------------


async def signed_nps_mandate(
    session: ReadSession, organisation_id: int | None, mandate_id: int, *, for_update: bool = False
) -> Mandate | None:
    query = select(Mandate).where(
        Mandate.id == mandate_id,
        Mandate.channel.in_(AUDITED_CHANNELS),
        Mandate.source == MandateSource.signed,
    )
    if organisation_id is not None:
        query = query.where(Mandate.organisation_id == organisation_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def mandates_by_id(session: ReadSession, ids: Sequence[int]) -> dict[int, Mandate]:
    """Signed mandates (NPS, yearly history) by id."""
    if not ids:
        return {}
    query = select(Mandate).where(
        in_array(Mandate.id, sorted(set(ids))), Mandate.source == MandateSource.signed
    )
    return {mandate.id: mandate for mandate in (await session.scalars(query)).all()}


async def current_audit(
    session: ReadSession, mandate_id: int, *, for_update: bool = False
) -> NpsAudit | None:
    query = select(NpsAudit).where(
        NpsAudit.mandate_id == mandate_id, NpsAudit.status.in_(CURRENT_AUDIT_STATUSES)
    )
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def get_audit(
    session: ReadSession, organisation_id: int | None, audit_id: int, *, for_update: bool = False
) -> NpsAudit | None:
    query = _of(select(NpsAudit), NpsAudit, organisation_id).where(NpsAudit.id == audit_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def audits_page(
    session: ReadSession,
    organisation_id: int | None,
    *,
    statuses: Sequence[AuditStatus],
    mandate_id: int | None,
    after_id: int | None,
    limit: int,
) -> list[NpsAudit]:
    query = _of(select(NpsAudit), NpsAudit, organisation_id).order_by(NpsAudit.id)
    if statuses:
        query = query.where(NpsAudit.status.in_(list(statuses)))
    if mandate_id is not None:
        query = query.where(NpsAudit.mandate_id == mandate_id)
    if after_id is not None:
        query = query.where(NpsAudit.id > after_id)
    return list((await session.scalars(query.limit(limit))).all())


async def overdue_audits(session: WriteSession, now: datetime) -> list[NpsAudit]:
    query = (
        select(NpsAudit)
        .where(NpsAudit.status == AuditStatus.open, NpsAudit.due_at < now)
        .order_by(NpsAudit.id)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def document_of(
    session: ReadSession, audit_id: int, *, with_content: bool = False
) -> NpsEvidenceDocument | None:
    query = select(NpsEvidenceDocument).where(NpsEvidenceDocument.audit_id == audit_id)
    if with_content:
        query = query.options(undefer(NpsEvidenceDocument.content))
    return (await session.scalars(query)).first()


async def live_signed_mandates(session: ReadSession) -> dict[int, list[int]]:
    """Every organisation's live signed NPS mandates: organisation id -> mandate ids."""
    query = (
        select(Mandate.organisation_id, Mandate.id)
        .where(
            Mandate.channel.in_(AUDITED_CHANNELS),
            Mandate.source == MandateSource.signed,
            Mandate.status.in_(LIVE),
        )
        .order_by(Mandate.organisation_id, Mandate.id)
    )
    found: dict[int, list[int]] = {}
    for organisation_id, mandate_id in (await session.execute(query)).all():
        found.setdefault(organisation_id, []).append(mandate_id)
    return found


async def sampled_organisations(session: ReadSession, quarter: str) -> set[int]:
    query = select(NpsAudit.organisation_id).where(NpsAudit.sample_quarter == quarter).distinct()
    return set((await session.scalars(query)).all())


async def mandates_under_audit(session: ReadSession, mandate_ids: Sequence[int]) -> set[int]:
    query = select(NpsAudit.mandate_id).where(
        in_array(NpsAudit.mandate_id, mandate_ids), NpsAudit.status.in_(CURRENT_AUDIT_STATUSES)
    )
    return set((await session.scalars(query)).all())


# --- daily files -------------------------------------------------------------------------


async def organisations_with_lists(session: ReadSession) -> list[int]:
    query = (
        select(NpsRequestItem.organisation_id)
        .where(NpsRequestItem.outcome == ItemOutcome.accepted)
        .distinct()
        .order_by(NpsRequestItem.organisation_id)
    )
    return list((await session.scalars(query)).all())


async def listed_approved_mandates(
    session: ReadSession, organisation_id: int, now: datetime
) -> list[Mandate]:
    """The NPS mandates behind the organisation's accepted list items that read at ``now``
    (approved, not past their expiration or the end of the tenure)."""
    query = (
        select(Mandate)
        .where(
            Mandate.organisation_id == organisation_id,
            Mandate.channel == NPS,
            mandates_repository.readable_at(now),
            Mandate.id.in_(
                select(NpsRequestItem.mandate_id).where(
                    NpsRequestItem.organisation_id == organisation_id,
                    NpsRequestItem.outcome == ItemOutcome.accepted,
                )
            ),
        )
        .order_by(Mandate.ean, Mandate.id)
    )
    return list((await session.scalars(query)).all())


async def daily_file_exists(session: ReadSession, organisation_id: int, day: date) -> bool:
    query = select(func.count()).where(
        NpsDailyFile.organisation_id == organisation_id, NpsDailyFile.day == day
    )
    return bool(await session.scalar(query))


async def last_daily_file(session: ReadSession, organisation_id: int) -> NpsDailyFile | None:
    query = (
        select(NpsDailyFile)
        .where(NpsDailyFile.organisation_id == organisation_id)
        .order_by(NpsDailyFile.day.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def daily_files_page(
    session: ReadSession, organisation_id: int, *, after_id: int | None, limit: int
) -> list[NpsDailyFile]:
    query = _of(select(NpsDailyFile), NpsDailyFile, organisation_id).order_by(NpsDailyFile.id)
    if after_id is not None:
        query = query.where(NpsDailyFile.id > after_id)
    return list((await session.scalars(query.limit(limit))).all())


async def get_daily_file(
    session: ReadSession, organisation_id: int, file_id: int, *, with_content: bool = False
) -> NpsDailyFile | None:
    query = _of(select(NpsDailyFile), NpsDailyFile, organisation_id).where(
        NpsDailyFile.id == file_id
    )
    if with_content:
        query = query.options(undefer(NpsDailyFile.content))
    return (await session.scalars(query)).first()
