"""SQL of the data access log (inserts and reads only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, false, func, or_, select, true

from datahub_api.access_log.models import DataReadRecord
from datahub_api.array_parameters import in_array
from datahub_api.db import ReadSession, WriteSession
from datahub_api.organisations.models import Organisation


def add(session: WriteSession, record: DataReadRecord) -> None:
    session.add(record)


async def reads_of_ean(
    session: ReadSession,
    ean: str,
    periods: Sequence[tuple[datetime, datetime | None]],
    *,
    before_id: int | None,
    limit: int,
) -> list[tuple[DataReadRecord, str]]:
    """The reads of ``ean`` whose period overlaps one of ``periods`` ([from, to), to None:
    open), newest first."""
    overlaps = [
        and_(
            DataReadRecord.period_to > start,
            true() if end is None else DataReadRecord.period_from < end,
        )
        for start, end in periods
    ]
    query = (
        select(DataReadRecord, Organisation.name)
        .join(Organisation, Organisation.id == DataReadRecord.organisation_id)
        .where(DataReadRecord.ean == ean, or_(false(), *overlaps))
        .order_by(DataReadRecord.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(DataReadRecord.id < before_id)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def read_summary(
    session: ReadSession, eans: Sequence[str], mandate_ids: Sequence[int], since: datetime
) -> dict[int, tuple[datetime, int]]:
    """Per mandate of ``mandate_ids`` that was ever read: its last read and how many reads
    since ``since`` (by the EAN index: a customer has few access points)."""
    if not mandate_ids:
        return {}
    query = (
        select(
            DataReadRecord.mandate_id,
            func.max(DataReadRecord.at),
            func.count().filter(DataReadRecord.at >= since),
        )
        .where(
            in_array(DataReadRecord.ean, sorted(set(eans))),
            in_array(DataReadRecord.mandate_id, sorted(set(mandate_ids))),
        )
        .group_by(DataReadRecord.mandate_id)
    )
    return {row[0]: (row[1], int(row[2])) for row in (await session.execute(query)).all()}
