"""SQL of the data access log (inserts and reads only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from datahub_api.access_log.models import DataReadRecord
from datahub_api.db import ReadSession, WriteSession
from datahub_api.organisations.models import Organisation


def add(session: WriteSession, record: DataReadRecord) -> None:
    session.add(record)


async def reads_of_ean(
    session: ReadSession, ean: str, since: datetime, *, before_id: int | None, limit: int
) -> list[tuple[DataReadRecord, str]]:
    query = (
        select(DataReadRecord, Organisation.name)
        .join(Organisation, Organisation.id == DataReadRecord.organisation_id)
        .where(DataReadRecord.ean == ean, DataReadRecord.at >= since)
        .order_by(DataReadRecord.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(DataReadRecord.id < before_id)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]
