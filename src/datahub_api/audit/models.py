"""The security audit trail: every refusal and every operator action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class AuditRecord(Base):
    """Append-only. ``outcome`` is ``ok`` for actions and ``refused`` for refusals."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    actor: Mapped[str] = mapped_column(String(200))  # client id, user:<id>, cli:<user> or "-"
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    # Set on tallied refusals (failed logins and client authentications): one row per
    # caller, address and window, whose ``detail.count`` grows instead of a row per failure.
    tally_key: Mapped[str | None] = mapped_column(String(400), unique=True)
