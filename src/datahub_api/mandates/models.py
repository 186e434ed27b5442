"""Consent sessions, mandates (mandaten) and grid-user co-consent.

A mandate is per access point, per ESP, per data service and per reference number (the
ESP's), for a data period and a channel: consent to view in the portal is not consent for
the API. When the consenting customer is not the grid user of the EAN, the grid user must
co-consent before the mandate is approved.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base
from datahub_api.db import string_enum as _enum

# The outbox of letters and mails belongs to the mail domain now (kept importable here).
from datahub_api.mail.models import OutboxMessage as OutboxMessage


class MandateStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
    finished = "finished"


class RenewalStatus(StrEnum):
    to_be_renewed = "to_be_renewed"  # from three months before expiry
    renewal_requested = "renewal_requested"  # a new consent session for the EAN is open
    expired = "expired"


class DataServiceType(StrEnum):
    """Fluvius's data services: which granularity the ESP may read."""

    daily = "VH_dag"  # daily and coarser
    quarter_hourly = "VH_kwartier_uur"  # everything
    undetermined = "VH_onbepaald"
    installation = "IG"  # installation data only: no metering data


class MandateSource(StrEnum):
    consent = "consent"  # given by the customer in a consent session
    signed = "signed"  # a signed paper mandate the ESP keeps (NPS, yearly history)
    sandbox = "sandbox"  # made by POST /v3/api/mandate/mock in sandbox mode


class Flow(StrEnum):
    b2c = "B2C"
    b2b = "B2B"


class ConsentSessionStatus(StrEnum):
    open = "open"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"


class CoConsentStatus(StrEnum):
    open = "open"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"  # no answer in time: counts as a rejection


class ConsentSession(Base):
    """An ESP's request for consent, opened by the customer at ``/consent/{identifier}``."""

    __tablename__ = "consent_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    short_url_identifier: Mapped[str] = mapped_column(String(32), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("data_access_contracts.id", ondelete="RESTRICT")
    )
    channel: Mapped[str] = mapped_column(String(20))
    reference_number: Mapped[str] = mapped_column(String(100))
    flow: Mapped[Flow] = mapped_column(_enum(Flow, "consent_flow", 3))
    enterprise_number: Mapped[str | None] = mapped_column(String(10))
    number_of_eans: Mapped[int] = mapped_column(Integer)
    # [{"data_service_type", "data_period_from", "data_period_to"}] (instants as ISO strings)
    data_services: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    return_url_success: Mapped[str | None] = mapped_column(String(1000))
    return_url_failed: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[ConsentSessionStatus] = mapped_column(
        _enum(ConsentSessionStatus, "consent_session_status")
    )
    valid_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))


class Mandate(Base):
    __tablename__ = "mandates"
    __table_args__ = (
        # One live mandate per (ESP, EAN, data service, reference number).
        Index(
            "uq_mandates_live_key",
            "organisation_id",
            "ean",
            "data_service_type",
            "reference_number",
            unique=True,
            postgresql_where=text("status IN ('requested', 'approved')"),
        ),
        Index("ix_mandates_organisation_id_updated_at", "organisation_id", "updated_at"),
        Index("ix_mandates_ean_status", "ean", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT")
    )
    ean: Mapped[str] = mapped_column(String(18))
    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_points.id", ondelete="RESTRICT")
    )
    reference_number: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    energy_type: Mapped[str] = mapped_column(String(1))
    data_service_type: Mapped[DataServiceType] = mapped_column(
        _enum(DataServiceType, "data_service_type")
    )
    data_period_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data_period_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expiration_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[MandateStatus] = mapped_column(_enum(MandateStatus, "mandate_status"))
    renewal_status: Mapped[RenewalStatus | None] = mapped_column(
        _enum(RenewalStatus, "renewal_status")
    )
    source: Mapped[MandateSource] = mapped_column(_enum(MandateSource, "mandate_source"))
    consent_session_id: Mapped[int | None] = mapped_column(ForeignKey("consent_sessions.id"))
    given_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    grid_user_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    finished_reason: Mapped[str | None] = mapped_column(String(100))
    # The tenure of the customer who gave it and of the grid user who co-signed it, as the
    # registry says (see mandates/tenure.py): [tenure_from, tenure_to) in UTC instants of
    # Brussels midnights, None = unbounded. Data outside it is never released; tenure_to is
    # when the mandate ends (shown to the ESP as ``ends_at``); tenure_from is never shown.
    tenure_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tenure_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class MandateStatusChange(Base):
    __tablename__ = "mandate_status_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    mandate_id: Mapped[int] = mapped_column(
        ForeignKey("mandates.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    renewal_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CoConsentTask(Base):
    """The grid user's explicit consent, asked when the consenting customer is not them."""

    __tablename__ = "co_consent_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    mandate_id: Mapped[int] = mapped_column(
        ForeignKey("mandates.id", ondelete="CASCADE"), unique=True
    )
    grid_user_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[CoConsentStatus] = mapped_column(_enum(CoConsentStatus, "co_consent_status"))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OrganisationMandatesVersion(Base):
    """Bumped with every change to an organisation's mandates: the cheap 304 of polls."""

    __tablename__ = "organisation_mandate_versions"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
