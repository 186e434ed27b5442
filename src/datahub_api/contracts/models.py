"""Data-access contracts (datatoegangscontracten) and their status history."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, Enum, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datahub_api.db import Base


class Channel(StrEnum):
    """The four channels of the service description."""

    portal = "portal"  # "deze website"
    api = "api"  # "via API"
    nps = "nps"  # Netuser Paid Services
    annual_history = "annual_history"  # yearly one-off history


class ContractStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"  # the ESP took back its pending application
    suspended = "suspended"
    terminated = "terminated"


# Statuses in which a contract still covers its channels (a new application for them is 409).
COVERING_STATUSES = frozenset(
    {ContractStatus.requested, ContractStatus.approved, ContractStatus.suspended}
)


class DataAccessContract(Base):
    __tablename__ = "data_access_contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Ten digits: Fluvius's `dataAccessContractNumber`.
    number: Mapped[str] = mapped_column(String(10), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    status: Mapped[ContractStatus] = mapped_column(
        Enum(ContractStatus, name="contract_status", native_enum=False, length=20)
    )
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    history: Mapped[list[ContractStatusChange]] = relationship(
        lazy="raise", order_by="ContractStatusChange.id"
    )


class ContractStatusChange(Base):
    """Who moved a contract to which status, when and why."""

    __tablename__ = "contract_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("data_access_contracts.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
