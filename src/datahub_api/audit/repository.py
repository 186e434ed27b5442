"""SQL of the audit trail (inserts only: the trail is append-only)."""

from __future__ import annotations

from sqlalchemy import select

from datahub_api.audit.models import AuditRecord
from datahub_api.db import ReadSession, WriteSession


def add(session: WriteSession, record: AuditRecord) -> None:
    session.add(record)


async def latest(
    session: ReadSession, *, action: str | None = None, limit: int = 50
) -> list[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditRecord.action == action)
    return list((await session.scalars(query)).all())
