"""SQL of accounts and login sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from datahub_api.accounts.models import Account, LoginSession
from datahub_api.db import ReadSession, WriteSession


async def get_by_username(session: ReadSession, username: str) -> Account | None:
    query = select(Account).where(func.lower(Account.username) == username.lower())
    return (await session.scalars(query)).first()


async def get(session: ReadSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id)


def add(session: WriteSession, item: Account | LoginSession) -> None:
    session.add(item)


async def live_session(
    session: ReadSession, token_sha256: str, now: datetime
) -> tuple[LoginSession, Account] | None:
    query = (
        select(LoginSession, Account)
        .join(Account, Account.id == LoginSession.account_id)
        .where(
            LoginSession.token_sha256 == token_sha256,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now,
            Account.active.is_(True),
        )
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def end_session(session: WriteSession, token_sha256: str) -> None:
    await session.execute(
        update(LoginSession)
        .where(LoginSession.token_sha256 == token_sha256, LoginSession.ended_at.is_(None))
        .values(ended_at=func.now())
    )
