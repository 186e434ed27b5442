"""SQL of the change feed. Which events a caller may see is decided in ``visible_to`` only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, func, select, text, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased

from datahub_api.auth.principal import Principal, Role
from datahub_api.db import ReadSession, WriteSession
from datahub_api.events.models import Event, EventFeedHead


def visible_to(principal: Principal) -> Select[Event]:
    """An ESP sees its own organisation's events; nobody else sees any."""
    query = select(Event)
    if principal.role is Role.esp and principal.organisation_id is not None:
        return query.where(Event.organisation_id == principal.organisation_id)
    return query.where(false())


async def next_position(session: WriteSession, organisation_id: int) -> int:
    """Take the organisation's next feed position, locking its feed head until the
    transaction ends.

    Why this makes the feed gap-free: a second transaction publishing for the same
    organisation waits here until the first one commits or rolls back, and only then gets
    the next number (or the same one, after a rollback). So positions are handed out in
    commit order, and a reader that sees position n also sees every position below it: a
    reader can never move past a position that commits later. Unlike cutting the feed at
    ``pg_snapshot_xmin(pg_current_snapshot())``, a long transaction elsewhere in the
    cluster never holds an organisation's feed back, and replicas give the same answer.
    The price: publishers of one organisation take turns, from their ``publish`` to their
    commit, so publish late in a transaction; a transaction publishing for several
    organisations should do so in ``organisation_id`` order (else two such transactions
    can deadlock, and PostgreSQL aborts one).
    """
    statement = (
        insert(EventFeedHead)
        .values(organisation_id=organisation_id, last_position=1)
        .on_conflict_do_update(
            index_elements=[EventFeedHead.organisation_id],
            set_={"last_position": EventFeedHead.last_position + 1},
        )
        .returning(EventFeedHead.last_position)
    )
    position = await session.scalar(statement)
    assert position is not None
    return int(position)


async def next_positions(session: WriteSession, counts: dict[int, int]) -> dict[int, int]:
    """Take ``counts[organisation_id]`` consecutive positions in each organisation's feed, in
    one statement; the first of each. The feed heads are locked in ``organisation_id`` order
    (see :func:`next_position` for why, and for what it costs) until the transaction ends."""
    if not counts:
        return {}
    organisations = sorted(counts)
    result = await session.execute(
        text(
            "INSERT INTO event_feed_heads (organisation_id, last_position) "
            "SELECT o, n FROM unnest(CAST(:organisations AS bigint[]), CAST(:counts AS bigint[])) "
            "AS t(o, n) ORDER BY o "
            "ON CONFLICT (organisation_id) DO UPDATE "
            "SET last_position = event_feed_heads.last_position + excluded.last_position "
            "RETURNING organisation_id, last_position"
        ),
        {"organisations": organisations, "counts": [counts[o] for o in organisations]},
    )
    return {
        row.organisation_id: row.last_position - counts[row.organisation_id] + 1 for row in result
    }


@dataclass(frozen=True)
class NewEvents:
    """Events as column arrays (the i-th entry of each is one event); payloads as JSON."""

    organisation_id: list[int]
    position: list[int]
    type: list[str]
    payload: list[str]


async def add_many(session: WriteSession, events: NewEvents) -> list[int]:
    """Insert events in one statement; their ids, in the order given."""
    if not events.organisation_id:
        return []
    result = await session.execute(
        text(
            "INSERT INTO events (organisation_id, position, type, payload) "
            "SELECT o, p, t, CAST(j AS jsonb) FROM unnest(CAST(:organisation_id AS bigint[]), "
            "CAST(:position AS bigint[]), CAST(:type AS varchar[]), CAST(:payload AS text[])) "
            "WITH ORDINALITY AS e(o, p, t, j, i) ORDER BY i RETURNING id, organisation_id, position"
        ),
        vars(events),
    )
    ids = {(row.organisation_id, row.position): row.id for row in result}
    return [ids[key] for key in zip(events.organisation_id, events.position, strict=True)]


async def add(
    session: WriteSession,
    *,
    organisation_id: int,
    position: int,
    event_type: str,
    payload: dict[str, Any],
) -> Event:
    event = Event(
        organisation_id=organisation_id, position=position, type=event_type, payload=payload
    )
    session.add(event)
    await session.flush()
    await session.refresh(event, ["occurred_at"])
    return event


async def feed(
    session: ReadSession,
    principal: Principal,
    *,
    after_position: int,
    types: Sequence[str] | None,
    limit: int,
) -> tuple[list[Event], int]:
    """Up to ``limit`` events after ``after_position`` (of ``types``, if given), and the
    highest position committed in the feed, read in the same statement (one snapshot), so
    a reader may skip ahead to it when the page is not full without missing anything."""
    head = (
        visible_to(principal)
        .with_only_columns(func.coalesce(func.max(Event.position), 0))
        .scalar_subquery()
    )
    query = (
        visible_to(principal)
        .where(Event.position > after_position)
        .order_by(Event.position)
        .limit(limit)
    )
    if types:
        query = query.where(Event.type.in_(list(types)))
    page = query.subquery()
    head_row = select(head.label("head")).subquery()
    rows = (
        await session.execute(
            select(head_row.c.head, aliased(Event, page))
            .select_from(head_row)
            .outerjoin(page, true())
            .order_by(page.c.position)
        )
    ).all()
    events = [row[1] for row in rows if row[1] is not None]
    return events, int(rows[0][0])


async def get_for_organisation(
    session: ReadSession, organisation_id: int, event_id: int
) -> Event | None:
    return await session.scalar(
        select(Event).where(Event.id == event_id, Event.organisation_id == organisation_id)
    )
