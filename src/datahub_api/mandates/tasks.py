"""The mandates' daily job: expiry, renewal status, unanswered co-consents and stale
consent sessions (:func:`datahub_api.mandates.service.expire_and_renew`).

When: procrastinate reads cron expressions in UTC. ``5 23 * * *`` is 23:05 UTC, which is
00:05 in Brussels in winter (CET, UTC+1) and 01:05 in summer (CEST, UTC+2): always just
after midnight, on the new Brussels day. The job judges everything against the queue's
clock at the moment it runs (mandates whose expiry instant has passed, renewal windows,
co-consent deadlines), so a late run does the same work, only later.

Safe twice: the job carries ``queueing_lock`` (at most one waits in the queue) and ``lock``
(two never run at once), and a second run finds nothing left to do (finished mandates are
no longer live, a renewal status is set once, an expired co-consent is no longer open).
Procrastinate skips a tick no worker saw within ten minutes; the next day's run then
catches up on everything overdue.
"""

from __future__ import annotations

import logging

from datahub_api.jobs import JobQueue, commit
from datahub_api.mandates import service

logger = logging.getLogger(__name__)

DAILY = "mandates.daily"
DAILY_CRON = "5 23 * * *"  # 00:05 CET / 01:05 CEST


async def run_daily(queue: JobQueue) -> service.DailyRun:
    """One run of the daily job, committed, with its events' deliveries queued."""
    async with queue.database.write_sessions() as session:
        run = await service.expire_and_renew(session, queue.clock())
        await commit(session, queue)
    logger.info(
        "mandates daily run: %s expired, %s to be renewed, %s co-consent(s) unanswered, "
        "%s consent session(s) expired",
        run.expired,
        run.to_be_renewed,
        run.co_consents_expired,
        run.consent_sessions_expired,
    )
    return run


async def enqueue_daily(queue: JobQueue) -> int | None:
    """Queue a run now (operations, tests); ``None`` when one is waiting already."""
    return await queue.defer(DAILY, timestamp=int(queue.clock().timestamp()))


def register_tasks(queue: JobQueue) -> None:
    app = queue.app

    @app.periodic(cron=DAILY_CRON, periodic_id=DAILY)
    @app.task(name=DAILY, queueing_lock=DAILY, lock=DAILY)
    async def daily_task(timestamp: int) -> None:
        await run_daily(queue)
