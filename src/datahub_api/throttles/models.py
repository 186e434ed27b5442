"""The counters of the throttles when no Redis is configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class ThrottleCounter(Base):
    """One counter (a rate-limit window, a count of failures, a backoff block) that every
    process of every node shares. A row past ``expires_at`` counts as absent; the sweeper
    deletes such rows. The table is unlogged (migration 0024): no WAL per request, and
    emptied by a crash, which only starts every window afresh."""

    __tablename__ = "throttle_counters"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
