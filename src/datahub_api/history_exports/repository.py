"""SQL of the yearly history exports. Tenant filtering: every ESP-facing query goes through
:func:`_visible`, which takes the organisation (``None`` only for operators and jobs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select, text, update

from datahub_api.array_parameters import in_array
from datahub_api.db import ReadSession, WriteSession
from datahub_api.history_exports.models import (
    ExportStatus,
    HistoryExport,
    HistoryExportItem,
    HistoryExportQuotaException,
)
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.models import Mandate


def add(session: WriteSession, row: object) -> None:
    session.add(row)


def _visible(query: Select[HistoryExport], organisation_id: int | None) -> Select[HistoryExport]:
    if organisation_id is not None:
        query = query.where(HistoryExport.organisation_id == organisation_id)
    return query


async def lock_quota_of(session: WriteSession, organisation_id: int) -> None:
    """One request per organisation at a time (until the transaction ends), so two requests
    sent together cannot both take the year's free export."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('history-exports'), :organisation_id)"),
        {"organisation_id": organisation_id},
    )


async def free_request_of_year(
    session: ReadSession, organisation_id: int, year: int
) -> HistoryExport | None:
    query = select(HistoryExport).where(
        HistoryExport.organisation_id == organisation_id,
        HistoryExport.quota_year == year,
        HistoryExport.quota_exception_id.is_(None),
    )
    return (await session.scalars(query)).first()


async def unused_exception(
    session: WriteSession, organisation_id: int, year: int
) -> HistoryExportQuotaException | None:
    used = select(HistoryExport.quota_exception_id).where(
        HistoryExport.quota_exception_id.is_not(None)
    )
    query = (
        select(HistoryExportQuotaException)
        .where(
            HistoryExportQuotaException.organisation_id == organisation_id,
            HistoryExportQuotaException.year == year,
            HistoryExportQuotaException.id.not_in(used),
        )
        .order_by(HistoryExportQuotaException.id)
    )
    return (await session.scalars(query)).first()


