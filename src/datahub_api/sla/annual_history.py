"""The yearly-history line of the SLA: its unit is an export **request**, not an EAN-day.

A request made on Brussels day D is due at the agreed deadline an operator set for it (with
its reason), else at the request + the channel's target (10 days). Delivered (first
``ready``) by then: on time; after: late; not delivered and past due: missing; else pending.
The delay is the time from the request to the delivery, in whole hours rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime

from datahub_api.brussels_days import brussels_date
from datahub_api.history_exports.service.requests import Delivery
from datahub_api.sla.figures import Figures
from datahub_api.sla.repository import LateItem


def delay_hours(delivery: Delivery) -> int | None:
    if delivery.delivered_at is None:
        return None
    return math.ceil((delivery.delivered_at - delivery.requested_at).total_seconds() / 3600)


def add_to(figures: Figures, delivery: Delivery, now: datetime) -> None:
    """Count one request into the figures."""
    figures.expected += 1
    hours = delay_hours(delivery)
    if delivery.delivered_at is not None and hours is not None:
        if delivery.delivered_at <= delivery.due_at:
            figures.on_time += 1
        else:
            figures.late += 1
        figures.delays[hours] = figures.delays.get(hours, 0) + 1
    elif now > delivery.due_at:
        figures.missing += 1
    else:
        figures.pending += 1


def day_of(delivery: Delivery) -> date:
    return brussels_date(delivery.requested_at)


def late_items(deliveries: Sequence[Delivery], now: datetime) -> list[LateItem]:
    """Requests delivered late or not delivered past their deadline (``ean`` holds the
    request id as ``history-export-<id>``)."""
    items = []
    for delivery in deliveries:
        late = (
            delivery.delivered_at > delivery.due_at
            if delivery.delivered_at is not None
            else now > delivery.due_at
        )
        if late:
            end = delivery.delivered_at or now
            items.append(
                LateItem(
                    ean=f"history-export-{delivery.export_id}",
                    day=day_of(delivery),
                    delivered_at=delivery.delivered_at,
                    delay_hours=math.ceil((end - delivery.requested_at).total_seconds() / 3600),
                )
            )
    return items
