"""The mail jobs, and the hooks that write mails when other domains announce things.

* ``mail.send`` (one per outbox message, ``lock`` and ``queueing_lock`` =
  ``mail:<id>``: attempts of one message never overlap, and at most one waits): one
  attempt (:func:`datahub_api.mail.service.attempt`); after a refusal it queues its own
  successor at the next retry time.
* ``mail.sweep`` (every minute): queues a job for every pending message overdue by more
  than :data:`SWEEP_GRACE` (its job was never queued: the process died between the commit
  and the defer, or the row was written by a command without a job queue).

**Noticing new mails.** Whatever adds an :class:`OutboxMessage` to a session (the mandate
domains have long written their letters there), the rows are seen at flush and their jobs
queued once the transaction commits (the session's after-commit hooks), so the places that
write mail need no job code.

**Hooks** (registered when this module is imported: every job queue does, so every service
and worker process has them, and the demo seeding imports it too):

* events (:data:`datahub_api.events.service.EVENT_LISTENERS`): ``history_export.ready`` and
  ``nps.audit_requested`` mail the ESP's contact address;
* mandate events (:data:`datahub_api.mandates.service.MANDATE_EVENT_LISTENERS`): a mandate
  entering its renewal window (``to_be_renewed``, three months before it expires) mails
  the customer who gave it;
* contract decisions are written by :mod:`datahub_api.contracts.service` itself (no event).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from datahub_api.db import WriteSession
from datahub_api.deps import started_jobs
from datahub_api.events import service as events_service
from datahub_api.events.event_types import HISTORY_EXPORT_READY, NPS_AUDIT_REQUESTED
from datahub_api.events.models import Event
from datahub_api.mail import repository, service
from datahub_api.mail.models import OutboxMessage
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import Mandate, RenewalStatus

if TYPE_CHECKING:
    from datahub_api.jobs import JobQueue

SEND = "mail.send"
SWEEP = "mail.sweep"
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_BATCH = 1000
NEW_MAIL_IDS = "mail_new_outbox_ids"


def send_lock(message_id: int) -> str:
    return f"mail:{message_id}"


async def enqueue_send(queue: JobQueue, message_id: int, at: datetime | None = None) -> int | None:
    lock = send_lock(message_id)
    return await queue.defer(
        SEND, schedule_at=at, lock=lock, queueing_lock=lock, message_id=message_id
    )


async def enqueue_sends(queue: JobQueue, message_ids: Iterable[int]) -> None:
    for message_id in message_ids:
        try:
            await enqueue_send(queue, message_id)
        except Exception:  # the sweeper queues it later; the change is committed already
            service.logger.exception("could not queue mail %s", message_id)


async def send(queue: JobQueue, message_id: int) -> None:
    outcome = await service.attempt(queue.database, queue.settings, message_id, queue.clock())
    if outcome.retry_at is not None:
        await enqueue_send(queue, message_id, outcome.retry_at)


async def sweep(queue: JobQueue) -> int:
    """Queue a job for every pending message overdue by more than the grace period."""
    async with queue.database.read_sessions() as session:
        overdue = await repository.overdue_ids(session, queue.clock() - SWEEP_GRACE, SWEEP_BATCH)
    queued = 0
    for message_id in overdue:
        if await enqueue_send(queue, message_id) is not None:
            queued += 1
    return queued


# --- noticing new outbox rows ------------------------------------------------------------


def _notice_new_mail(session: Session, flush_context: Any) -> None:
    """After a flush: remember the new outbox rows, and queue their jobs after commit."""
    new = [item.id for item in session.new if isinstance(item, OutboxMessage)]
    if not new:
        return
    pending: list[int] = session.info.setdefault(NEW_MAIL_IDS, [])
    if not pending:

        async def queue_sends(app: Any) -> None:
            ids, pending[:] = list(pending), []
            queue = started_jobs(app)
            if queue is not None:
                await enqueue_sends(queue, ids)

        # The hooks ``datahub_api.db.after_commit`` keeps (run by the request's session
        # dependency, ``commit_and_run_hooks`` and ``jobs.commit``).
        session.info.setdefault("after_commit", []).append(queue_sends)
    pending.extend(new)


if not event.contains(Session, "after_flush", _notice_new_mail):
    event.listen(Session, "after_flush", _notice_new_mail)


# --- what other domains announce -----------------------------------------------------------


async def mail_on_event(session: WriteSession, published: Event) -> None:
    """Mail an ESP what it must act on or is waiting for (its contact address)."""
    payload = published.payload
    if published.type == HISTORY_EXPORT_READY:
        service.add(
            session,
            organisation_id=published.organisation_id,
            kind="history_export_ready",
            payload={
                "history_export_id": payload.get("history_export_id"),
                "reference_number": payload.get("reference_number"),
                "expires_at": payload.get("expires_at"),
            },
        )
    elif published.type == NPS_AUDIT_REQUESTED:
        service.add(
            session,
            organisation_id=published.organisation_id,
            kind="audit_opened",
            payload={
                "audit_id": payload.get("audit_id"),
                "ean": payload.get("ean"),
                "reference_number": payload.get("reference_number"),
                "due_at": payload.get("due_at"),
            },
        )


async def mail_on_mandate_event(session: WriteSession, mandate: Mandate, event_type: str) -> None:
    """A mandate entered its renewal window: tell the customer who gave it when it ends."""
    if (
        event_type != mandates_service.MandateEvent.renewal_status_changed
        or mandate.renewal_status is not RenewalStatus.to_be_renewed
    ):
        return
    account_id = mandate.given_by_account_id or mandate.grid_user_account_id
    if account_id is None:
        return
    service.add(
        session,
        account_id=account_id,
        kind="mandate_expiring",
        payload={
            "mandate_id": mandate.id,
            "ean": mandate.ean,
            "esp": await repository.organisation_name(session, mandate.organisation_id),
            "expires_at": mandate.expiration_date,
        },
    )


if mail_on_event not in events_service.EVENT_LISTENERS:
    events_service.EVENT_LISTENERS.append(mail_on_event)
if mail_on_mandate_event not in mandates_service.MANDATE_EVENT_LISTENERS:
    mandates_service.MANDATE_EVENT_LISTENERS.append(mail_on_mandate_event)


def register_tasks(queue: JobQueue) -> None:
    app = queue.app

    @app.task(name=SEND, queue="mail")
    async def send_task(message_id: int) -> None:
        await send(queue, message_id)

    @app.periodic(cron="* * * * *", periodic_id=SWEEP)
    @app.task(name=SWEEP, queue="mail", queueing_lock=SWEEP)
    async def sweep_task(timestamp: int) -> None:
        await sweep(queue)
