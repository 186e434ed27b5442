"""Webhook endpoints, the deliveries planned for them, and every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class WebhookEndpoint(Base):
    """A URL of an ESP that receives the event types it chose (all, when none chosen)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # Why the DSO disabled it ("gone": the endpoint answered 410); None when the ESP did.
    disabled_reason: Mapped[str | None] = mapped_column(String(100))
    # "whsec_" + base64 of 32 random bytes. Kept in clear: we must sign with it.
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt
    succeeded = "succeeded"  # the endpoint answered 2xx
    failed = "failed"  # given up: retries exhausted, or 410 Gone
    cancelled = "cancelled"  # the endpoint was disabled before it succeeded


class WebhookDelivery(Base):
    """One message to one endpoint: an event, or a test message. Planned in the publishing
    transaction (the outbox); its attempts are made by jobs."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        Index(
            "ix_webhook_deliveries_pending_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    # The `webhook-id` header: the same for every attempt of this message.
    message_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    # The body of a test message (event deliveries build theirs from the event).
    test_payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, name="webhook_delivery_status", native_enum=False, length=20)
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDeliveryAttempt(Base):
    """The delivery log: one row per HTTP attempt, as the ESP reads it."""

    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # What happened next: "succeeded", "retry", "failed" (given up) or "disabled" (410).
    outcome: Mapped[str] = mapped_column(String(20))
