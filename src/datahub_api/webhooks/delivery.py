"""One delivery attempt: build the message, sign it, POST it to the checked address, log it,
and decide what comes next (done, retry later, give up, or disable the endpoint on 410)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from datahub_api.db import Database
from datahub_api.events.models import Event
from datahub_api.webhooks import repository, signing
from datahub_api.webhooks.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from datahub_api.webhooks.targets import Resolver, TargetRefused, resolve_target

logger = logging.getLogger(__name__)

USER_AGENT = "datahub-api-webhooks/1"
MAX_ERROR_LENGTH = 500
# A job that finds its delivery due within this margin makes the attempt (clock skew).
DUE_MARGIN = timedelta(seconds=1)
# While the organisation is suspended (or closed) its deliveries wait, checked this often,
# without using up an attempt; they go out once it is resumed.
SUSPENDED_HOLD = timedelta(seconds=60)
# The one message a suspended organisation still receives: that it is suspended.
SENT_WHILE_SUSPENDED = frozenset({"organisation.suspended"})


@dataclass(frozen=True)
class DeliveryRules:
    timeout_seconds: float
    allowed_hosts: Sequence[str]
    retry_schedule_seconds: Sequence[float]
    resolver: Resolver
    allowed_ports: Sequence[int] = ()


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass(frozen=True)
class NextStep:
    """What the job does after an attempt: nothing more, or another attempt at ``retry_at``."""

    retry_at: datetime | None


def message_body(delivery: WebhookDelivery, event: Event | None) -> bytes:
    """The JSON body, shaped as Standard Webhooks suggests (type, timestamp, data)."""
    content: dict[str, Any]
    if event is not None:
        content = {
            "type": event.type,
            "timestamp": event.occurred_at.isoformat(),
            "event_id": event.id,
            "position": event.position,
            "data": event.payload,
        }
    else:
        content = {
            "type": delivery.event_type,
            "timestamp": delivery.created_at.isoformat(),
            "data": delivery.test_payload or {},
        }
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


def retry_delay(schedule: Sequence[float], failed_attempts: int) -> timedelta | None:
    """The wait after the ``failed_attempts``-th failure, or None when it is time to give up."""
    if failed_attempts > len(schedule):
        return None
    return timedelta(seconds=schedule[failed_attempts - 1])


async def post(
    url: str, body: bytes, headers: dict[str, str], rules: DeliveryRules
) -> AttemptResult:
    """POST to ``url`` at the address that passed the SSRF check; never follows redirects."""
    started = time.monotonic()

    def result(status_code: int | None, error: str | None) -> AttemptResult:
        duration = int((time.monotonic() - started) * 1000)
        return AttemptResult(status_code, duration, error[:MAX_ERROR_LENGTH] if error else None)

    try:
        resolved = await resolve_target(
            url, rules.allowed_hosts, rules.resolver, rules.allowed_ports
        )
    except TargetRefused as exc:
        return result(None, f"refused target: {exc}")
    target = resolved.target
    pinned = httpx.URL(url).copy_with(host=str(resolved.address))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(rules.timeout_seconds, connect=min(5.0, rules.timeout_seconds))
    try:
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.post(
                pinned,
                content=body,
                headers={**headers, "host": target.host_header, "user-agent": USER_AGENT},
                extensions=extensions,
            )
    except httpx.TimeoutException:
        return result(None, f"timed out after {rules.timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return result(None, f"{exc.__class__.__name__}: {exc}" if str(exc) else repr(exc))
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        error = f"HTTP {response.status_code} (redirects are not followed)"
    return result(response.status_code, error)


async def attempt(
    database: Database, delivery_id: int, rules: DeliveryRules, now: datetime
) -> NextStep:
    """Make the next attempt of a delivery if it is due; what to do next."""
    async with database.read_sessions() as session:
        found = await repository.delivery_for_attempt(session, delivery_id)
    if found is None:
        return NextStep(None)  # the endpoint was deleted
    delivery, endpoint, event = found
    if delivery.status is not DeliveryStatus.pending:
        return NextStep(None)
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + DUE_MARGIN:
        return NextStep(delivery.next_attempt_at)  # an early or duplicate job
    if not endpoint.enabled and event is not None:
        async with database.write_sessions() as session:
            await repository.cancel_delivery(session, delivery_id)
            await session.commit()
        return NextStep(None)

    if event is not None and delivery.event_type not in SENT_WHILE_SUSPENDED:
        async with database.read_sessions() as session:
            active = await repository.organisation_is_active(session, endpoint.organisation_id)
        if not active:
            hold_until = now + SUSPENDED_HOLD
            async with database.write_sessions() as session:
                await repository.postpone_delivery(
                    session, delivery_id, attempts_before=delivery.attempts, until=hold_until
                )
                await session.commit()
            return NextStep(hold_until)

    body = message_body(delivery, event)
    timestamp = int(now.timestamp())
    headers = signing.headers(signing_secrets(endpoint, now), delivery.message_id, timestamp, body)
    outcome = await post(endpoint.url, body, headers, rules)

    number = delivery.attempts + 1
    retry_at: datetime | None = None
    if outcome.succeeded:
        status, label = DeliveryStatus.succeeded, "succeeded"
    elif outcome.gone:
        status, label = DeliveryStatus.failed, "disabled"
    else:
        delay = retry_delay(rules.retry_schedule_seconds, number)
        if delay is None:
            status, label = DeliveryStatus.failed, "failed"
        else:
            status, label = DeliveryStatus.pending, "retry"
            retry_at = now + delay
    async with database.write_sessions() as session:
        moved = await repository.finish_attempt(
            session,
            delivery_id,
            attempts_before=delivery.attempts,
            status=status,
            next_attempt_at=retry_at,
        )
        if not moved:
            await session.rollback()
            logger.info("webhook delivery %s: another job made this attempt", delivery_id)
            return NextStep(None)
        repository.add_attempt(
            session,
            WebhookDeliveryAttempt(
                delivery_id=delivery_id,
                attempt=number,
                attempted_at=now,
                status_code=outcome.status_code,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
                outcome=label,
            ),
        )
        if outcome.gone:
            await repository.disable(session, endpoint.id, "gone")
            await repository.cancel_pending(session, endpoint.id)
        await session.commit()
    logger.info(
        "webhook delivery %s attempt %s to endpoint %s: %s (%s)",
        delivery_id,
        number,
        endpoint.id,
        label,
        outcome.status_code or outcome.error,
    )
    return NextStep(retry_at)
