"""The SLA roll-up job: every five minutes, roll up the days ingest touched (and the new
day after midnight), then publish ``sla.breached`` events. Safe to run twice; one at a
time (queueing lock and lock)."""

from __future__ import annotations

from datahub_api.jobs import JobQueue, commit
from datahub_api.sla import service

ROLL_UP = "sla.roll_up"


async def roll_up(queue: JobQueue) -> None:
    async with queue.database.write_sessions() as session:
        await service.roll_up(session, queue.settings, queue.clock())
        await commit(session, queue)


def register_tasks(queue: JobQueue) -> None:
    @queue.app.periodic(cron="*/5 * * * *", periodic_id=ROLL_UP)
    @queue.app.task(name=ROLL_UP, queueing_lock=ROLL_UP, lock=ROLL_UP)
    async def roll_up_task(timestamp: int) -> None:
        await roll_up(queue)
