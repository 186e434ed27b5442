"""Every ten minutes, delete the PostgreSQL throttle counters that have expired: the table
holds only the live windows and blocks."""

from __future__ import annotations

from datahub_api.jobs import JobQueue
from datahub_api.throttles.storage import sweep_expired

SWEEP = "throttles.sweep"


def register_tasks(queue: JobQueue) -> None:
    @queue.app.periodic(cron="*/10 * * * *", periodic_id=SWEEP)
    @queue.app.task(name=SWEEP, queueing_lock=SWEEP, lock=SWEEP)
    async def sweep_task(timestamp: int) -> None:
        await sweep_expired(queue.database)