async def get(
    session: ReadSession,
    organisation_id: int | None,
    export_id: int,
    *,
    for_update: bool = False,
) -> HistoryExport | None:
    query = _visible(select(HistoryExport).where(HistoryExport.id == export_id), organisation_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def page(
    session: ReadSession, organisation_id: int | None, *, after_id: int | None, limit: int
) -> list[HistoryExport]:
    query = _visible(select(HistoryExport), organisation_id).order_by(HistoryExport.id)
    if after_id is not None:
        query = query.where(HistoryExport.id > after_id)
    return list((await session.scalars(query.limit(limit))).all())


async def latest(session: ReadSession, organisation_id: int, *, limit: int) -> list[HistoryExport]:
    """The organisation's newest requests first (the portal's list)."""
    query = _visible(select(HistoryExport), organisation_id).order_by(HistoryExport.id.desc())
    return list((await session.scalars(query.limit(limit))).all())


async def item_counts(session: ReadSession, export_ids: Sequence[int]) -> dict[int, int]:
    """The number of EANs of each export, in one query."""
    if not export_ids:
        return {}
    query = (
        select(HistoryExportItem.export_id, func.count())
        .where(in_array(HistoryExportItem.export_id, export_ids))
        .group_by(HistoryExportItem.export_id)
    )
    return {export_id: int(count) for export_id, count in (await session.execute(query)).all()}


async def items_of(session: ReadSession, export_id: int) -> list[HistoryExportItem]:
    query = (
        select(HistoryExportItem)
        .where(HistoryExportItem.export_id == export_id)
        .order_by(HistoryExportItem.position)
    )
    return list((await session.scalars(query)).all())


async def item_count(session: ReadSession, export_id: int) -> int:
    query = select(func.count()).where(HistoryExportItem.export_id == export_id)
    return int(await session.scalar(query) or 0)


async def export_to_remake(session: WriteSession, mandate_id: int) -> HistoryExport | None:
    """The export (locked) whose last run left out the item of ``mandate_id``, or wrote
    its rows."""
    query = (
        select(HistoryExport)
        .join(HistoryExportItem, HistoryExportItem.export_id == HistoryExport.id)
        .where(
            HistoryExportItem.mandate_id == mandate_id,
            or_(HistoryExportItem.skipped_reason.is_not(None), HistoryExportItem.row_count > 0),
        )
        .with_for_update(of=HistoryExport)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).first()


async def set_progress(session: WriteSession, export_id: int, attempt: int, percent: int) -> None:
    """The job's progress, only while the run that reports it is the current one."""
    await session.execute(
        update(HistoryExport)
        .where(
            HistoryExport.id == export_id,
            HistoryExport.attempts == attempt,
            HistoryExport.status == ExportStatus.running,
        )
        .values(progress_percent=percent, heartbeat_at=func.now())
    )


async def set_item_results(session: WriteSession, results: dict[int, dict[str, Any]]) -> None:
    for item_id, values in results.items():
        await session.execute(
            update(HistoryExportItem).where(HistoryExportItem.id == item_id).values(**values)
        )


async def waiting(
    session: ReadSession, created_before: datetime, silent_since: datetime
) -> list[int]:
    """Requests still queued (their job may have been lost between commit and defer), and
    running ones whose run has been silent since ``silent_since`` (its worker died)."""
    query = (
        select(HistoryExport.id)
        .where(
            or_(
                and_(
                    HistoryExport.status == ExportStatus.queued,
                    HistoryExport.created_at < created_before,
                ),
                and_(
                    HistoryExport.status == ExportStatus.running,
                    HistoryExport.heartbeat_at < silent_since,
                ),
            )
        )
        .order_by(HistoryExport.id)
    )
    return list((await session.scalars(query)).all())


def _holds_withdrawn_data(now: datetime) -> ColumnElement[bool]:
    """The export's file holds data of an item (``read_from`` set by the run that wrote it)
    whose mandate reads no more at ``now``, or no longer releases every day the file holds
    of it (the registry moved the tenure)."""
    return (
        select(HistoryExportItem.id)
        .join(Mandate, Mandate.id == HistoryExportItem.mandate_id)
        .where(
            HistoryExportItem.export_id == HistoryExport.id,
            HistoryExportItem.read_from.is_not(None),
            or_(
                not_(mandates_repository.readable_at(now)),
                Mandate.tenure_from > HistoryExportItem.read_from,
                Mandate.tenure_to < HistoryExportItem.read_to,
            ),
        )
        .exists()
    )


async def ready_with_withdrawn_items(session: WriteSession, now: datetime) -> list[HistoryExport]:
    """Ready exports whose kept file holds withdrawn data, locked (skipping those a run
    holds)."""
    query = (
        select(HistoryExport)
        .where(
            HistoryExport.status == ExportStatus.ready,
            HistoryExport.file_name.is_not(None),
            HistoryExport.file_deleted_at.is_(None),
            _holds_withdrawn_data(now),
        )
        .order_by(HistoryExport.id)
        .with_for_update(of=HistoryExport, skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def with_withdrawn_data(
    session: ReadSession, export_ids: Sequence[int], now: datetime
) -> set[int]:
    """Which of the exports hold withdrawn data in their file (kept or deleted on withdrawal,
    not past its retention), in one query."""
    if not export_ids:
        return set()
    query = select(HistoryExport.id).where(
        in_array(HistoryExport.id, export_ids),
        or_(HistoryExport.expires_at.is_(None), HistoryExport.expires_at > now),
        _holds_withdrawn_data(now),
    )
    return set((await session.scalars(query)).all())


async def expired_files(session: WriteSession, now: datetime) -> list[HistoryExport]:
    query = (
        select(HistoryExport)
        .where(
            HistoryExport.expires_at <= now,
            HistoryExport.file_deleted_at.is_(None),
            HistoryExport.file_name.is_not(None),
        )
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def delivered_between(
    session: ReadSession,
    created_from: datetime,
    created_to: datetime,
    organisation_ids: Sequence[int] | None,
) -> list[HistoryExport]:
    """The requests made in [created_from, created_to) (of ``organisation_ids``, or all):
    what the SLA's yearly-history line counts."""
    query = select(HistoryExport).where(
        HistoryExport.created_at >= created_from, HistoryExport.created_at < created_to
    )
    if organisation_ids is not None:
        query = query.where(in_array(HistoryExport.organisation_id, organisation_ids))
    return list((await session.scalars(query.order_by(HistoryExport.id))).all())
