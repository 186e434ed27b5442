"""The outbox of mails (one row per mail to send) and each addressee's mail preferences.

``outbox_messages`` was the list of letters the mandate domains wrote for a "mail or print
service" to pick up; the mail domain is that service now. A row names its addressee (a
person's account, or an ESP organisation, whose contact address receives it), its kind and
the facts the text needs (``payload``); :mod:`datahub_api.mail.service` renders it in the
addressee's language when it is sent, and records the attempt here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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


class OutboxStatus(StrEnum):
    pending = "pending"  # to send (again at next_attempt_at, after a failed attempt)
    sent = "sent"  # handed to the SMTP server, or written as an .eml file
    failed = "failed"  # refused for good, or every retry used
    skipped = "skipped"  # not sent: no address, or the addressee unsubscribed from its kind


class Language(StrEnum):
    nl = "nl"
    fr = "fr"
    en = "en"
    de = "de"


class OutboxMessage(Base):
    """A mail to send (the co-consent request to a grid user, a history export ready, ...):
    to an account or to an organisation, exactly one of the two."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("num_nonnulls(account_id, organisation_id) = 1", name="one_addressee"),
        Index(
            "ix_outbox_messages_pending",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status", 10),
        default=OutboxStatus.pending,
        server_default=OutboxStatus.pending.value,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the next attempt is due (None: at once); set after a failed attempt.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Fixed before the first attempt, so every retry of a message carries the same
    # Message-ID (a receiver that got it twice, after a crash between sending and
    # recording, can tell).
    message_id: Mapped[str | None] = mapped_column(String(250), unique=True)
    language: Mapped[str | None] = mapped_column(String(2))
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(300))
    eml_file: Mapped[str | None] = mapped_column(String(200))  # without SMTP: the file made
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MailPreference(Base):
    """An addressee's mail language and whether they take the informational mails (the
    unsubscribe link's token switches those off without logging in)."""

    __tablename__ = "mail_preferences"
    __table_args__ = (
        CheckConstraint("num_nonnulls(account_id, organisation_id) = 1", name="one_addressee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True
    )
    language: Mapped[str | None] = mapped_column(String(2))
    informational: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
