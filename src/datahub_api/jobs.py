"""The job queue: procrastinate on the service's own PostgreSQL database.

Why procrastinate: jobs live in PostgreSQL (no broker to run), it has delayed jobs
(``schedule_at``), per-key ``lock`` / ``queueing_lock``, periodic (cron) tasks, a worker
that stops gracefully, and it ships its schema as SQL that our alembic migration applies.
It talks to PostgreSQL through psycopg 3 (its own small pool), next to SQLAlchemy's asyncpg
pool; the tasks themselves use the service's :class:`~datahub_api.db.Database`.

One :class:`JobQueue` per process (the service's lifespan, or ``datahub-api worker``). Each
domain with jobs has a ``tasks.py`` with ``register_tasks(queue)``, listed in
:data:`TASK_MODULES`; it defines its tasks (and periodic tasks) on ``queue.app``::

    def register_tasks(queue: JobQueue) -> None:
        @queue.app.periodic(cron="5 23 * * *", periodic_id="mandates.daily")  # UTC
        @queue.app.task(name="mandates.daily", queueing_lock="mandates.daily")
        async def daily_task(timestamp: int) -> None:
            async with queue.database.write_sessions() as session:
                ...
                await commit(session, queue)

Periodic tasks are deferred by every running worker (at most once per tick: procrastinate
records each tick in ``procrastinate_periodic_defers``), so they need no leader election.

Any number of workers (``datahub-api worker`` processes, on any machine) share the queue:
a worker takes a job with ``SELECT ... FOR UPDATE SKIP LOCKED``, so each job runs once.
Each worker writes a heartbeat every ``DATAHUB_WORKER_HEARTBEAT_SECONDS``; a worker silent
for ``DATAHUB_WORKER_STALLED_SECONDS`` (killed, its machine lost) is taken for dead and
:data:`RETRY_STALLED` puts its running jobs back in the queue, where another worker runs
them again from the start. Every task is therefore written to be run again after dying at
any point: its changes are committed in transactions that leave nothing half-done, files
are moved into place whole, and a duplicate run finds its work done.

Jobs are deferred by name (:meth:`JobQueue.defer`). Procrastinate's connection cannot take
part in a SQLAlchemy/asyncpg transaction, so a job that must exist iff a change commits is
deferred *after* the commit (``after_commit`` in requests, :func:`commit` elsewhere), and the
change itself leaves a durable trace (an outbox row) that a periodic sweeper turns into a
job if the process died in between. See ``webhooks/tasks.py`` and ``mandates/tasks.py``.

Tests run jobs deterministically with :meth:`JobQueue.run_until_idle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import procrastinate
import psycopg_pool
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate import periodic as procrastinate_periodic
from sqlalchemy import Connection
from sqlalchemy.util import await_only

from datahub_api.db import Database, WriteSession, libpq_url
from datahub_api.settings import Settings

logger = logging.getLogger(__name__)

# Modules with a ``register_tasks(queue: JobQueue) -> None`` function.
TASK_MODULES: tuple[str, ...] = (
    "datahub_api.webhooks.tasks",
    "datahub_api.mandates.tasks",
    "datahub_api.sla.tasks",
    "datahub_api.nps.tasks",
    "datahub_api.history_exports.tasks",
    "datahub_api.throttles.tasks",
)

RETRY_STALLED = "jobs.retry_stalled"
WORKER_RESTART_SECONDS = 5.0

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# The procrastinate release whose schema our migrations built. Upgrading procrastinate
# means: a new alembic revision that runs the library's `sql/migrations/*.sql` files
# between the two releases (with :func:`run_sql_script`), then moving this pin
# (a test fails while the installed release and this pin disagree).
PROCRASTINATE_SCHEMA_RELEASE = "3.10"


def procrastinate_schema_sql() -> str:
    """The SQL of procrastinate's schema, as the installed release ships it (migration 0007
    applies it; the library's tables are left out of alembic's model comparison)."""
    return (Path(procrastinate.__file__).parent / "sql" / "schema.sql").read_text()


def run_sql_script(connection: Connection, script: str) -> None:
    """Run a multi-statement SQL script on a migration's (asyncpg) connection, as one
    simple-protocol call (prepared statements take one statement only)."""
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(script))


PROCRASTINATE_DOWNGRADE_SQL = """
DO $$
DECLARE object record;
BEGIN
    FOR object IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r'
          AND c.relname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', object.relname);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure AS signature FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', object.signature);
    END LOOP;
    FOR object IN
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
          AND t.typtype IN ('e', 'c')
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', object.typname);
    END LOOP;
