"""The webhook jobs: one attempt of one delivery, and the sweeper.

At-least-once delivery, step by step:

1. ``publish`` plans a pending delivery per subscribed endpoint *in the publishing
   transaction* (the deliveries table is the outbox). Procrastinate cannot defer on the
   SQLAlchemy/asyncpg connection, so the job is queued right after the commit.
2. ``webhooks.deliver`` makes the attempt if it is due, logs it, and on failure queues its
   own successor at the next retry time (``schedule_at``).
3. If a process dies between a commit and its defer, the delivery stays pending with an
   overdue ``next_attempt_at``; ``webhooks.sweep`` (every minute) queues a job for every
   delivery overdue by more than ``webhook_sweep_grace_seconds``.

Every job of a delivery carries ``lock`` and ``queueing_lock`` = ``webhook-delivery:<id>``:
attempts of one delivery never run at the same time, and at most one job per delivery
waits in the queue. A duplicate or early job finds the delivery not due (or already moved
on: the attempt is recorded only if ``attempts`` is unchanged) and does nothing but make
sure a job waits for the next attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from datahub_api.jobs import JobQueue
from datahub_api.webhooks import delivery, repository
from datahub_api.webhooks.targets import Resolver, system_resolver

DELIVER = "webhooks.deliver"
SWEEP = "webhooks.sweep"
SWEEP_BATCH = 1000


def delivery_lock(delivery_id: int) -> str:
    return f"webhook-delivery:{delivery_id}"


async def enqueue_delivery(
    queue: JobQueue, delivery_id: int, at: datetime | None = None
) -> int | None:
    lock = delivery_lock(delivery_id)
    return await queue.defer(
        DELIVER, schedule_at=at, lock=lock, queueing_lock=lock, delivery_id=delivery_id
    )


async def enqueue_deliveries(queue: JobQueue, delivery_ids: Iterable[int]) -> None:
    for delivery_id in delivery_ids:
        try:
            await enqueue_delivery(queue, delivery_id)
        except Exception:  # the sweeper queues it later; the change is committed already
            delivery.logger.exception("could not queue webhook delivery %s", delivery_id)


def delivery_rules(queue: JobQueue, resolver: Resolver = system_resolver) -> delivery.DeliveryRules:
    settings = queue.settings
    return delivery.DeliveryRules(
        timeout_seconds=settings.webhook_timeout_seconds,
        allowed_hosts=tuple(settings.webhook_allowed_hosts),
        retry_schedule_seconds=tuple(settings.webhook_retry_schedule_seconds),
        resolver=resolver,
        allowed_ports=tuple(settings.webhook_allowed_ports),
    )


async def deliver(queue: JobQueue, delivery_id: int) -> None:
    step = await delivery.attempt(queue.database, delivery_id, delivery_rules(queue), queue.clock())
    if step.retry_at is not None:
        await enqueue_delivery(queue, delivery_id, step.retry_at)


async def sweep_overdue_deliveries(queue: JobQueue) -> int:
    """Queue a job for every pending delivery overdue by more than the grace period."""
    before = queue.clock() - timedelta(seconds=queue.settings.webhook_sweep_grace_seconds)
    async with queue.database.read_sessions() as session:
        overdue = await repository.overdue_delivery_ids(session, before, SWEEP_BATCH)
    queued = 0
    for delivery_id in overdue:
        if await enqueue_delivery(queue, delivery_id) is not None:
            queued += 1
    return queued


def register_tasks(queue: JobQueue) -> None:
    app = queue.app

    @app.task(name=DELIVER, queue="webhooks")
    async def deliver_task(delivery_id: int) -> None:
        await deliver(queue, delivery_id)

    @app.periodic(cron="* * * * *", periodic_id=SWEEP)
    @app.task(name=SWEEP, queue="webhooks", queueing_lock=SWEEP)
    async def sweep_task(timestamp: int) -> None:
        await sweep_overdue_deliveries(queue)
