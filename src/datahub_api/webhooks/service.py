"""The rules of webhooks: registering endpoints (SSRF-checked), planning deliveries in the
publishing transaction, test messages and secret rotation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from datahub_api.db import WriteSession, after_commit
from datahub_api.deps import started_jobs
from datahub_api.errors import Conflict, UnprocessableContent
from datahub_api.events.models import Event
from datahub_api.settings import Settings
from datahub_api.webhooks import repository, signing
from datahub_api.webhooks.models import WebhookEndpoint
from datahub_api.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from datahub_api.webhooks.targets import Resolver, TargetRefused, resolve_target, system_resolver
from datahub_api.webhooks.tasks import enqueue_deliveries

MAX_ENDPOINTS_PER_ORGANISATION = 20
TEST_EVENT_TYPE = "webhook.test"
_TO_ENQUEUE = "webhook_deliveries_to_enqueue"


def event_message_id(event_id: int) -> str:
    return f"evt_{event_id}"


async def check_target(url: str, settings: Settings, resolver: Resolver) -> None:
    try:
        await resolve_target(
            url, settings.webhook_allowed_hosts, resolver, settings.webhook_allowed_ports
        )
    except TargetRefused as exc:
        raise UnprocessableContent(f"url: {exc}") from None


async def register(
    session: WriteSession,
    organisation_id: int,
    body: WebhookEndpointCreate,
    settings: Settings,
    resolver: Resolver = system_resolver,
) -> WebhookEndpoint:
    await check_target(body.url, settings, resolver)
    if await repository.count_for_organisation(session, organisation_id) >= (
        MAX_ENDPOINTS_PER_ORGANISATION
    ):
        raise Conflict(f"An organisation has at most {MAX_ENDPOINTS_PER_ORGANISATION} endpoints.")
    endpoint = WebhookEndpoint(
        organisation_id=organisation_id,
        url=body.url,
        description=body.description,
        event_types=body.event_types,
        enabled=body.enabled,
        secret=signing.new_secret(),
    )
    return await repository.add(session, endpoint)


async def change(
    session: WriteSession,
    endpoint: WebhookEndpoint,
    body: WebhookEndpointUpdate,
    settings: Settings,
    resolver: Resolver = system_resolver,
) -> WebhookEndpoint:
    sent = body.model_fields_set
    if "url" in sent and body.url is not None and body.url != endpoint.url:
        await check_target(body.url, settings, resolver)
        endpoint.url = body.url
    if "event_types" in sent and body.event_types is not None:
        endpoint.event_types = body.event_types
    if "description" in sent:
        endpoint.description = body.description
    if "enabled" in sent and body.enabled is not None and body.enabled != endpoint.enabled:
        endpoint.enabled = body.enabled
        endpoint.disabled_reason = None
        if not body.enabled:
            await repository.cancel_pending(session, endpoint.id)
    return await repository.save(session, endpoint)


async def rotate_secret(
    session: WriteSession, endpoint: WebhookEndpoint, settings: Settings
) -> WebhookEndpoint:
    """A new secret; the old one keeps signing (as a second signature) for the overlap."""
    now = await repository.database_now(session)
    overlap = timedelta(hours=settings.webhook_secret_overlap_hours)
    endpoint.previous_secret = endpoint.secret if overlap else None
    endpoint.previous_secret_expires_at = now + overlap if overlap else None
    endpoint.secret = signing.new_secret()
    return await repository.save(session, endpoint)


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


async def send_test(session: WriteSession, endpoint: WebhookEndpoint) -> int:
    """Plan a test message to ``endpoint`` (enabled or not: the ESP is checking it)."""
    now = await repository.database_now(session)
    message_id = f"msg_test_{endpoint.id}_{int(now.timestamp() * 1000)}"
    payload: dict[str, Any] = {
        "endpoint_id": endpoint.id,
        "message": "A test message from the data hub. Check its signature.",
    }
    [delivery_id] = await repository.add_deliveries(
        session,
        [
            {
                "endpoint_id": endpoint.id,
                "event_id": None,
                "event_type": TEST_EVENT_TYPE,
                "message_id": message_id,
                "test_payload": payload,
            }
        ],
    )
    enqueue_after_commit(session, [delivery_id])
    return delivery_id


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