END
$$;
"""


class JobQueue:
    """The process's procrastinate app, its tasks, and (optionally) a worker running them."""

    def __init__(
        self,
        database_url: str,
        database: Database,
        settings: Settings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self._conninfo = libpq_url(database_url)
        connector = procrastinate.PsycopgConnector()
        self._pool: psycopg_pool.AsyncConnectionPool | None = None
        self.app = procrastinate.App(connector=connector)
        self._worker_task: asyncio.Task[None] | None = None
        _register_queue_tasks(self)
        for module_name in TASK_MODULES:
            module = importlib.import_module(module_name)
            module.register_tasks(self)

    # --- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        """Open the queue's connection pool. It connects in the background, so a service
        whose database is away still starts (and answers /readyz with 503)."""
        if self._pool is not None:
            return
        pool = psycopg_pool.AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self.settings.worker_concurrency + 2,
            kwargs={"application_name": "datahub-api-jobs"},
            timeout=self.settings.db_connect_timeout_seconds,
            check=psycopg_pool.AsyncConnectionPool.check_connection,
            open=False,
        )
        await pool.open(wait=False)
        self._pool = pool
        await self.app.open_async(pool)

    async def close(self) -> None:
        await self.stop_worker()
        pool, self._pool = self._pool, None
        if pool is not None:
            await self.app.close_async()
            await pool.close()

    def start_worker(self, *, concurrency: int | None = None) -> None:
        """Run a worker as a background task of the current event loop (the service's
        in-process worker), restarted after a failure (the database away, say).
        :meth:`stop_worker` lets running jobs finish."""
        if self._worker_task is not None:
            return
        self._worker_task = asyncio.create_task(
            self._supervise(concurrency or self.settings.worker_concurrency),
            name="job worker",
        )

    def _worker_options(self, concurrency: int) -> dict[str, Any]:
        """How every long-running worker of this service runs."""
        return {
            "concurrency": concurrency,
            "install_signal_handlers": False,
            "delete_jobs": "successful",
            # Stopping (SIGTERM), the jobs running may finish for this long; then they are
            # cancelled (procrastinate marks them aborted) and their work is done again (a
            # webhook delivery stays due for the sweeper, an export queues its build again).
            "shutdown_graceful_timeout": self.settings.shutdown_timeout_seconds,
            "update_heartbeat_interval": self.settings.worker_heartbeat_seconds,
            # A worker starting up forgets the workers silent this long (their jobs are
            # requeued by RETRY_STALLED, which finds them by their missing worker then).
            "stalled_worker_timeout": self.settings.worker_stalled_seconds,
        }

    async def _supervise(self, concurrency: int) -> None:
        while True:
            try:
                await self.app.run_worker_async(
                    **self._worker_options(concurrency), name="in-process"
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("the in-process job worker stopped (%s); restarting soon", exc)
            await asyncio.sleep(WORKER_RESTART_SECONDS)

    async def stop_worker(self) -> None:
        task, self._worker_task = self._worker_task, None
        if task is None:
            return
        task.cancel()  # procrastinate turns this into a graceful stop
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_worker(self, *, concurrency: int) -> None:
        """Work until SIGINT/SIGTERM (the ``datahub-api worker`` command). A worker that
        stops for any other reason (procrastinate stops it when it loses its database
        connection, and an outage does that) is started again, as the in-process one is,
        rather than ending the process."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        running: asyncio.Task[None] | None = None

        def stop() -> None:
            stopping.set()
            if running is not None:
                running.cancel()  # procrastinate turns this into a graceful stop

        signals = (signal.SIGINT, signal.SIGTERM)
        for number in signals:
            loop.add_signal_handler(number, stop)
        try:
            while not stopping.is_set():
                running = asyncio.create_task(
                    self.app.run_worker_async(**self._worker_options(concurrency))
                )
                try:
                    await running
                except asyncio.CancelledError:
                    if not stopping.is_set():
                        raise
                except Exception as exc:
                    logger.warning("the job worker failed (%s)", exc)
                if stopping.is_set():
                    return
                logger.warning("the job worker stopped; restarting in %s s", WORKER_RESTART_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), WORKER_RESTART_SECONDS)
        finally:
            for number in signals:
                loop.remove_signal_handler(number)

    async def run_until_idle(self, *, max_rounds: int = 20) -> None:
        """Run the jobs that are due, and those they defer, until none is due (for tests and
        one-off commands). Jobs scheduled for later stay queued, and periodic tasks are not
        deferred meanwhile (call them yourself), so the outcome is deterministic."""
        registry = self.app.periodic_registry
        self.app.periodic_registry = procrastinate_periodic.PeriodicRegistry()  # type: ignore[no-untyped-call]
        try:
            for _ in range(max_rounds):
                await self.app.run_worker_async(
                    wait=False,
                    concurrency=1,
                    install_signal_handlers=False,
                    listen_notify=False,
                    delete_jobs="successful",
                )
                if await self.due_job_count() == 0:
                    return
        finally:
            self.app.periodic_registry = registry
        raise RuntimeError(f"jobs still due after {max_rounds} worker rounds")

    # --- deferring ----------------------------------------------------------------

    async def defer(
        self,
        task_name: str,
        *,
        schedule_at: datetime | None = None,
        lock: str | None = None,
        queueing_lock: str | None = None,
        **task_kwargs: Any,
    ) -> int | None:
        """Queue a job of ``task_name``; ``None`` when ``queueing_lock`` already has one
        waiting (that job does the same work)."""
        options: dict[str, Any] = {}
        if schedule_at is not None:
            options["schedule_at"] = schedule_at
        if lock is not None:
            options["lock"] = lock
        if queueing_lock is not None:
            options["queueing_lock"] = queueing_lock
        deferrer = self.app.configure_task(task_name, allow_unknown=False, **options)
        try:
            return await deferrer.defer_async(**task_kwargs)
        except procrastinate_exceptions.AlreadyEnqueued:
            return None

    # --- inspection (operations, tests) -------------------------------------------

    async def due_job_count(self) -> int:
        row = await self.app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'todo' "
            "AND (scheduled_at IS NULL OR scheduled_at <= now())"
        )
        return int(row["n"])

    async def jobs(self, status: str | None = None) -> list[dict[str, Any]]:
        """Jobs still in the table (successful ones are deleted), oldest first."""
        rows = await self.app.connector.execute_query_all_async(
            "SELECT id, task_name, status::text AS status, args, scheduled_at, lock, "
            "queueing_lock FROM procrastinate_jobs "
            "WHERE %(status)s::text IS NULL OR status::text = %(status)s::text ORDER BY id",
            status=status,
        )
        return [dict(row) for row in rows]


