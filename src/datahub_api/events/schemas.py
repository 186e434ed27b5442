"""Bodies of the change-feed route."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class EventOut(BaseModel):
    id: int = Field(description="Unique across the service; deliveries use `evt_<id>`.")
    position: int = Field(description="Place in your organisation's feed: 1, 2, 3, ...")
    type: str
    occurred_at: datetime
    data: dict[str, Any] = Field(
        description="What changed, with its subject keys (`ean`, `reference_number`, "
        "`mandate_id`, ...)."
    )


class EventFeedPage(BaseModel):
    items: list[EventOut]
    next_cursor: str = Field(
        description="Pass as `after` to get what comes next; the same cursor comes back "
        "while nothing new happened."
    )
    has_more: bool = Field(description="More events are waiting right now.")
