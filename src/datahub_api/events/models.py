"""Events of the change feed, and each organisation's feed head (its last position)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base


class Event(Base):
    """Append-only: one change an ESP organisation is told about.

    ``id`` is global and increases in allocation order; ``position`` is the event's place in
    its organisation's feed: 1, 2, 3, ... without gaps, in commit order (see
    :func:`datahub_api.events.repository.next_position`). The subject keys (``ean``,
    ``reference_number``, ``mandate_id``, ...) are in ``payload``.
    """

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("organisation_id", "position"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)


class EventFeedHead(Base):
    """The last position given out in an organisation's feed. Its row lock, held by a
    publishing transaction until it ends, is what orders the feed by commit."""

    __tablename__ = "event_feed_heads"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    last_position: Mapped[int] = mapped_column(BigInteger)
