"""Bodies of the paper-mandate routes for the people they concern."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from datahub_api.mandates.models import DataServiceType, MandateStatus
from datahub_api.paper_mandates.models import Hold, NameCheck


class RegisteredBy(BaseModel):
    name: str = Field(description="The energy service provider that registered it.")
    enterprise_number: str
    registered_at: datetime


class PaperMandateOut(BaseModel):
    mandate_id: int
    ean: str
    channel: str = Field(description="`nps` or `annual_history` (the yearly history).")
    registered_by: RegisteredBy
    signatory_name: str = Field(description="Who signed, as the provider says.")
    signatory_is_grid_user: bool = Field(
        description="Signed as the grid user (else as a customer, and the grid user is asked "
        "to co-consent)."
    )
    signed_on: date
    data_service_type: DataServiceType
    data_period_from: datetime
    data_period_to: datetime
    status: MandateStatus
    finished_reason: str | None
    name_check: NameCheck = Field(
        description="`pending` until the DSO has compared the signatory with the grid user "
        "on record; `mismatched`: another signatory, the provider must show the document."
    )
    data_held: Hold | None = Field(
        description="Why no data flows on it now (`check_pending`, `name_mismatch`, "
        "`contested`), or null."
    )
    contested_at: datetime | None
    contest_reason: str | None
    can_contest: bool


class ContestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=2000,
        description="Why you contest it (you did not sign it, the period is wrong, ...).",
    )
