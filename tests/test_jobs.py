"""The job queue: the in-process worker's start and stop, periodic tasks, the worker
command as a separate process, and the pin of procrastinate's schema."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import procrastinate
from fastapi import FastAPI

from datahub_api.app import create_app
from datahub_api.db import libpq_url
from datahub_api.events.event_types import MANDATE_APPROVED
from datahub_api.events.service import publish
from datahub_api.jobs import PROCRASTINATE_SCHEMA_RELEASE, JobQueue, commit
from datahub_api.webhooks import service as webhooks_service
from datahub_api.webhooks.schemas import WebhookEndpointCreate

from .support.environment import make_settings
from .support.parties import make_esp
from .support.webhook_receiver import Receiver, running_receiver


async def register_and_publish(app: FastAPI, receiver: Receiver) -> int:
    esp = await make_esp(app, "Jobs ESP")
    async with app.state.database.write_sessions() as session:
        await webhooks_service.register(
            session,
            esp.organisation_id,
            WebhookEndpointCreate(url=receiver.url),
            app.state.settings,
            actor="test",
        )
        await session.commit()
    async with app.state.database.write_sessions() as session:
        event = await publish(session, esp.organisation_id, MANDATE_APPROVED, {"mandate_id": 1})
        await commit(session, app.state.jobs)
    return event.id


async def test_in_process_worker_runs_jobs_and_stops_with_the_app(clean_database: str) -> None:
    with running_receiver() as receiver:
        settings = make_settings(
            run_worker_in_process=True,
            webhook_allowed_hosts=[receiver.host],
            webhook_allowed_ports=[receiver.port],
        )
        app = create_app(settings, database_url=clean_database)
        async with app.router.lifespan_context(app):
            queue: JobQueue = app.state.jobs
            event_id = await register_and_publish(app, receiver)
            [request] = await asyncio.to_thread(receiver.wait_for, 1)
            assert request.headers["webhook-id"] == f"evt_{event_id}"
            worker = queue._worker_task
            assert worker is not None
            assert not worker.done()
        assert worker.done()
        assert queue._worker_task is None


async def test_periodic_tasks_are_deferred_by_the_worker(app: FastAPI) -> None:
    queue: JobQueue = app.state.jobs
    ticks: list[int] = []
    two_ticks = asyncio.Event()

    @queue.app.periodic(cron="* * * * * *", periodic_id="tests.every_second")
    @queue.app.task(name="tests.every_second", queueing_lock="tests.every_second")
    async def every_second(timestamp: int) -> None:
        ticks.append(timestamp)
        if len(ticks) >= 2:
            two_ticks.set()

    queue.start_worker(concurrency=1)
    try:
        await asyncio.wait_for(two_ticks.wait(), 10)
    finally:
        await queue.stop_worker()
    assert ticks[1] > ticks[0]
    # The webhook sweeper is registered the same way, every minute.
    periodic = {
        task.task.name: task.cron for task in queue.app.periodic_registry.periodic_tasks.values()
    }
    assert periodic["webhooks.sweep"] == "* * * * *"


async def test_worker_command_runs_jobs_and_stops_on_sigterm(
    app: FastAPI, clean_database: str, tmp_path: Path
) -> None:
    with running_receiver() as receiver:
        app.state.settings.webhook_allowed_hosts.append(receiver.host)
        app.state.settings.webhook_allowed_ports.append(receiver.port)
        event_id = await register_and_publish(app, receiver)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DATAHUB_") and k != "DATABASE_URL"
        }
        env.update(
            {
                "DATABASE_URL": libpq_url(clean_database),
                "DATAHUB_DATA_DIR": str(tmp_path),
                "DATAHUB_WEBHOOK_ALLOWED_HOSTS": json.dumps([receiver.host]),
                "DATAHUB_WEBHOOK_ALLOWED_PORTS": json.dumps([receiver.port]),
            }
        )
        process = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "datahub_api.cli", "worker", "--concurrency", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            [request] = await asyncio.to_thread(receiver.wait_for, 1, 60)
            assert request.headers["webhook-id"] == f"evt_{event_id}"
            process.send_signal(signal.SIGTERM)
            _out, err = await asyncio.to_thread(process.communicate, timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, err
        assert "worker started (concurrency 2)" in err
        assert "the worker stopped" in err


def test_procrastinate_release_matches_the_migrated_schema() -> None:
    """Upgrading procrastinate needs a migration with its SQL migrations (see jobs.py)."""
    release = ".".join(procrastinate.__version__.split(".")[:2])
    assert release == PROCRASTINATE_SCHEMA_RELEASE
