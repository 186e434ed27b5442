"""Yearly one-off history exports: the request (one free per ESP per calendar year), its
EANs with the signed-mandate evidence, the operator's quota exceptions, and the job's state.

The file itself lives on disk (``DATAHUB_HISTORY_EXPORT_DIR``); the row holds its name,
size and SHA-256 once the job has written it whole.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base
from datahub_api.db import string_enum as _enum


class ExportStatus(StrEnum):
    queued = "queued"
    running = "running"
    ready = "ready"
    failed = "failed"


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class HistoryExport(Base):
    """One request: EANs, period and format; the job's progress; the file when ready."""

    __tablename__ = "history_exports"
    __table_args__ = (
        # The free quota: one request per ESP per calendar year; more only on an exception.
        Index(
            "uq_history_exports_free_quota",
            "organisation_id",
            "quota_year",
            unique=True,
            postgresql_where=text("quota_exception_id IS NULL"),
        ),
        Index("ix_history_exports_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    quota_year: Mapped[int] = mapped_column(Integer)  # Brussels year of the request
    quota_exception_id: Mapped[int | None] = mapped_column(
        ForeignKey("history_export_quota_exceptions.id"), unique=True
    )
    reference_number: Mapped[str] = mapped_column(String(100))
    requested_by: Mapped[str] = mapped_column(String(200))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)  # inclusive last day
    format: Mapped[ExportFormat] = mapped_column(_enum(ExportFormat, "history_export_format", 4))
    status: Mapped[ExportStatus] = mapped_column(_enum(ExportStatus, "history_export_status", 10))
    progress_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The running job's last sign of life (start and every EAN written): the sweeper starts
    # an export over when a run has been silent too long (its worker died or was stopped).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    file_deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The SLA: delivered by created_at + the channel's target, or by a deadline an operator
    # agreed for this request (with the reason).
    agreed_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    agreed_due_reason: Mapped[str | None] = mapped_column(Text)
    agreed_by: Mapped[str | None] = mapped_column(String(200))
    first_ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HistoryExportItem(Base):
    """One EAN of a request with the signed-mandate evidence and the mandate made from it;
    ``added_by`` is set when an operator added it on the ESP's behalf."""

    __tablename__ = "history_export_items"
    __table_args__ = (UniqueConstraint("export_id", "ean"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    export_id: Mapped[int] = mapped_column(
        ForeignKey("history_exports.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    ean: Mapped[str] = mapped_column(String(18))
    gvm: Mapped[bool] = mapped_column(Boolean)
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandates.id"), index=True)
    signatory_name: Mapped[str] = mapped_column(String(200))
    signatory_enterprise_number: Mapped[str | None] = mapped_column(String(20))
    signed_on: Mapped[date] = mapped_column(Date)
    document_sha256: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str | None] = mapped_column(String(200))  # an operator, for the ESP
    added_note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # What the last run wrote: rows, and the instants [read_from, read_to) the mandate let
    # it read (recorded in the access log on each download); a note when it was skipped.
    row_count: Mapped[int | None] = mapped_column(Integer)
    read_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    skipped_reason: Mapped[str | None] = mapped_column(Text)


class HistoryExportQuotaException(Base):
    """An operator lets an ESP make one more request in a calendar year (used by the next)."""

    __tablename__ = "history_export_quota_exceptions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
