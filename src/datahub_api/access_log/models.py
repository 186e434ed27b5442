"""Who read whose metering data: one append-only record per successful read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class DataReadRecord(Base):
    __tablename__ = "data_read_records"
    __table_args__ = (Index("ix_data_read_records_ean_at", "ean", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    client: Mapped[str] = mapped_column(String(200))  # the client id or person who read
    ean: Mapped[str] = mapped_column(String(18))
    period_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    granularity: Mapped[str] = mapped_column(String(10))
    mandate_id: Mapped[int] = mapped_column(ForeignKey("mandates.id"))
    face: Mapped[str] = mapped_column(String(20))  # api-v1, v3, portal, export
    request_id: Mapped[str | None] = mapped_column(String(128))
