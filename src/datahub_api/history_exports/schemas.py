"""Bodies of the yearly history export routes."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from datahub_api.history_exports.models import ExportFormat, ExportStatus
from datahub_api.iso_dates import IsoDate, IsoInstant, IsoYear


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signatory_name: str = Field(
        min_length=1,
        max_length=200,
        description="Who signed: the grid user of the EAN (for a company, its representative).",
    )
    signatory_enterprise_number: str | None = Field(
        default=None,
        max_length=20,
        description="When the grid user is a company: its enterprise number (what is checked).",
    )
    signed_on: date = Field(description="The signing date (not in the future).")
    document_sha256: str = Field(
        max_length=100,
        description="SHA-256 of the signed document (PDF) you keep, 64 hex characters: an "
        "audit checks the upload against it, as for NPS signed mandates.",
    )


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ean: str = Field(max_length=40)
    evidence: EvidenceIn | None = None


class HistoryExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference_number: str = Field(min_length=1, max_length=100, description="Your reference.")
    year: IsoYear | None = Field(
        default=None,
        ge=2000,
        le=2099,
        description="A calendar year (Brussels); the current one runs up to yesterday. Or "
        "give `period_from` and `period_to`.",
    )
    period_from: IsoDate | None = Field(default=None, description="First day (Brussels).")
    period_to: IsoDate | None = Field(default=None, description="Last day (inclusive), past.")
    format: ExportFormat = Field(description="`csv` (Fluvius layout) or `xlsx`.")
    eans: list[EntryIn] = Field(
        description="The EANs with the grid user's signed mandate; at most "
        "`DATAHUB_HISTORY_EXPORT_MAX_EANS` (10 000 by default; 413 above)."
    )


class ItemOut(BaseModel):
    position: int
    ean: str
    kind: str = Field(description="`gvm`: quarter-hours; `kvm`: yearly and monthly totals.")
    mandate_id: int
    added_by_operator: bool = Field(description="Added by the DSO on your behalf.")
    row_count: int | None = Field(description="Rows in the file (once ready).")
    skipped_reason: str | None = Field(description="Why the EAN is not in the file.")


class HistoryExportOut(BaseModel):
    id: int
    reference_number: str
    period_from: date
    period_to: date
    format: ExportFormat
    status: ExportStatus
    progress_percent: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    due_at: datetime = Field(description="The delivery deadline (10 days, or as agreed).")
    agreed_due_reason: str | None
    error: str | None
    file_name: str | None
    size_bytes: int | None
    sha256: str | None = Field(description="SHA-256 of the file, to check the download.")
    expires_at: datetime | None = Field(description="The file is kept until then (410 after).")
    withdrawn: bool = Field(
        False,
        description="The file holds data of an EAN whose mandate has ended (revoked, expired, "
        "the grid user's tenure ended, audit failed): its download answers 410 "
        "(`history-export-withdrawn`, naming the EANs and why) until the export is made again "
        "without them (within minutes), or for good when no EAN is left.",
    )
    download_url: str | None
    item_count: int
    items: list[ItemOut] | None = None


class HistoryExportPage(BaseModel):
    items: list[HistoryExportOut]
    next_cursor: str | None


class QuotaExceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: int = Field(ge=1, le=2**62)
    year: IsoYear = Field(ge=2000, le=2099)
    reason: str = Field(min_length=3, max_length=2000)


class QuotaExceptionOut(BaseModel):
    id: int
    organisation_id: int
    year: int
    reason: str
    granted_by: str
    granted_at: datetime


class DeadlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due_at: IsoInstant = Field(description="The agreed delivery deadline (with offset).")
    reason: str = Field(min_length=3, max_length=2000)


class OperatorAddIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eans: list[EntryIn] = Field(min_length=1)
    note: str = Field(min_length=3, max_length=2000, description="E.g. 'sent by mail on ...'.")
