"""SQL of webhooks. Which endpoints a caller may see is decided in ``visible_to`` only;
deliveries and attempts are reached through a visible endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, false, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from datahub_api.array_parameters import in_array
from datahub_api.auth.principal import Principal, Role
from datahub_api.db import ReadSession, WriteSession
from datahub_api.events.models import Event
from datahub_api.organisations.models import Organisation, OrganisationStatus
from datahub_api.webhooks.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)


def visible_to(principal: Principal) -> Select[WebhookEndpoint]:
    """An ESP sees its own organisation's endpoints; nobody else sees any."""
    query = select(WebhookEndpoint)
    if principal.role is Role.esp and principal.organisation_id is not None:
        return query.where(WebhookEndpoint.organisation_id == principal.organisation_id)
    return query.where(false())


async def get(
    session: ReadSession, principal: Principal, endpoint_id: int, *, for_update: bool = False
) -> WebhookEndpoint | None:
    query = visible_to(principal).where(WebhookEndpoint.id == endpoint_id)
    query = query.execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def page(
    session: ReadSession, principal: Principal, *, after_id: int | None, limit: int
) -> list[WebhookEndpoint]:
    query = visible_to(principal).order_by(WebhookEndpoint.id).limit(limit)
    if after_id is not None:
        query = query.where(WebhookEndpoint.id > after_id)
    return list((await session.scalars(query)).all())


async def count_for_organisation(session: ReadSession, organisation_id: int) -> int:
    found = await session.scalar(
        select(func.count()).where(WebhookEndpoint.organisation_id == organisation_id)
    )
    return int(found or 0)


async def add(session: WriteSession, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint, ["created_at", "updated_at", "enabled"])
    return endpoint


async def save(session: WriteSession, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.updated_at = await session.scalar(select(func.now())) or endpoint.updated_at
    await session.flush()
    return endpoint


async def remove(session: WriteSession, endpoint: WebhookEndpoint) -> None:
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


async def disable(session: WriteSession, endpoint_id: int, reason: str) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason, updated_at=func.now())
    )


async def cancel_pending(session: WriteSession, endpoint_id: int) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .values(status=DeliveryStatus.cancelled, next_attempt_at=None, finished_at=func.now())
    )


# --- deliveries ------------------------------------------------------------------------


async def subscribed_endpoint_ids(
    session: WriteSession, organisation_id: int, event_type: str
) -> list[int]:
    """Enabled endpoints of the organisation that take ``event_type`` (none chosen = all)."""
    query = (
        select(WebhookEndpoint.id)
        .where(
            WebhookEndpoint.organisation_id == organisation_id,
            WebhookEndpoint.enabled.is_(True),
            or_(
                func.cardinality(WebhookEndpoint.event_types) == 0,
                WebhookEndpoint.event_types.contains([event_type]),
            ),
        )
        .order_by(WebhookEndpoint.id)
    )
    return list((await session.scalars(query)).all())


