"""Bodies of the login routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from datahub_api.accounts.models import AccountRole


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1000)


class Me(BaseModel):
    username: str
    display_name: str
    role: AccountRole
    organisation_id: int | None
    csrf_token: str = Field(
        description="Send as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE made with "
        "the session cookie."
    )
    expires_at: datetime | None = None
