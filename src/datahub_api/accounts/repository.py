"""SQL of accounts and login sessions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update

from datahub_api.accounts.models import Account, AccountRole, LoginSession
from datahub_api.array_parameters import in_array
from datahub_api.db import ReadSession, WriteSession


async def roles_by_id(session: ReadSession, account_ids: Iterable[int]) -> dict[int, AccountRole]:
    """The role of each of the accounts that exist among ``account_ids``."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    result = await session.execute(
        select(Account.id, Account.role).where(in_array(Account.id, wanted))
    )
    return {row.id: row.role for row in result}


@dataclass
class NewAccounts:
    """Column arrays of accounts to create in one statement (the i-th entries make one)."""

    username: list[str]
    password_hash: list[str]
    display_name: list[str]
    email: list[str | None]
    role: list[str]


_INSERT_ACCOUNTS = text(
    """
    INSERT INTO accounts (username, password_hash, display_name, email, role)
    SELECT * FROM unnest(
        CAST(:username AS varchar[]), CAST(:password_hash AS varchar[]),
        CAST(:display_name AS varchar[]), CAST(:email AS varchar[]), CAST(:role AS varchar[])
    )
    RETURNING id, username
    """
)


async def add_accounts(session: WriteSession, accounts: NewAccounts) -> list[int]:
    """Create the accounts in one statement; their ids in the given order."""
    if not accounts.username:
        return []
    result = await session.execute(_INSERT_ACCOUNTS, vars(accounts))
    # RETURNING promises no order: map back through the unique usernames.
    id_of = {row.username: row.id for row in result}
    return [id_of[username] for username in accounts.username]


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
