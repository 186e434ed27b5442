"""Bodies of the API-client routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from datahub_api.auth.principal import Role


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What this client is, for you.")


class OperatorClientCreate(ClientCreate):
    role: Role = Field(description="`esp`, `operator` or `head_end`.")
    organisation_enterprise_number: str | None = Field(
        default=None, description="For an `esp` client: its organisation."
    )


class CertificateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate_pem: str = Field(
        min_length=50,
        max_length=20_000,
        description="PEM X.509 certificate (RSA) for `private_key_jwt`.",
    )


class CertificateOut(BaseModel):
    thumbprint: str = Field(description="The `x5t` your assertions must carry.")
    not_after: datetime
    created_at: datetime


class ClientOut(BaseModel):
    client_id: str
    name: str
    role: Role
    organisation_enterprise_number: str | None
    created_at: datetime
    revoked_at: datetime | None
    secret_hints: list[str] = Field(description="First characters of each valid secret.")
    certificates: list[CertificateOut]


class ClientWithSecret(ClientOut):
    client_secret: str = Field(description="Shown once; store it now.")
    previous_secrets_valid_until: datetime | None = None
