"""Access points (EANs) with their physical meters, sub-headpoints, communication periods and
parties (grid user, customers).

Validity periods are Europe/Brussels dates: ``valid_from`` inclusive, ``valid_to`` exclusive,
``NULL`` = open-ended. Rules that span rows (no two grid users at once, ...) are enforced by
the service while it holds a row lock on the access point.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datahub_api.db import Base
from datahub_api.db import string_enum as _enum


class EnergyType(StrEnum):
    electricity = "E"
    gas = "G"


class MeterType(StrEnum):
    digital = "DM"  # digital meter
    other = "KM"  # analogue, AMR or other meter


class Metering(StrEnum):
    """Where the installation is metered (Fluvius v3 headpoint ``$type``)."""

    on_meter = "metering-on-meter"
    on_headpoint = "metering-on-headpoint"
    on_headpoint_and_meter = "metering-on-headpoint-and-meter"


class SubHeadpointType(StrEnum):
    """What a sub-headpoint meters (Fluvius v3 sub-headpoint ``$type``)."""

    production = "submetering-production"
    offtake = "submetering-offtake"
    auxiliary = "submetering-auxiliary"


class PartyRole(StrEnum):
    grid_user = "grid_user"  # netgebruiker
    customer = "customer"  # may consent for the access point


_PERIOD_ORDER = "valid_to IS NULL OR valid_to > valid_from"


class AccessPoint(Base):
    """An access point (toegangspunt), identified by its EAN."""

    __tablename__ = "access_points"
    __table_args__ = (CheckConstraint("ean ~ '^[0-9]{18}$'", name="ean_digits"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ean: Mapped[str] = mapped_column(String(18), unique=True)
    energy_type: Mapped[EnergyType] = mapped_column(_enum(EnergyType, "energy_type", 1))
    meter_type: Mapped[MeterType] = mapped_column(_enum(MeterType, "meter_type", 2))
    metering: Mapped[Metering] = mapped_column(_enum(Metering, "metering", 40))
    gvm: Mapped[bool] = mapped_column(Boolean)  # large-consumption (GVM) installation
    # sha256 of the canonical stored content: a repeated identical upsert changes nothing.
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    physical_meters: Mapped[list[PhysicalMeter]] = relationship(
        lazy="raise",
        order_by="(PhysicalMeter.installed_from, PhysicalMeter.seq_number)",
        passive_deletes=True,
    )
    sub_headpoints: Mapped[list[SubHeadpoint]] = relationship(
        lazy="raise", order_by="SubHeadpoint.seq_number", passive_deletes=True
    )
    communication_periods: Mapped[list[CommunicationPeriod]] = relationship(
        lazy="raise", order_by="CommunicationPeriod.valid_from", passive_deletes=True
    )
    parties: Mapped[list[AccessPointParty]] = relationship(
        lazy="raise",
        order_by="(AccessPointParty.valid_from, AccessPointParty.account_id)",
        passive_deletes=True,
    )
    installation: Mapped[AccessPointInstallation | None] = relationship(
        lazy="raise", passive_deletes=True
    )


class PhysicalMeter(Base):
    """A meter installed at the access point for a period; a meter exchange closes one
    meter's period and opens another's (usually on the same ``seq_number``)."""

    __tablename__ = "physical_meters"
    __table_args__ = (
        CheckConstraint("installed_to IS NULL OR installed_to > installed_from", name="period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_points.id", ondelete="CASCADE"), index=True
    )
    seq_number: Mapped[str] = mapped_column(String(10))
    meter_id: Mapped[str] = mapped_column(String(50), index=True)
    installed_from: Mapped[date] = mapped_column(Date)
    installed_to: Mapped[date | None] = mapped_column(Date)


class SubHeadpoint(Base):
    """A submetering installation of a headpoint-metered access point (PV production, ...)."""

    __tablename__ = "sub_headpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_points.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[SubHeadpointType] = mapped_column(
        _enum(SubHeadpointType, "sub_headpoint_type", 30)
    )
    seq_number: Mapped[str] = mapped_column(String(10))
    ean: Mapped[str | None] = mapped_column(String(18))
    vreg_id: Mapped[str | None] = mapped_column(String(30))  # local production installation id
    installation_type: Mapped[str | None] = mapped_column(String(10))  # PV, WKKA, BAT, ...


class CommunicationPeriod(Base):
    """Days on which the access point's digital meter communicates (data and SLA count only
    these days)."""

    __tablename__ = "communication_periods"
    __table_args__ = (CheckConstraint(_PERIOD_ORDER, name="period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_points.id", ondelete="CASCADE"), index=True
    )
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class AccessPointParty(Base):
    """An account that is the grid user, or a customer, of the access point for a period."""

    __tablename__ = "access_point_parties"
    __table_args__ = (
        CheckConstraint(_PERIOD_ORDER, name="period"),
        Index("ix_access_point_parties_account_id_role", "account_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_points.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    role: Mapped[PartyRole] = mapped_column(_enum(PartyRole, "party_role", 20))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class AccessPointInstallation(Base):
    """The installation facts of an access point (data service ``IG``) as they are now:
    whether a dynamic contract is active (SMR3), its local production installations and the
    estimated annual volumes of its registers. No row: none were registered."""

    __tablename__ = "access_point_installations"

    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_points.id", ondelete="CASCADE"), primary_key=True
    )
    smr3: Mapped[bool] = mapped_column(Boolean)
    # sha256 of the canonical installation body: a repeated identical upload changes nothing.
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    local_production_installations: Mapped[list[LocalProductionInstallation]] = relationship(
        lazy="raise", order_by="LocalProductionInstallation.id", passive_deletes=True
    )
    estimated_annual_volumes: Mapped[list[EstimatedAnnualVolume]] = relationship(
        lazy="raise",
        order_by="(EstimatedAnnualVolume.calculated_register, EstimatedAnnualVolume.period_from)",
        passive_deletes=True,
    )


class LocalProductionInstallation(Base):
    """A local production installation behind the access point (solar panels, a battery, a
    CHP, ...), registered with the regulator (VREG) under ``vreg_id``."""

    __tablename__ = "local_production_installations"
    __table_args__ = (CheckConstraint("converter_power > 0", name="converter_power_positive"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_point_installations.access_point_id", ondelete="CASCADE"), index=True
    )
    vreg_id: Mapped[str | None] = mapped_column(String(30))
    type: Mapped[str] = mapped_column(String(10))  # PV, BAT, WKKA, ... (Fluvius's codes)
    converter_power: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    converter_power_unit: Mapped[str] = mapped_column(String(5))  # kVA or kW
    inspection_date: Mapped[date | None] = mapped_column(Date)


class EstimatedAnnualVolume(Base):
    """An estimated annual volume (EAV, jaarverbruik) of one register for a consumption
    period of Brussels dates [period_from, period_to)."""

    __tablename__ = "estimated_annual_volumes"
    __table_args__ = (
        CheckConstraint("period_to > period_from", name="period"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    access_point_id: Mapped[int] = mapped_column(
        ForeignKey("access_point_installations.access_point_id", ondelete="CASCADE"), index=True
    )
    calculated_register: Mapped[str] = mapped_column(String(40))
    value: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[str] = mapped_column(String(5))  # kWh or m3
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
