"""Calorific values of gas (operator data): per zone and gas day, the kWh per m3 that
converts a gas meter's volume into energy, and whether it is predictive (``P``), definitive
(``D``) or a standard constant (``C``). A gas access point belongs to one zone
(``gas_zone_members``); one that is in none uses the zone ``default``."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base

DEFAULT_ZONE = "default"


class GasCalorificValue(Base):
    __tablename__ = "gas_calorific_values"
    __table_args__ = (
        CheckConstraint("factor IN ('P', 'D', 'C')", name="factor_code"),
        CheckConstraint("kwh_per_m3 > 0", name="positive"),
    )

    zone: Mapped[str] = mapped_column(String(40), primary_key=True)
    gas_day: Mapped[date] = mapped_column(Date, primary_key=True)  # 06:00 to 06:00 Brussels
    kwh_per_m3: Mapped[float] = mapped_column(Numeric(8, 5))
    factor: Mapped[str] = mapped_column(String(1))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GasZoneMember(Base):
    """The calorific zone of a gas access point (the gas receiving station feeding it)."""

    __tablename__ = "gas_zone_members"

    ean: Mapped[str] = mapped_column(String(18), primary_key=True)
    zone: Mapped[str] = mapped_column(String(40))