async def retry_stalled_jobs(queue: JobQueue) -> int:
    """Put back in the queue the jobs of workers that died mid-job (no heartbeat for
    ``DATAHUB_WORKER_STALLED_SECONDS``). Every task must therefore be safe to run twice.

    A dead job whose ``queueing_lock`` is taken by a job waiting meanwhile (the periodic
    job's next tick, the sweeper's new try of a delivery or export) cannot go back: that job
    does the same work, so the dead one is dropped instead. Left ``doing``, its ``lock``
    would keep the waiting job from ever running."""
    manager = queue.app.job_manager
    retried = dropped = 0
    stalled_after = queue.settings.worker_stalled_seconds
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            await manager.retry_job(job)
        except procrastinate_exceptions.UniqueViolation:
            await manager.finish_job(job, status=procrastinate.jobs.Status.ABORTED, delete_job=True)
            dropped += 1
            continue
        except Exception as exc:
            logger.warning("could not requeue stalled job %s: %s", job.id, exc)
            continue
        retried += 1
    if retried or dropped:
        logger.warning(
            "requeued %s job(s) of workers that stopped mid-job (%s more dropped: the same "
            "work waits in the queue)",
            retried,
            dropped,
        )
    return retried + dropped


def stalled_check_cron(stalled_seconds: float) -> str:
    """How often :data:`RETRY_STALLED` looks for dead workers: twice per ``stalled_seconds``
    (procrastinate's cron takes seconds as a sixth field), at least once a minute, so a dead
    worker's job waits at most about 1.5 times the setting."""
    every = max(1, int(stalled_seconds // 2))
    return "* * * * *" if every >= 60 else f"* * * * * */{every}"


def _register_queue_tasks(queue: JobQueue) -> None:
    cron = stalled_check_cron(queue.settings.worker_stalled_seconds)

    @queue.app.periodic(cron=cron, periodic_id=RETRY_STALLED)
    @queue.app.task(name=RETRY_STALLED, queueing_lock=RETRY_STALLED)
    async def retry_stalled(timestamp: int) -> None:
        await retry_stalled_jobs(queue)


async def commit(session: WriteSession, queue: JobQueue) -> None:
    """Commit ``session`` outside a request and run its after-commit hooks, as the request's
    session dependency does (for jobs and commands that publish events)."""
    await session.commit()
    runtime = SimpleNamespace(state=SimpleNamespace(jobs=queue))
    for hook in session.info.pop("after_commit", []):
        await hook(runtime)
