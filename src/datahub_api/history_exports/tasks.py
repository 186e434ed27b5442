"""The history export jobs:

* ``history_exports.build`` (one per request, ``lock`` per request so two runs never
  overlap): writes the file; safe to run again (a run that died midway is started over by
  the stalled-job retry of :mod:`datahub_api.jobs`; one cancelled by a stopping worker
  queues itself again).
* ``history_exports.sweep`` (every 5 minutes): queues the build of requests still
  ``queued`` (the job is deferred after the request commits; if the process died in
  between, this finds it), of ``running`` ones silent for :data:`SILENT_RUN` (a worker
  stopped mid-job: the run starts over) and of ``ready`` ones whose file holds data of an
  EAN whose mandate reads no more (withdrawn until made again without it), and deletes the
  files past their retention.

An EAN left out because its paper mandate was held (under audit) is added when the audit
passes, and an EAN whose paper mandate is contested after the file was made is taken out:
the mandate's ``mandate.approved`` or ``mandate.requested`` (a listener of the mandates
domain, in the changing transaction) queues the export again, and its download answers that
the file is withdrawn until it is made again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from datahub_api.db import WriteSession, after_commit
from datahub_api.deps import started_jobs
from datahub_api.history_exports import repository
from datahub_api.history_exports.service import build, requests
from datahub_api.jobs import JobQueue, commit
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import Mandate

BUILD = "history_exports.build"
SWEEP = "history_exports.sweep"
WAIT_BEFORE_SWEEP = timedelta(minutes=2)
# A run writes an EAN's file between heartbeats; a run silent for this long is dead (its
# worker stopped mid-job, and procrastinate will not retry it) and is started over.
SILENT_RUN = timedelta(minutes=15)


def _lock(export_id: int) -> str:
    return f"history-export-{export_id}"


async def enqueue_build(queue: JobQueue, export_id: int) -> None:
    await queue.defer(
        BUILD, export_id=export_id, lock=_lock(export_id), queueing_lock=_lock(export_id)
    )


def build_after_commit(session: WriteSession, export_id: int) -> None:
    """Queue the build once the request's transaction has committed."""

    async def enqueue(app: Any) -> None:
        queue = started_jobs(app)
        if queue is not None:
            await enqueue_build(queue, export_id)

    after_commit(session, enqueue)


async def run_build(queue: JobQueue, export_id: int) -> None:
    async def on_commit(session: WriteSession) -> None:
        await commit(session, queue)

    try:
        await build.build(
            queue.database, queue.settings, export_id, on_commit=on_commit, clock=queue.clock
        )
    except asyncio.CancelledError:
        # The worker is stopping and its graceful timeout ran out: the export, still
        # `running`, is built again from the start by the next free worker at once, not
        # when the sweep finds it silent.
        await asyncio.shield(enqueue_build(queue, export_id))
        raise


async def run_sweep(queue: JobQueue) -> tuple[int, int]:
    now = queue.clock()
    async with queue.database.read_sessions() as session:
        waiting = await repository.waiting(session, now - WAIT_BEFORE_SWEEP, now - SILENT_RUN)
    async with queue.database.write_sessions() as session:
        withdrawn = await requests.remake_withdrawn(session, now)
        await session.commit()
    for export_id in [*waiting, *withdrawn]:
        await enqueue_build(queue, export_id)
    async with queue.database.write_sessions() as session:
        deleted = await build.delete_expired_files(session, queue.settings, now)
        await session.commit()
    return len(waiting) + len(withdrawn), deleted


REMAKE_ON = (mandates_service.MandateEvent.approved, mandates_service.MandateEvent.requested)


async def build_again_on_hold_change(session: WriteSession, mandate: Mandate, event: str) -> None:
    """A yearly-history paper mandate approved after its export left its EAN out (held), or
    held back (``requested`` again: contested) after its rows went into the file: make the
    export again, with or without the EAN, once this transaction commits."""
    if event not in REMAKE_ON or mandate.channel != requests.CHANNEL:
        return
    export_id = await build.queue_again_for(session, mandate.id)
    if export_id is not None:
        build_after_commit(session, export_id)


if build_again_on_hold_change not in mandates_service.MANDATE_EVENT_LISTENERS:
    mandates_service.MANDATE_EVENT_LISTENERS.append(build_again_on_hold_change)


def register_tasks(queue: JobQueue) -> None:
    app = queue.app

    @app.task(name=BUILD)
    async def build_task(export_id: int) -> None:
        await run_build(queue, export_id)

    @app.periodic(cron="*/5 * * * *", periodic_id=SWEEP)
    @app.task(name=SWEEP, queueing_lock=SWEEP, lock=SWEEP)
    async def sweep_task(timestamp: int) -> None:
        await run_sweep(queue)
