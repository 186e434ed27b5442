"""The mail domain's SQL: outbox rows, addressees and mail preferences."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from datahub_api.accounts.models import Account
from datahub_api.db import ReadSession, WriteSession
from datahub_api.mail.models import MailPreference, OutboxMessage, OutboxStatus
from datahub_api.organisations.models import Organisation


@dataclass(frozen=True)
class Addressee:
    name: str
    address: str | None  # None: nowhere to send it (no e-mail on record, or inactive)


def add(session: WriteSession, message: OutboxMessage) -> None:
    session.add(message)


async def get_for_update(session: WriteSession, message_id: int) -> OutboxMessage | None:
    return await session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
    )


async def addressee(session: ReadSession, message: OutboxMessage) -> Addressee:
    if message.account_id is not None:
        account = await session.get(Account, message.account_id)
        if account is None:
            return Addressee("?", None)
        return Addressee(account.display_name, account.email if account.active else None)
    organisation = await session.get(Organisation, message.organisation_id)
    if organisation is None:
        return Addressee("?", None)
    return Addressee(organisation.name, organisation.contact_email or None)


def _owner(account_id: int | None, organisation_id: int | None) -> object:
    if account_id is not None:
        return MailPreference.account_id == account_id
    return MailPreference.organisation_id == organisation_id


async def preference(
    session: ReadSession, *, account_id: int | None = None, organisation_id: int | None = None
) -> MailPreference | None:
    return await session.scalar(
        select(MailPreference).where(_owner(account_id, organisation_id))  # type: ignore[arg-type]
    )


async def ensure_preference(
    session: WriteSession, *, account_id: int | None = None, organisation_id: int | None = None
) -> MailPreference:
    """The addressee's preferences, made (with an unsubscribe token) the first time."""
    column = "account_id" if account_id is not None else "organisation_id"
    await session.execute(
        insert(MailPreference)
        .values(
            {
                column: account_id if account_id is not None else organisation_id,
                "unsubscribe_token": secrets.token_urlsafe(32),
            }
        )
        .on_conflict_do_nothing(index_elements=[column])
    )
    found = await preference(session, account_id=account_id, organisation_id=organisation_id)
    assert found is not None
    return found


async def by_token(session: ReadSession, token: str) -> MailPreference | None:
    return await session.scalar(
        select(MailPreference).where(MailPreference.unsubscribe_token == token)
    )


async def set_preference(
    session: WriteSession,
    found: MailPreference,
    *,
    language: str | None = None,
    informational: bool | None = None,
) -> None:
    values: dict[str, object] = {"updated_at": func.now()}
    if language is not None:
        values["language"] = language
    if informational is not None:
        values["informational"] = informational
    await session.execute(
        update(MailPreference).where(MailPreference.id == found.id).values(values)
    )


async def overdue_ids(session: ReadSession, before: datetime, limit: int) -> Sequence[int]:
    """Pending messages that should have been attempted by ``before`` (their job was never
    queued, or was lost)."""
    due = func.coalesce(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
    rows = await session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.pending, due <= before)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return rows.all()


@dataclass(frozen=True)
class Listed:
    message: OutboxMessage
    addressee: str


async def recent(
    session: ReadSession, limit: int, *, status: OutboxStatus | None = None
) -> list[Listed]:
    """The newest messages with their addressee's name (the operator's page)."""
    name = func.coalesce(Account.display_name, Organisation.name)
    statement = (
        select(OutboxMessage, name)
        .outerjoin(Account, Account.id == OutboxMessage.account_id)
        .outerjoin(Organisation, Organisation.id == OutboxMessage.organisation_id)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    rows = await session.execute(statement)
    return [Listed(message, str(addressee or "?")) for message, addressee in rows.all()]


async def get(session: ReadSession, message_id: int) -> OutboxMessage | None:
    return await session.get(OutboxMessage, message_id)


async def counts(session: ReadSession) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {str(status.value if hasattr(status, "value") else status): n for status, n in rows}


async def address_of(
    session: ReadSession, *, account_id: int | None = None, organisation_id: int | None = None
) -> str | None:
    if account_id is not None:
        return await session.scalar(select(Account.email).where(Account.id == account_id))
    return await session.scalar(
        select(Organisation.contact_email).where(Organisation.id == organisation_id)
    )


async def organisation_name(session: ReadSession, organisation_id: int) -> str:
    name = await session.scalar(select(Organisation.name).where(Organisation.id == organisation_id))
    return name or "?"
