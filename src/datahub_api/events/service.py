"""Publishing events: domain services call :func:`publish` inside their own transaction."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from datahub_api.auth.principal import Principal
from datahub_api.db import ReadSession, WriteSession
from datahub_api.events import repository
from datahub_api.events.event_types import KNOWN_EVENT_TYPES
from datahub_api.events.models import Event
from datahub_api.webhooks import deliveries as webhook_deliveries

MAX_PAYLOAD_BYTES = 64 * 1024


# Called in the publishing transaction with every event :func:`publish` appends (not those
# of :func:`publish_many`): the mail domain mails an ESP some of its events.
EventListener = Callable[[WriteSession, Event], Awaitable[None]]
EVENT_LISTENERS: list[EventListener] = []


class UnknownEventType(ValueError):
    """A type no domain registered (see ``events/event_types.py``)."""


async def publish(
    session: WriteSession, organisation_id: int, type: str, payload: dict[str, Any]
) -> Event:
    """Append an event to ``organisation_id``'s feed and plan its webhook deliveries, in the
    caller's transaction: the event (and its deliveries) exist iff the change commits.

    Put the subject keys in ``payload`` (``ean``, ``reference_number``, ``mandate_id``...).
    Publishers of one organisation take turns from here to their commit (that is what makes
    the feed gap-free; see :func:`repository.next_position`), so call this late in the
    transaction. The webhook jobs are queued once the transaction has committed (and by the
    sweeper, if that never happens).
    """
    if type not in KNOWN_EVENT_TYPES:
        raise UnknownEventType(f"unknown event type {type!r}; register it in event_types.py")
    payload = to_jsonable_python(payload)  # instants as ISO 8601, decimals as strings...
    if len(json.dumps(payload)) > MAX_PAYLOAD_BYTES:
        raise ValueError("event payloads are small: the subject keys and what changed")
    position = await repository.next_position(session, organisation_id)
    event = await repository.add(
        session,
        organisation_id=organisation_id,
        position=position,
        event_type=type,
        payload=payload,
    )
    await webhook_deliveries.plan_deliveries(session, event)
    for listener in EVENT_LISTENERS:
        await listener(session, event)
    return event


@dataclass(frozen=True)
class EventToPublish:
    organisation_id: int
    type: str
    payload: dict[str, Any]


async def publish_many(session: WriteSession, events: Sequence[EventToPublish]) -> list[int]:
    """:func:`publish` for many events (of one or several organisations) in a few
    statements, whatever their number: what a domain uses that tells many ESPs about many
    subjects in one transaction (an ingest batch). Each organisation's events get
    consecutive positions in the order given; the feed heads are locked in
    ``organisation_id`` order. The events' ids, in the order given."""
    if not events:
        return []
    payloads = []
    for event in events:
        if event.type not in KNOWN_EVENT_TYPES:
            raise UnknownEventType(
                f"unknown event type {event.type!r}; register it in event_types.py"
            )
        payload = json.dumps(to_jsonable_python(event.payload))
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError("event payloads are small: the subject keys and what changed")
        payloads.append(payload)
    counts = Counter(event.organisation_id for event in events)
    next_position = await repository.next_positions(session, dict(counts))
    positions = []
    for event in events:
        positions.append(next_position[event.organisation_id])
        next_position[event.organisation_id] += 1
    organisation_ids = [event.organisation_id for event in events]
    types = [event.type for event in events]
    event_ids = await repository.add_many(
        session, repository.NewEvents(organisation_ids, positions, types, payloads)
    )
    await webhook_deliveries.plan_event_deliveries(session, event_ids, organisation_ids, types)
    return event_ids


async def feed(
    session: ReadSession,
    principal: Principal,
    *,
    after_position: int,
    types: Sequence[str] | None,
    limit: int,
) -> tuple[list[Event], int]:
    """The principal's events after ``after_position``, and the feed head of the same
    snapshot (see :func:`repository.feed`)."""
    return await repository.feed(
        session, principal, after_position=after_position, types=types, limit=limit
    )
