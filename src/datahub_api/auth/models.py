"""API clients (OAuth2 client credentials), their secrets and certificates, the
subscription keys of the Fluvius-compatible face, and the keys that sign access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Enum, ForeignKey, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datahub_api.auth.principal import Role
from datahub_api.db import Base


class ApiClient(Base):
    """A machine that authenticates at the token endpoint.

    An ESP's client gets its data scopes from the organisation's approved contracts, at
    token time and again on every use; operator and head-end clients carry fixed scopes.
    """

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, name="client_role", native_enum=False, length=20))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    # Scopes for operator and head-end clients; ESP clients derive theirs from contracts.
    fixed_scopes: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    secrets: Mapped[list[ClientSecret]] = relationship(lazy="raise")
    certificates: Mapped[list[ClientCertificate]] = relationship(lazy="raise")


class ClientSecret(Base):
    """A client secret, stored as its SHA-256 (secrets are 256 random bits, so a fast hash
    is enough and keeps the token endpoint fast). Rotation leaves the old one valid until
    ``expires_at`` (the overlap window)."""

    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("api_clients.id", ondelete="CASCADE"), index=True
    )
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))  # first characters, to tell secrets apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClientCertificate(Base):
    """An X.509 certificate for ``private_key_jwt``; assertions name it by ``x5t``."""

    __tablename__ = "client_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(
        ForeignKey("api_clients.id", ondelete="CASCADE"), index=True
    )
    # base64url SHA-1 of the DER certificate, as in the JWS `x5t` header.
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsedAssertion(Base):
    """``jti`` of client assertions already used, kept until they expire (replay guard)."""

    __tablename__ = "used_client_assertions"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SubscriptionKey(Base):
    """``Ocp-Apim-Subscription-Key`` for the `/v3` face, one per approved `api` contract."""

    __tablename__ = "subscription_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("data_access_contracts.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    # Kept readable, like an API gateway's subscription keys: the owning ESP can show it
    # again; it is an extra gate in front of the bearer token, never a credential alone.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StoredSigningKey(Base):
    """A token-signing key every node reads: the private key encrypted at rest (Fernet, with
    the key-encryption key from the environment), its public JWK in clear for the JWKS.

    ``generation`` numbers the keys; the highest signs. Two nodes that make the first key (or
    two rotations) at the same moment both try the same generation, and the primary key lets
    one win: the other reads the winner's key.
    """

    __tablename__ = "signing_keys"

    generation: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Set when a newer key took over: the key still verifies until its last tokens expired.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
