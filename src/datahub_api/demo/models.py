"""The record that a demo world was loaded into this database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class DemoWorld(Base):
    """One row per `seed-demo` run: with which parameters, and when."""

    __tablename__ = "demo_worlds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(Integer)
    access_point_count: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
