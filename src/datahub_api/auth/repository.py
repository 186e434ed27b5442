"""SQL of API clients, secrets, certificates, assertion replay guards and subscription keys.
Which clients a caller may see is decided in ``clients_visible_to`` only."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import Select, delete, false, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import selectinload

from datahub_api.auth.models import (
    ApiClient,
    ClientCertificate,
    ClientSecret,
    StoredSigningKey,
    SubscriptionKey,
    UsedAssertion,
)
from datahub_api.auth.principal import Principal, Role
from datahub_api.contracts.models import DataAccessContract
from datahub_api.db import ReadSession, WriteSession


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def clients_visible_to(principal: Principal) -> Select[ApiClient]:
    query = select(ApiClient).options(
        selectinload(ApiClient.secrets), selectinload(ApiClient.certificates)
    )
    if principal.role is Role.operator:
        return query
    if principal.role is Role.esp and principal.organisation_id is not None:
        return query.where(ApiClient.organisation_id == principal.organisation_id)
    return query.where(false())


async def get_visible_client(
    session: ReadSession, principal: Principal, client_id: str
) -> ApiClient | None:
    query = clients_visible_to(principal).where(ApiClient.client_id == client_id)
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def list_visible_clients(session: ReadSession, principal: Principal) -> list[ApiClient]:
    query = clients_visible_to(principal).order_by(ApiClient.id)
    return list((await session.scalars(query)).all())


async def get_client_for_authentication(session: ReadSession, client_id: str) -> ApiClient | None:
    query = (
        select(ApiClient)
        .where(ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None))
        .options(selectinload(ApiClient.secrets), selectinload(ApiClient.certificates))
    )
    return (await session.scalars(query)).first()


async def get_client_by_certificate(session: ReadSession, thumbprint: str) -> ApiClient | None:
    query = (
        select(ApiClient)
        .join(ClientCertificate, ClientCertificate.client_pk == ApiClient.id)
        .where(ClientCertificate.thumbprint == thumbprint, ApiClient.revoked_at.is_(None))
        .options(selectinload(ApiClient.certificates))
    )
    return (await session.scalars(query)).first()


def add_client(session: WriteSession, client: ApiClient) -> None:
    session.add(client)


def add_secret(session: WriteSession, secret: ClientSecret) -> None:
    session.add(secret)


def add_certificate(session: WriteSession, certificate: ClientCertificate) -> None:
    session.add(certificate)


async def expire_secrets(session: WriteSession, client_pk: int, at: datetime) -> None:
    """Let every current secret of the client run out at ``at`` (rotation overlap)."""
    await session.execute(
        update(ClientSecret)
        .where(
            ClientSecret.client_pk == client_pk,
            (ClientSecret.expires_at.is_(None)) | (ClientSecret.expires_at > at),
        )
        .values(expires_at=at)
    )


async def revoke_client(session: WriteSession, client_pk: int) -> None:
    await session.execute(
        update(ApiClient)
        .where(ApiClient.id == client_pk, ApiClient.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def revoked_client_ids(session: ReadSession) -> set[str]:
    query = select(ApiClient.client_id).where(ApiClient.revoked_at.is_not(None))
    return set((await session.scalars(query)).all())


async def remember_assertion(
    session: WriteSession, client_id: str, jti: str, expires_at: datetime
) -> bool:
    """Record a client assertion's ``jti``; False when it was used before (a replay)."""
    await session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < func.now()))
    inserted = await session.execute(
        insert(UsedAssertion)
        .values(client_id=client_id, jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing()
        .returning(UsedAssertion.jti)
    )
    return inserted.first() is not None


async def issue_subscription_key(
    session: WriteSession, contract: DataAccessContract, key: str | None = None
) -> SubscriptionKey:
    existing = await active_subscription_key(session, contract.id)
    if existing is not None:
        return existing
    row = SubscriptionKey(
        contract_id=contract.id,
        organisation_id=contract.organisation_id,
        key=key or secrets.token_hex(16),
    )
    session.add(row)
    await session.flush()
    return row


async def active_subscription_key(session: ReadSession, contract_id: int) -> SubscriptionKey | None:
    query = select(SubscriptionKey).where(
        SubscriptionKey.contract_id == contract_id, SubscriptionKey.revoked_at.is_(None)
    )
    return (await session.scalars(query)).first()


async def revoke_subscription_keys(session: WriteSession, contract_id: int) -> None:
    await session.execute(
        update(SubscriptionKey)
        .where(SubscriptionKey.contract_id == contract_id, SubscriptionKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def active_subscription_keys(session: ReadSession) -> dict[str, int]:
    """Every valid subscription key with its organisation."""
    query = select(SubscriptionKey.key, SubscriptionKey.organisation_id).where(
        SubscriptionKey.revoked_at.is_(None)
    )
    return {row.key: row.organisation_id for row in (await session.execute(query)).all()}


# --- token-signing keys ------------------------------------------------------------------


async def signing_keys_stamp(session: ReadSession) -> tuple[int, int, int]:
    """What changes whenever a key is added or dropped: (lowest, highest generation, count).
    An index-only look at a handful of rows, cheap enough to ask every second."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.min(StoredSigningKey.generation), 0),
                func.coalesce(func.max(StoredSigningKey.generation), 0),
                func.count(),
            )
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def signing_keys(session: ReadSession) -> list[StoredSigningKey]:
    query = select(StoredSigningKey).order_by(StoredSigningKey.generation)
    return list((await session.scalars(query)).all())


async def add_signing_key(
    session: WriteSession,
    *,
    generation: int,
    kid: str,
    public_jwk: dict[str, str],
    private_key_encrypted: bytes,
) -> bool:
    """Store the key of ``generation`` unless another process stored one first (then False).
    The older keys are marked retired from now on."""
    inserted = await session.execute(
        insert(StoredSigningKey)
        .values(
            generation=generation,
            kid=kid,
            public_jwk=public_jwk,
            private_key_encrypted=private_key_encrypted,
        )
        .on_conflict_do_nothing()
        .returning(StoredSigningKey.generation)
    )
    if inserted.scalar_one_or_none() is None:
        return False
    await session.execute(
        update(StoredSigningKey)
        .where(StoredSigningKey.generation < generation, StoredSigningKey.retired_at.is_(None))
        .values(retired_at=func.now())
    )
    return True


async def drop_signing_keys_retired_before(session: WriteSession, before: datetime) -> list[str]:
    """Drop keys retired before ``before`` (their tokens have expired); their key ids."""
    dropped = await session.scalars(
        delete(StoredSigningKey)
        .where(StoredSigningKey.retired_at < before)
        .returning(StoredSigningKey.kid)
    )
    return list(dropped.all())
