"""NPS (Netuser Paid Services): the EAN lists ESPs hand in with per-EAN mandate evidence,
the audits of signed paper mandates with their uploaded documents, and the daily files.

An accepted list item points at the ``nps``-channel mandate that allows it (made from signed
evidence, or the customer's own portal mandate). The ESP's NPS list is its accepted items
whose mandate is still live.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, deferred, mapped_column

from datahub_api.db import Base
from datahub_api.db import string_enum as _enum


class ItemOutcome(StrEnum):
    """What became of one EAN of a list."""

    accepted = "accepted"
    invalid_ean = "invalid_ean"  # not 18 digits with a valid GS1 check digit
    unknown_ean = "unknown_ean"  # no such access point
    not_gvm = "not_gvm"  # not a large-consumption installation: use the API channel
    missing_evidence = "missing_evidence"
    invalid_evidence = "invalid_evidence"  # malformed or inconsistent evidence
    duplicate = "duplicate"  # the EAN is in the list more than once
    already_active = "already_active"  # already on your NPS list with a live mandate


class EvidenceSource(StrEnum):
    portal = "portal"  # the customer's own approved `nps` mandate, given on the portal
    signed = "signed"  # a signed paper mandate the ESP keeps


class SignatoryCapacity(StrEnum):
    grid_user = "grid_user"  # the grid user (or whoever legally represents it)
    customer = "customer"  # a customer of the access point who is not the grid user


class AuditStatus(StrEnum):
    open = "open"  # waiting for the ESP's document
    submitted = "submitted"  # a matching PDF is in; waiting for the operator
    accepted = "accepted"
    refused = "refused"  # ends the mandate (audit_failed)
    overdue = "overdue"  # no document in time: ends the mandate (audit_failed)


CURRENT_AUDIT_STATUSES = (AuditStatus.open, AuditStatus.submitted)


class NpsRequest(Base):
    """One EAN list as handed in, with the outcome of each EAN (kept, refused ones too)."""

    __tablename__ = "nps_requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    reference_number: Mapped[str] = mapped_column(String(100))
    submitted_by: Mapped[str] = mapped_column(String(200))
    item_count: Mapped[int] = mapped_column(Integer)
    accepted_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class NpsRequestItem(Base):
    """One EAN of a list: the evidence as given and its outcome."""

    __tablename__ = "nps_request_items"
    __table_args__ = (Index("ix_nps_request_items_organisation_id_ean", "organisation_id", "ean"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("nps_requests.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based index in the list
    ean: Mapped[str] = mapped_column(String(40))  # as given (cut to 40 characters)
    outcome: Mapped[ItemOutcome] = mapped_column(_enum(ItemOutcome, "nps_item_outcome"))
    detail: Mapped[str | None] = mapped_column(Text)
    source: Mapped[EvidenceSource | None] = mapped_column(
        _enum(EvidenceSource, "nps_evidence_source", 10)
    )
    mandate_id: Mapped[int | None] = mapped_column(ForeignKey("mandates.id"), index=True)
    signatory_name: Mapped[str | None] = mapped_column(String(200))
    signatory_capacity: Mapped[SignatoryCapacity | None] = mapped_column(
        _enum(SignatoryCapacity, "nps_signatory_capacity")
    )
    signatory_enterprise_number: Mapped[str | None] = mapped_column(String(20))
    signed_on: Mapped[date | None] = mapped_column(Date)
    data_period_from: Mapped[date | None] = mapped_column(Date)
    data_period_to: Mapped[date | None] = mapped_column(Date)  # inclusive last day
    document_sha256: Mapped[str | None] = mapped_column(String(100))


class NpsAudit(Base):
    """The DSO asks to see the signed paper mandate behind an NPS mandate."""

    __tablename__ = "nps_audits"
    __table_args__ = (
        # At most one audit in progress per mandate.
        Index(
            "uq_nps_audits_current",
            "mandate_id",
            unique=True,
            postgresql_where=text("status IN ('open', 'submitted')"),
        ),
        Index("ix_nps_audits_organisation_id_sample_quarter", "organisation_id", "sample_quarter"),
        Index("ix_nps_audits_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandates.id", ondelete="RESTRICT"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[AuditStatus] = mapped_column(_enum(AuditStatus, "nps_audit_status"))
    opened_by: Mapped[str] = mapped_column(String(200))  # operator subject, or "sampling"
    sample_quarter: Mapped[str | None] = mapped_column(String(7))  # "2026-Q4" when sampled
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_note: Mapped[str | None] = mapped_column(Text)


class NpsEvidenceDocument(Base):
    """The signed mandate (PDF) uploaded for an audit; the bytes are loaded only on
    download (deferred, and an accidental load raises)."""

    __tablename__ = "nps_evidence_documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    audit_id: Mapped[int] = mapped_column(
        ForeignKey("nps_audits.id", ondelete="CASCADE"), unique=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False), raiseload=True)


class NpsDailyFile(Base):
    """An ESP's daily CSV: every quarter-hour value of its NPS EANs that arrived or changed
    between the previous file's cut and this one's (block insert time, block id)."""

    __tablename__ = "nps_daily_files"
    __table_args__ = (UniqueConstraint("organisation_id", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    day: Mapped[date] = mapped_column(Date)  # the Brussels day the file is for (yesterday)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The cut: blocks after the previous file's cursor up to this one are in this file.
    cursor_inserted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cursor_block_id: Mapped[int | None] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(Integer)
    ean_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # [{"ean", "mandate_id", "from", "to"}]: what a download records in the access log.
    reads: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False), raiseload=True)
