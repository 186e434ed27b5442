"""Planning webhook deliveries in the publishing transaction: the outbox half of delivery,
which :mod:`datahub_api.events.service` calls for every published event. Jobs are queued
after the commit; the sender is :mod:`.tasks`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datahub_api.db import WriteSession, after_commit
from datahub_api.deps import started_jobs
from datahub_api.events.models import Event
from datahub_api.webhooks import repository
from datahub_api.webhooks.tasks import enqueue_deliveries

_TO_ENQUEUE = "webhook_deliveries_to_enqueue"


def event_message_id(event_id: int) -> str:
    return f"evt_{event_id}"


async def plan_deliveries(session: WriteSession, event: Event) -> list[int]:
    """The outbox half of delivery: a pending delivery per subscribed endpoint, in the
    publishing transaction. Jobs are queued after the commit (see :func:`enqueue_after_commit`)."""
    endpoint_ids = await repository.subscribed_endpoint_ids(
        session, event.organisation_id, event.type
    )
    delivery_ids = await repository.add_deliveries(
        session,
        [
            {
                "endpoint_id": endpoint_id,
                "event_id": event.id,
                "event_type": event.type,
                "message_id": event_message_id(event.id),
            }
            for endpoint_id in endpoint_ids
        ],
    )
    enqueue_after_commit(session, delivery_ids)
    return delivery_ids


async def plan_event_deliveries(
    session: WriteSession,
    event_ids: Sequence[int],
    organisation_ids: Sequence[int],
    event_types: Sequence[str],
) -> list[int]:
    """:func:`plan_deliveries` for many events at once (one statement)."""
    delivery_ids = await repository.add_event_deliveries(
        session,
        event_ids,
        organisation_ids,
        event_types,
        [event_message_id(event_id) for event_id in event_ids],
    )
    enqueue_after_commit(session, delivery_ids)
    return delivery_ids


def enqueue_after_commit(session: WriteSession, delivery_ids: Sequence[int]) -> None:
    """Queue a job per delivery once ``session`` has committed. If the process dies first,
    the sweeper queues them (the deliveries are committed, pending and overdue)."""
    if not delivery_ids:
        return
    pending: list[int] | None = session.info.get(_TO_ENQUEUE)
    if pending is None:
        pending = []
        session.info[_TO_ENQUEUE] = pending

        async def enqueue(app: Any) -> None:
            session.info.pop(_TO_ENQUEUE, None)
            queue = started_jobs(app)
            if queue is not None:
                await enqueue_deliveries(queue, list(pending))

        after_commit(session, enqueue)
    pending.extend(delivery_ids)
