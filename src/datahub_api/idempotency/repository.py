"""SQL of idempotency records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from datahub_api.db import WriteSession
from datahub_api.idempotency.models import IdempotencyRecord


async def claim(
    session: WriteSession, *, owner: str, key: str, operation: str, fingerprint: str
) -> IdempotencyRecord | None:
    """Insert the key; return None when this request claimed it, else the earlier record.

    A concurrent request with the same key waits on the unique index until the first
    one's transaction ends, then sees its stored answer.
    """
    inserted = await session.execute(
        insert(IdempotencyRecord)
        .values(owner=owner, key=key, operation=operation, fingerprint=fingerprint)
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if inserted.first() is not None:
        return None
    existing = await session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.owner == owner, IdempotencyRecord.key == key
        )
    )
    return existing.one()


async def store_answer(
    session: WriteSession, *, owner: str, key: str, status_code: int, body: Any
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.owner == owner, IdempotencyRecord.key == key)
        .values(status_code=status_code, response_body=body)
    )