async def add_deliveries(session: WriteSession, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert pending deliveries, due now; their ids."""
    if not rows:
        return []
    statement = (
        insert(WebhookDelivery)
        .values(
            [
                {"status": DeliveryStatus.pending, "next_attempt_at": func.now(), **row}
                for row in rows
            ]
        )
        .returning(WebhookDelivery.id)
    )
    return list((await session.scalars(statement)).all())


async def add_event_deliveries(
    session: WriteSession,
    event_ids: Sequence[int],
    organisation_ids: Sequence[int],
    event_types: Sequence[str],
    message_ids: Sequence[str],
) -> list[int]:
    """A pending delivery, due now, of each event to every enabled endpoint of its
    organisation that takes its type (none chosen = all), in one statement; their ids."""
    if not event_ids:
        return []
    result = await session.scalars(
        text(
            "INSERT INTO webhook_deliveries "
            "(endpoint_id, event_id, event_type, message_id, status, next_attempt_at) "
            "SELECT w.id, e.event_id, e.event_type, e.message_id, :status, now() "
            "FROM unnest(CAST(:event_ids AS bigint[]), CAST(:organisation_ids AS bigint[]), "
            "CAST(:event_types AS varchar[]), CAST(:message_ids AS varchar[])) "
            "AS e(event_id, organisation_id, event_type, message_id) "
            "JOIN webhook_endpoints w ON w.organisation_id = e.organisation_id AND w.enabled "
            "AND (cardinality(w.event_types) = 0 OR e.event_type = ANY(w.event_types)) "
            "ORDER BY e.event_id, w.id RETURNING id"
        ),
        {
            "status": DeliveryStatus.pending.value,
            "event_ids": list(event_ids),
            "organisation_ids": list(organisation_ids),
            "event_types": list(event_types),
            "message_ids": list(message_ids),
        },
    )
    return list(result)


async def delivery_for_attempt(
    session: ReadSession, delivery_id: int
) -> tuple[WebhookDelivery, WebhookEndpoint, Event | None] | None:
    query = (
        select(WebhookDelivery, WebhookEndpoint, Event)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .outerjoin(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1], row[2]) if row else None


async def finish_attempt(
    session: WriteSession,
    delivery_id: int,
    *,
    attempts_before: int,
    status: DeliveryStatus,
    next_attempt_at: datetime | None,
) -> bool:
    """Move the delivery on from the attempt that followed ``attempts_before``; False when
    another job got there first (nothing is changed then)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.attempts == attempts_before,
        )
        .values(
            attempts=attempts_before + 1,
            status=status,
            next_attempt_at=next_attempt_at,
            finished_at=None if status is DeliveryStatus.pending else func.now(),
        )
        .returning(WebhookDelivery.id)
    )
    return result.first() is not None


async def organisation_is_active(session: ReadSession, organisation_id: int) -> bool:
    status = await session.scalar(
        select(Organisation.status).where(Organisation.id == organisation_id)
    )
    return status is OrganisationStatus.active


async def postpone_delivery(
    session: WriteSession, delivery_id: int, *, attempts_before: int, until: datetime
) -> None:
    """Move a pending delivery's next attempt to ``until`` without making one."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.attempts == attempts_before,
        )
        .values(next_attempt_at=until)
    )


async def cancel_delivery(session: WriteSession, delivery_id: int) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.pending)
        .values(status=DeliveryStatus.cancelled, next_attempt_at=None, finished_at=func.now())
    )


def add_attempt(session: WriteSession, attempt: WebhookDeliveryAttempt) -> None:
    session.add(attempt)


async def overdue_delivery_ids(session: ReadSession, before: datetime, limit: int) -> list[int]:
    query = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= before,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def get_delivery(session: ReadSession, delivery_id: int) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id, populate_existing=True)


# --- the delivery log -----------------------------------------------------------------


async def deliveries_page(
    session: ReadSession,
    principal: Principal,
    endpoint_id: int,
    *,
    before_id: int | None,
    limit: int,
) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first (none when the endpoint is not visible)."""
    visible = visible_to(principal).where(WebhookEndpoint.id == endpoint_id)
    query = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.endpoint_id.in_(visible.with_only_columns(WebhookEndpoint.id)),
        )
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return list((await session.scalars(query)).all())


async def attempts_of(
    session: ReadSession, delivery_ids: Sequence[int]
) -> dict[int, list[WebhookDeliveryAttempt]]:
    attempts: dict[int, list[WebhookDeliveryAttempt]] = {id_: [] for id_ in delivery_ids}
    if not delivery_ids:
        return attempts
    query = (
        select(WebhookDeliveryAttempt)
        .where(in_array(WebhookDeliveryAttempt.delivery_id, delivery_ids))
        .order_by(WebhookDeliveryAttempt.delivery_id, WebhookDeliveryAttempt.attempt)
    )
    for attempt in (await session.scalars(query)).all():
        attempts[attempt.delivery_id].append(attempt)
    return attempts


async def database_now(session: ReadSession) -> datetime:
    now: datetime | None = await session.scalar(select(func.now()))
    assert now is not None
    return now
