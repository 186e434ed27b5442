"""Signed paper mandates (NPS lists, yearly history exports): what the ESP registered, the
check of its signatory against the registry that runs after registration, the grid user's
or customer's contest, and the hold that keeps data back while either is unresolved.

A registered paper mandate's ``hold`` starts at ``check_pending``; the check clears it (the
signatory is the grid user on record, or a customer whose grid user co-consents) or turns it
into ``name_mismatch``; a contest makes it ``contested``. While a hold is set the mandate
gives no data on any face or channel (the read gate, the NPS daily files and the history
export all ask :func:`datahub_api.paper_mandates.repository.not_held`); an audit that passes
lifts a mismatch or contest hold, one that fails ends the mandate.
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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base
from datahub_api.db import string_enum as _enum


class NameCheck(StrEnum):
    """The comparison of the signatory with the grid user on record."""

    pending = "pending"  # registered; the check has not run yet
    matched = "matched"  # the grid user on record (same name, or enterprise number) signed
    mismatched = "mismatched"  # not the grid user on record: an audit asks for the document
    not_applicable = "not_applicable"  # a customer signed: the grid user co-consents instead


class Hold(StrEnum):
    """Why a paper mandate gives no data (yet)."""

    check_pending = "check_pending"
    name_mismatch = "name_mismatch"
    contested = "contested"


class PaperMandate(Base):
    """The record of one signed paper mandate an ESP registered, next to its mandate."""

    __tablename__ = "paper_mandates"
    __table_args__ = (
        Index(
            "ix_paper_mandates_pending",
            "id",
            postgresql_where=text("name_check = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    mandate_id: Mapped[int] = mapped_column(
        ForeignKey("mandates.id", ondelete="CASCADE"), unique=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    ean: Mapped[str] = mapped_column(String(18), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    registered_by: Mapped[str] = mapped_column(String(200))  # the ESP's client or user
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signatory_name: Mapped[str] = mapped_column(String(200))
    signatory_enterprise_number: Mapped[str | None] = mapped_column(String(20))
    signed_by_grid_user: Mapped[bool] = mapped_column(Boolean)
    signed_on: Mapped[date] = mapped_column(Date)
    document_sha256: Mapped[str] = mapped_column(String(64))
    name_check: Mapped[NameCheck] = mapped_column(_enum(NameCheck, "paper_name_check"))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold: Mapped[Hold | None] = mapped_column(_enum(Hold, "paper_hold"))
    contested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contested_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    contest_reason: Mapped[str | None] = mapped_column(Text)


class PaperMandateAttempts(Base):
    """How many paper mandates an ESP tried to register on a Brussels day, accepted or
    refused (the bound ``DATAHUB_PAPER_MANDATES_PER_DAY``)."""

    __tablename__ = "paper_mandate_attempts"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
