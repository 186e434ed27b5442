"""ESP organisations (energiedienstverleners)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Enum, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class OrganisationStatus(StrEnum):
    pending = "pending"  # self-registered, waiting for an operator
    active = "active"
    suspended = "suspended"
    closed = "closed"


class Organisation(Base):
    """An energy service provider, identified by its Belgian enterprise number."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Canonical form: ten digits, no dots, no "BE" (see enterprise_number.canonical).
    enterprise_number: Mapped[str] = mapped_column(String(10), unique=True)
    contact_email: Mapped[str] = mapped_column(String(320))
    status: Mapped[OrganisationStatus] = mapped_column(
        Enum(OrganisationStatus, name="organisation_status", native_enum=False, length=20),
        default=OrganisationStatus.active,
    )
    # Return URLs of consent sessions must start with one of these (like Fluvius).
    return_url_prefixes: Mapped[list[str]] = mapped_column(
        ARRAY(String(500)), default=list, server_default="{}"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrganisationStatusChange(Base):
    """Who moved an organisation to which status, when and why (suspensions and resumptions
    by an operator)."""

    __tablename__ = "organisation_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
