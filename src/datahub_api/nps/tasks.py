"""The NPS jobs (cron times are UTC):

* ``nps.paper_mandate_checks``: the check of newly registered paper mandates (NPS signed
  evidence, history export EANs) against the registry, queued when a registration commits
  (at most one waits: ``queueing_lock``) and run every minute as a backstop for a process
  that died between commit and queueing. Each mismatch opens its audit in the check's
  transaction. Safe twice: a checked mandate is not waiting any more.

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

from datahub_api.brussels_days import today_in_brussels
from datahub_api.jobs import JobQueue, commit
from datahub_api.nps.service import audits, daily_files
from datahub_api.paper_mandates import service as paper_service

AUDITS = "nps.audits"
PAPER_CHECKS = paper_service.CHECK_TASK
CHECK_BATCH = 500
DAILY_FILES = "nps.daily_files"
SETTLE = timedelta(minutes=15)  # longer than the longest ingest transaction


def audit_rules(queue: JobQueue) -> audits.AuditRules:
    return audits.AuditRules(
        days=queue.settings.nps_audit_days,
        evidence_max_bytes=queue.settings.nps_evidence_max_bytes,
    )


async def run_paper_checks(queue: JobQueue) -> int:
    """Check every paper mandate waiting for it, a batch per transaction."""
    checked = 0
    while True:
        async with queue.database.write_sessions() as session:
            done = await audits.check_paper_mandates(
                session, audit_rules(queue), now=queue.clock(), limit=CHECK_BATCH
            )
            await commit(session, queue)
        checked += done
        if done < CHECK_BATCH:
            return checked


async def run_audits(queue: JobQueue) -> tuple[int, int]:
    settings = queue.settings
    rules = audit_rules(queue)
    now = queue.clock()
    async with queue.database.write_sessions() as session:
        ended = await audits.end_overdue_audits(session, now)
        await commit(session, queue)
    async with queue.database.write_sessions() as session:
        opened = await audits.sample_audits(
            session, share=settings.nps_audit_sample_share, rules=rules, now=now
        )
        await commit(session, queue)
    return ended, opened


async def run_daily_files(queue: JobQueue) -> int:
    now = queue.clock()
    async with queue.database.write_sessions() as session:
        made = await daily_files.make_daily_files(
            session, day=today_in_brussels(now) - timedelta(days=1), until=now - SETTLE, now=now
        )
        await commit(session, queue)
    return len(made)


def register_tasks(queue: JobQueue) -> None:
    app = queue.app

    @app.periodic(cron="* * * * *", periodic_id=PAPER_CHECKS)
    @app.task(name=PAPER_CHECKS, queueing_lock=PAPER_CHECKS, lock=PAPER_CHECKS)
    async def paper_checks_task(timestamp: int | None = None) -> None:
        await run_paper_checks(queue)

    @app.periodic(cron="10 3 * * *", periodic_id=AUDITS)
    @app.task(name=AUDITS, queueing_lock=AUDITS, lock=AUDITS)
    async def audits_task(timestamp: int) -> None:
        await run_audits(queue)

    @app.periodic(cron="30 4 * * *", periodic_id=DAILY_FILES)
    @app.task(name=DAILY_FILES, queueing_lock=DAILY_FILES, lock=DAILY_FILES)
    async def daily_files_task(timestamp: int) -> None:
        await run_daily_files(queue)
