"""The rules of an ESP's webhook endpoints: registering (SSRF-checked), changing, deleting
and rotating the secret (each recorded in the audit trail), and test messages.

Planning the deliveries of a published event is :mod:`.deliveries` (what the event log
calls). This module writes audit records, so the event log must not import it: audit and the
event log are independent (the import-linter contract ``independent-records``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from datahub_api.audit.service import record_action
from datahub_api.auth.principal import Principal
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import Conflict, UnprocessableContent
from datahub_api.settings import Settings
from datahub_api.webhooks import repository, signing
from datahub_api.webhooks.deliveries import enqueue_after_commit
from datahub_api.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from datahub_api.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from datahub_api.webhooks.targets import Resolver, TargetRefused, resolve_target, system_resolver

MAX_ENDPOINTS_PER_ORGANISATION = 20
TEST_EVENT_TYPE = "webhook.test"


async def get_endpoint(
    session: ReadSession, principal: Principal, endpoint_id: int, *, for_update: bool = False
) -> WebhookEndpoint | None:
    """The endpoint, if the principal may see it."""
    return await repository.get(session, principal, endpoint_id, for_update=for_update)


async def list_endpoints(
    session: ReadSession, principal: Principal, *, after_id: int | None, limit: int
) -> list[WebhookEndpoint]:
    return await repository.page(session, principal, after_id=after_id, limit=limit)


async def get_delivery(session: ReadSession, delivery_id: int) -> WebhookDelivery | None:
    return await repository.get_delivery(session, delivery_id)


async def list_deliveries(
    session: ReadSession,
    principal: Principal,
    endpoint_id: int,
    *,
    before_id: int | None,
    limit: int,
) -> list[WebhookDelivery]:
    """The endpoint's deliveries, newest first (none when the endpoint is not visible)."""
    return await repository.deliveries_page(
        session, principal, endpoint_id, before_id=before_id, limit=limit
    )


async def attempts_of(
    session: ReadSession, delivery_ids: Sequence[int]
) -> dict[int, list[WebhookDeliveryAttempt]]:
    """Each delivery's attempts, in order."""
    return await repository.attempts_of(session, delivery_ids)


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
    *,
    actor: Principal | str,
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
    endpoint = await repository.add(session, endpoint)
    record_action(session, actor=actor, action="webhook.register", target=str(endpoint.id))
    return endpoint


async def change(
    session: WriteSession,
    endpoint: WebhookEndpoint,
    body: WebhookEndpointUpdate,
    settings: Settings,
    *,
    actor: Principal | str,
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
    endpoint = await repository.save(session, endpoint)
    record_action(session, actor=actor, action="webhook.change", target=str(endpoint.id))
    return endpoint


async def delete(
    session: WriteSession, endpoint: WebhookEndpoint, *, actor: Principal | str
) -> None:
    """The endpoint goes, with its delivery log."""
    endpoint_id = endpoint.id
    await repository.remove(session, endpoint)
    record_action(session, actor=actor, action="webhook.delete", target=str(endpoint_id))


async def rotate_secret(
    session: WriteSession, endpoint: WebhookEndpoint, settings: Settings, *, actor: Principal | str
) -> WebhookEndpoint:
    """A new secret; the old one keeps signing (as a second signature) for the overlap."""
    now = await repository.database_now(session)
    overlap = timedelta(hours=settings.webhook_secret_overlap_hours)
    endpoint.previous_secret = endpoint.secret if overlap else None
    endpoint.previous_secret_expires_at = now + overlap if overlap else None
    endpoint.secret = signing.new_secret()
    endpoint = await repository.save(session, endpoint)
    record_action(session, actor=actor, action="webhook.rotate_secret", target=str(endpoint.id))
    return endpoint


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


# --- reads for the faces ----------------------------------------------------------------


async def delivery_log(
    session: ReadSession,
    principal: Principal,
    endpoint_id: int,
    *,
    before_id: int | None,
    limit: int,
) -> tuple[list[WebhookDelivery], dict[int, list[WebhookDeliveryAttempt]]]:
    """The endpoint's deliveries, newest first, with each one's attempts."""
    deliveries = await list_deliveries(
        session, principal, endpoint_id, before_id=before_id, limit=limit
    )
    attempts = await attempts_of(session, [d.id for d in deliveries])
    return deliveries, attempts
