"""Bodies of the native consent and mandate API (snake_case, lower-case enums)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from datahub_api.iso_dates import IsoInstant
from datahub_api.mandates.models import (
    CoConsentStatus,
    ConsentSessionStatus,
    DataServiceType,
    Flow,
    MandateSource,
    MandateStatus,
    RenewalStatus,
)


class DataServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_service_type: DataServiceType
    data_period_from: IsoInstant | None = Field(
        default=None, description="Default: the start of today (Brussels)."
    )
    data_period_to: IsoInstant | None = Field(default=None, description="Default: a year on.")


class ConsentSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contract_number: str = Field(pattern=r"^\d{10}$")
    reference_number: str = Field(min_length=1, max_length=100, description="Your own reference.")
    channel: Literal["api", "portal", "nps"] = "api"
    flow: Flow = Flow.b2c
    data_services: list[DataServiceIn] = Field(min_length=1, max_length=4)
    number_of_eans: int = Field(default=1, ge=1, le=1000)
    return_url_success: str | None = Field(default=None, max_length=1000)
    return_url_failed: str | None = Field(default=None, max_length=1000)
    enterprise_number: str | None = Field(default=None, description="B2B: the customer's.")


class DataServiceOut(BaseModel):
    data_service_type: DataServiceType
    data_period_from: datetime
    data_period_to: datetime


class ConsentSessionOut(BaseModel):
    identifier: str = Field(description="The `shortUrlIdentifier`.")
    consent_url: str = Field(description="Where the customer gives consent: /consent/{identifier}.")
    status: ConsentSessionStatus
    valid_to: datetime
    reference_number: str
    channel: str
    flow: Flow
    number_of_eans: int
    data_services: list[DataServiceOut]
    created_at: datetime
    decided_at: datetime | None


class EligibleAccessPointOut(BaseModel):
    ean: str
    energy_type: str
    is_grid_user: bool = Field(
        description="False when someone else is the grid user: they will be asked to co-consent."
    )


class ConsentRequestForCustomer(ConsentSessionOut):
    requested_by: str = Field(description="The energy service provider asking.")
    your_access_points: list[EligibleAccessPointOut] = Field(
        description="Your access points with a digital meter, which you may pick."
    )


class ConsentDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    eans: list[str] = Field(default_factory=list, max_length=1000)


class MandateOut(BaseModel):
    id: int
    ean: str
    reference_number: str
    channel: str
    energy_type: str
    data_service_type: DataServiceType
    data_period_from: datetime
    data_period_to: datetime
    expiration_date: datetime
    status: MandateStatus
    renewal_status: RenewalStatus | None
    source: MandateSource
    finished_reason: str | None = Field(
        description="Why it finished: `expired`, `revoked_by_customer`, "
        "`revoked_by_grid_user`, `terminated_by_esp`, `replaced_by_new_consent`, "
        "`tenure_ended` (the customer who gave it left the access point), "
        "`grid_user_changed` (the grid user who co-signed it did), `audit_failed`, ..."
    )
    ends_at: datetime | None = Field(
        description="When the mandate ends (or ended) because the customer or grid user who "
        "gave it leaves the access point, as the registry says; null while none is known. A "
        "mandate stays `approved` until then and reads nothing from then on; it becomes "
        "`finished` (`tenure_ended`) the same day (at once when the date is past)."
    )
    waiting_for_grid_user: bool
    created_at: datetime
    updated_at: datetime


class MandatePage(BaseModel):
    items: list[MandateOut]
    next_cursor: str | None


class ConsentDecisionOut(BaseModel):
    status: ConsentSessionStatus
    redirect_url: str | None = Field(description="Send the customer back to the ESP here.")
    mandates: list[MandateOut]


class CoConsentOut(BaseModel):
    id: int
    status: CoConsentStatus
    due_at: datetime
    ean: str
    requested_by: str = Field(description="The energy service provider.")
    customer: str = Field(description="Who consented and asks for your co-consent.")
    data_service_type: DataServiceType
    data_period_from: datetime
    data_period_to: datetime


class CoConsentDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
