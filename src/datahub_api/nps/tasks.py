"""The NPS jobs, daily (cron times are UTC):

* ``nps.audits`` (03:10): audits past their deadline without a document fail (the mandate
  ends as ``audit_failed``); then, once a quarter per ESP, the sample of signed mandates to
  audit is drawn (``DATAHUB_NPS_AUDIT_SAMPLE_SHARE``). Both are idempotent, so a missed or
  repeated run does no harm.
* ``nps.daily_files`` (04:30, after midnight Brussels time in every season): yesterday's
  file for every ESP with an NPS list, cut :data:`SETTLE` before now so that an ingest
  transaction still running is picked up by the next file, never passed over.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from datahub_api.brussels_days import today_in_brussels
from datahub_api.nps import service

if TYPE_CHECKING:
    from datahub_api.jobs import JobQueue

AUDITS = "nps.audits"
DAILY_FILES = "nps.daily_files"
SETTLE = timedelta(minutes=15)  # longer than the longest ingest transaction


async def run_audits(queue: JobQueue) -> tuple[int, int]:
    from datahub_api.jobs import commit

    settings = queue.settings
    rules = service.AuditRules(
        days=settings.nps_audit_days, evidence_max_bytes=settings.nps_evidence_max_bytes
    )
    now = queue.clock()
    async with queue.database.write_sessions() as session:
        ended = await service.end_overdue_audits(session, now)
        await commit(session, queue)
    async with queue.database.write_sessions() as session:
        opened = await service.sample_audits(
            session, share=settings.nps_audit_sample_share, rules=rules, now=now
        )
        await commit(session, queue)
    return ended, opened


async def run_daily_files(queue: JobQueue) -> int:
    from datahub_api.jobs import commit

    now = queue.clock()
    async with queue.database.write_sessions() as session:
        made = await service.make_daily_files(
            session, day=today_in_brussels(now) - timedelta(days=1), until=now - SETTLE, now=now
        )
        await commit(session, queue)
    return len(made)


def register_tasks(queue: JobQueue) -> None:
    app = queue.app

    @app.periodic(cron="10 3 * * *", periodic_id=AUDITS)
    @app.task(name=AUDITS, queueing_lock=AUDITS, lock=AUDITS)
    async def audits_task(timestamp: int) -> None:
        await run_audits(queue)

    @app.periodic(cron="30 4 * * *", periodic_id=DAILY_FILES)
    @app.task(name=DAILY_FILES, queueing_lock=DAILY_FILES, lock=DAILY_FILES)
    async def daily_files_task(timestamp: int) -> None:
        await run_daily_files(queue)
