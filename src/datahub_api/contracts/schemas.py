"""Request and response bodies of the contracts API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from datahub_api.contracts.models import Channel, ContractStatus
from datahub_api.iso_dates import IsoDate


class ContractApplication(BaseModel):
    """An ESP's application for a data-access contract on one or more channels."""

    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] = Field(
        min_length=1,
        max_length=4,
        description="`portal` (deze website), `api`, `nps`, `annual_history`.",
    )
    valid_from: IsoDate | None = Field(default=None, description="Default: the day of approval.")
    valid_to: IsoDate | None = Field(default=None, description="Exclusive; open-ended when absent.")

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("each channel may be named once")
        return sorted(channels)

    @model_validator(mode="after")
    def _period(self) -> ContractApplication:
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class StatusChangeOut(BaseModel):
    from_status: ContractStatus | None
    to_status: ContractStatus
    at: datetime
    actor: str
    reason: str | None


class ContractOut(BaseModel):
    number: str = Field(description="The 10-digit `dataAccessContractNumber`.")
    organisation_enterprise_number: str
    organisation_name: str
    channels: list[Channel]
    status: ContractStatus
    valid_from: date
    valid_to: date | None
    created_at: datetime
    updated_at: datetime
    history: list[StatusChangeOut]


class ContractPage(BaseModel):
    items: list[ContractOut]
    next_cursor: str | None


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000, description="Why; kept in the history.")


class OptionalReason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)


class SubscriptionKeyOut(BaseModel):
    contract_number: str
    subscription_key: str = Field(description="Send as `Ocp-Apim-Subscription-Key` on `/v3`.")
    created_at: datetime
