"""Bodies of the organisation routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from datahub_api.organisations import enterprise_number
from datahub_api.organisations.models import OrganisationStatus

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _return_urls(urls: list[str]) -> list[str]:
    for url in urls:
        if not url.startswith("https://") and not url.startswith("http://localhost"):
            raise ValueError(f"{url!r}: return URLs must be https (or http://localhost for tests)")
    return urls


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    enterprise_number: str = Field(
        description="Belgian enterprise number: `0123.456.749`, `BE0123456749` or `0123456749`."
    )
    contact_email: str = Field(pattern=EMAIL_PATTERN, max_length=320)
    return_url_prefixes: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("enterprise_number")
    @classmethod
    def _canonical(cls, value: str) -> str:
        try:
            return enterprise_number.canonical(value)
        except enterprise_number.InvalidEnterpriseNumber as exc:
            raise ValueError(str(exc)) from None

    @field_validator("return_url_prefixes")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        return _return_urls(urls)


class OrganisationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_email: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=320)
    return_url_prefixes: list[str] | None = Field(default=None, max_length=20)

    @field_validator("return_url_prefixes")
    @classmethod
    def _urls(cls, urls: list[str] | None) -> list[str] | None:
        return None if urls is None else _return_urls(urls)


class StatusChangeOut(BaseModel):
    """An operator's decision on the organisation: who, when, why."""

    from_status: OrganisationStatus
    to_status: OrganisationStatus
    by: str = Field(description="The operator (client id or `user:<id>`) or CLI actor.")
    at: datetime
    reason: str | None


class OrganisationOut(BaseModel):
    name: str
    enterprise_number: str
    enterprise_number_formatted: str
    contact_email: str
    status: OrganisationStatus
    return_url_prefixes: list[str]
    created_at: datetime
    last_status_change: StatusChangeOut | None = Field(
        default=None,
        description="The last suspension or resumption (who, when, why); null when none.",
    )


class SuspensionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1, max_length=2000, description="Why: kept with the suspension and audited."
    )

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value.strip()


class ResumptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)
