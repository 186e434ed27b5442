"""SQL of the audit trail (append-only, except that a tallied refusal's count grows)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

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


async def tally(session: WriteSession, record: AuditRecord) -> None:
    """Insert ``record`` (its ``tally_key`` set), or count one more on the row already
    holding that key: a flood of failures grows a counter, not the table."""
    values = {
        column.key: getattr(record, column.key)
        for column in AuditRecord.__table__.columns
        if column.key not in ("id", "at") and getattr(record, column.key) is not None
    }
    values["detail"] = {**(record.detail or {}), "count": 1}
    statement = insert(AuditRecord).values(**values)
    count = func.coalesce(AuditRecord.detail["count"].as_integer(), 1) + 1
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[AuditRecord.tally_key],
            set_={
                "detail": AuditRecord.detail.op("||")(
                    func.jsonb_build_object("count", count, "last_at", func.now())
                ),
                "request_id": statement.excluded.request_id,
            },
        )
    )
