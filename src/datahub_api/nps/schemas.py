"""Bodies of the NPS routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from datahub_api.iso_dates import IsoDate
from datahub_api.nps.models import AuditStatus, EvidenceSource, ItemOutcome, SignatoryCapacity


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: EvidenceSource = Field(
        description="`portal`: the customer's own approved `nps` mandate, given on the portal "
        "(name it in `mandate_id`); `signed`: a signed paper mandate you keep and must show "
        "on request (the other fields)."
    )
    mandate_id: int | None = Field(default=None, ge=1, le=2**62, description="portal only")
    signatory_name: str | None = Field(default=None, max_length=200)
    signatory_capacity: SignatoryCapacity | None = Field(
        default=None,
        description="`grid_user`: the grid user signed (or its legal representative). "
        "`customer`: someone else signed: the grid user is asked to co-consent. Either way the "
        "mandate starts `requested` and is approved once the DSO has checked the signatory "
        "(after registration, see the list's description).",
    )
    signatory_enterprise_number: str | None = Field(
        default=None, max_length=20, description="When a company signed."
    )
    signed_on: IsoDate | None = None
    data_period_from: IsoDate | None = Field(default=None, description="First day (Brussels).")
    data_period_to: IsoDate | None = Field(default=None, description="Last day (inclusive).")
    document_sha256: str | None = Field(
        default=None,
        max_length=100,
        description="SHA-256 of the signed document (PDF) you keep, 64 hex characters: an "
        "audit checks the upload against it.",
    )


class ListEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ean: str = Field(max_length=40)
    evidence: EvidenceIn | None = None


class NpsRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference_number: str = Field(
        min_length=1, max_length=100, description="Your reference; the mandates carry it."
    )
    eans: list[ListEntryIn] = Field(
        min_length=1,
        description="The EANs with their mandate evidence; at most "
        "`DATAHUB_NPS_MAX_EANS_PER_REQUEST` (1000 by default; 413 above).",
    )


class ItemOut(BaseModel):
    position: int = Field(description="0-based index in the list as sent.")
    ean: str
    outcome: ItemOutcome
    detail: str | None
    source: EvidenceSource | None
    mandate_id: int | None = Field(description="The mandate that allows an accepted EAN.")
    mandate_status: str | None = Field(
        default=None,
        description="The mandate's status now: a paper mandate is `requested` when "
        "registered, until the DSO's check (and, when a customer signed, the grid user's "
        "co-consent) approves it.",
    )


class NpsRequestOut(BaseModel):
    id: int
    reference_number: str
    created_at: datetime
    item_count: int
    accepted_count: int
    items: list[ItemOut] | None = Field(
        default=None,
        description="Per-EAN outcomes (in the answer to the POST and the GET of one request).",
    )


class NpsRequestPage(BaseModel):
    items: list[NpsRequestOut]
    next_cursor: str | None


class DocumentOut(BaseModel):
    sha256: str
    size_bytes: int
    page_count: int
    uploaded_at: datetime


class AuditOut(BaseModel):
    id: int
    mandate_id: int
    ean: str
    reference_number: str
    status: AuditStatus
    opened_by: str = Field(
        description="`operator`, `sampling` (the quarterly sample), `registry_check` (the "
        "signatory is not the grid user on record) or `contest` (the grid user or a customer "
        "contests the mandate); operators see the operator's subject."
    )
    sample_quarter: str | None
    opened_at: datetime
    due_at: datetime = Field(description="Upload the signed mandate before this instant.")
    submitted_at: datetime | None
    decided_at: datetime | None
    decision_note: str | None
    mandate_status: str
    mandate_finished_reason: str | None
    data_held: bool = Field(
        description="The mandate gives no data until this audit passes (a registry check "
        "that found another signatory, or a contest)."
    )
    contest_reason: str | None = Field(
        default=None, description="Operators only: why the grid user or customer contests it."
    )
    document: DocumentOut | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


class AuditDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "refuse"]
    note: str | None = Field(default=None, max_length=2000)


class DailyFileOut(BaseModel):
    id: int
    day: date = Field(description="The Brussels day the file is for (made the day after).")
    created_at: datetime
    row_count: int
    ean_count: int
    size_bytes: int
    sha256: str
    download_url: str


class DailyFilePage(BaseModel):
    items: list[DailyFileOut]
    next_cursor: str | None
