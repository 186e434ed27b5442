"""Workers scale out: several `datahub-api worker` processes on one database run each job
exactly once and each periodic job once per tick, and a worker killed with SIGKILL in the
middle of a history export leaves nothing half-done: another worker makes the export once,
and the file it writes in the shared directory is served by every API node.

Real processes on the test's embedded database, with the heartbeat and dead-worker settings
shortened (``support.nodes.STALLED_SECONDS``) as an operator could set them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from datahub_api.brussels_days import brussels_date
from datahub_api.contracts.models import Channel
from datahub_api.events.service import publish
from datahub_api.history_exports.tasks import BUILD
from datahub_api.jobs import RETRY_STALLED, JobQueue, commit, retry_stalled_jobs, stalled_check_cron
from datahub_api.settings import Settings
from datahub_api.sla.tasks import ROLL_UP
from datahub_api.webhooks.tasks import DELIVER

from ..support.environment import make_settings
from ..support.history_export_world import EXPORTS, entry, make_export_world, request_export
from ..support.meter_data import day_rows
from ..support.nodes import (
    PUBLIC_URL,
    STALLED_SECONDS,
    Node,
    Worker,
    deployment_env,
    finished_jobs,
    live_workers,
    start_api_node,
    start_worker,
    wait_ready_nodes,
)
from ..support.parties import auth_headers, make_esp
from ..support.sla_world import add_mandate, days, ingest, put_point
from ..support.waiting import until
from ..support.webhook_receiver import Receiver, running_receiver

EVENTS = 60


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    """The directory every node mounts for history export files."""
    return tmp_path / "shared-exports"


@pytest.fixture
def settings(export_dir: Path, receiver: Receiver) -> Settings:
    return make_settings(
        history_export_dir=export_dir,
        public_base_url=PUBLIC_URL,
        webhook_allowed_hosts=[receiver.host],
        webhook_allowed_ports=[receiver.port],
    )


async def test_three_workers_run_each_job_once_and_each_periodic_tick_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    clean_database: str,
    engine: AsyncEngine,
    receiver: Receiver,
    export_dir: Path,
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    esp = await make_esp(app, "Three Workers ESP")
    headers = await auth_headers(client, esp)
    made = await client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=headers)
    assert made.status_code == 201, made.text
    for name in ("a", "b", "c"):
        env = deployment_env(
            clean_database,
            tmp_path / f"data-{name}",
            export_dir,
            webhook_allowed_hosts=json.dumps([receiver.host]),
            webhook_allowed_ports=json.dumps([receiver.port]),
            log_level="INFO",  # procrastinate logs each job's outcome: who ran what
        )
        workers.append(start_worker(env, tmp_path, name, concurrency=2))
    alive = [worker.process for worker in workers]

    async def three() -> bool:
        return await live_workers(engine) == 3

    await until(three, "three registered workers", 60, alive=alive)

    async with app.state.database.write_sessions() as session:
        event_ids = [
            (await publish(session, esp.organisation_id, "mandate.approved", {"n": n})).id
            for n in range(EVENTS)
        ]
        await commit(session, app.state.jobs)  # one job per delivery, queued after the commit

    async def all_delivered() -> bool:
        async with engine.connect() as connection:
            left = (
                await connection.execute(
                    text(
                        "SELECT (SELECT count(*) FROM webhook_deliveries "
                        "        WHERE status <> 'succeeded') "
                        "     + (SELECT count(*) FROM procrastinate_jobs "
                        "        WHERE task_name = :deliver)"
                    ),
                    {"deliver": DELIVER},
                )
            ).scalar()
        return left == 0

    await until(all_delivered, f"{EVENTS} deliveries made", 60, alive=alive)
    # Every delivery succeeded and no job of one is left: nothing more can arrive.
    ids = Counter(request.headers["webhook-id"] for request in receiver.requests)
    assert ids == Counter({f"evt_{event_id}": 1 for event_id in event_ids})

    # Each job ran once, and the work was shared (the queue hands a job to one worker).
    ran = {id(worker): finished_jobs(worker) for worker in workers}
    deliveries = Counter(job.job_id for done in ran.values() for job in done if job.task == DELIVER)
    assert len(deliveries) == EVENTS
    assert set(deliveries.values()) == {1}
    sharing = [sum(1 for job in done if job.task == DELIVER) for done in ran.values()]
    assert sum(1 for count in sharing if count) >= 2, sharing

    # A periodic job (the dead-worker check, every second here) ran once per tick in all.
    async def ticks_run() -> Counter[int] | None:
        ticks = Counter(
            int(job.arguments["timestamp"])
            for worker in workers
            for job in finished_jobs(worker)
            if job.task == RETRY_STALLED
        )
        return ticks if len(ticks) >= 4 else None

    ticks = await until(ticks_run, "four ticks of the periodic job", 20, alive=alive)
    assert set(ticks.values()) == {1}, ticks
    async with engine.connect() as connection:
        deferred = (
            await connection.execute(
                text(
                    "SELECT defer_timestamp, count(*) FROM procrastinate_periodic_defers "
                    "WHERE periodic_id = :id GROUP BY defer_timestamp"
                ),
                {"id": RETRY_STALLED},
            )
        ).all()
    assert deferred
    assert {count for _, count in deferred} == {1}


def names_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def waiting_on_a_lock(engine: AsyncEngine, statement: str) -> int:
    """Sessions on the database stopped by a lock in a statement starting with ``statement``."""
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query ILIKE :statement"
            ),
            {"statement": statement + "%"},
        )
        return int(found.scalar() or 0)


async def export_row(engine: AsyncEngine, export_id: int) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT status, attempts, file_name FROM history_exports WHERE id = :id"),
                {"id": export_id},
            )
        ).one()
    return dict(row._mapping)


async def test_an_export_whose_worker_is_killed_is_made_once_by_another_and_served_by_every_node(
    app: FastAPI,
    client: httpx.AsyncClient,
    clean_database: str,
    engine: AsyncEngine,
    export_dir: Path,
    workers: list[Worker],
    nodes: list[Node],
    tmp_path: Path,
) -> None:
    def env(name: str) -> dict[str, str]:
        return deployment_env(clean_database, tmp_path / f"data-{name}", export_dir)

    nodes.extend(start_api_node(env(f"node-{n}"), tmp_path) for n in (1, 2))  # start meanwhile
    world = await make_export_world(app, client)
    nps = world.nps
    created = await request_export(
        client, world.a, [entry(nps.owner_ean), entry(nps.small_ean)], reference_number="hx-kill"
    )
    assert created.status_code == 201, created.text
    export_id = int(created.json()["id"])
    queue: JobQueue = app.state.jobs
    builds = [job for job in await queue.jobs("todo") if job["task_name"] == BUILD]
    assert [job["args"] for job in builds] == [{"export_id": export_id}]

    # The first worker will be stopped dead while it writes the export: the test holds the
    # meter data away from it (a table lock) once it has started.
    async with engine.connect() as holder:
        await holder.execute(text("LOCK TABLE meter_day_blocks IN ACCESS EXCLUSIVE MODE"))
        doomed = start_worker(env("worker-1"), tmp_path, "1")
        workers.append(doomed)
        try:
            await wait_ready_nodes(*nodes)

            async def building() -> bool:
                running = (await export_row(engine, export_id))["status"] == "running"
                return running and await waiting_on_a_lock(engine, "SELECT") > 0

            await until(building, "the export being written", 60, alive=[doomed.process])
            assert names_in(export_dir) == [f"{export_id}.run-1"], "its run directory is made"
            survivor = start_worker(env("worker-2"), tmp_path, "2")
            workers.append(survivor)
            doomed.kill()

            # Meanwhile no node serves anything of it: it is not ready.
            for node in nodes:
                async with node.client() as http:
                    answer = await http.get(f"{EXPORTS}/{export_id}/file", headers=world.a)
                    assert answer.status_code == 409, answer.text
                    assert answer.json()["type"].endswith("/not-ready")
        finally:
            await holder.rollback()  # the meter data is back

    async def ready() -> dict[str, Any] | None:
        row = await export_row(engine, export_id)
        return row if row["status"] == "ready" else None

    done = await until(ready, "the export made by the other worker", 60)
    assert done["attempts"] == 2  # the killed run, and the one that completed it
    # Exactly one file, whole, where every node reads: no run directory left over.
    assert names_in(export_dir) == [done["file_name"]]
    contents = []
    for node in nodes:
        async with node.client() as http:
            status = await http.get(f"{EXPORTS}/{export_id}", headers=world.a)
            assert status.json()["status"] == "ready"
            answer = await http.get(f"{EXPORTS}/{export_id}/file", headers=world.a)
            assert answer.status_code == 200, answer.text
            assert hashlib.sha256(answer.content).hexdigest() == status.json()["sha256"]
            contents.append(answer.content)
            events = await http.get(
                "/api/v1/events", params={"types": "history_export.ready"}, headers=world.a
            )
            ids = [e["data"]["history_export_id"] for e in events.json()["items"]]
            assert ids == [export_id], "announced once"
    assert contents[0] == contents[1]
    left = [job for job in await queue.jobs() if job["task_name"] == BUILD]
    assert left == []  # nothing left to do, nor stuck `doing`


async def test_a_dead_workers_periodic_job_gives_way_to_the_next_tick_waiting_for_its_lock(
    app: FastAPI, engine: AsyncEngine
) -> None:
    """The SLA roll-up (one job at a time: ``lock`` and ``queueing_lock``) was running on a
    worker that died, and the next tick's job waits behind its lock. The dead job cannot go
    back to the queue (the waiting one holds the queueing lock), so it gives way: the waiting
    job runs, and nothing is stuck `doing` for ever."""
    queue: JobQueue = app.state.jobs
    connector = queue.app.connector
    dead = await connector.execute_query_one_async(
        "SELECT procrastinate_register_worker_v1() AS id"
    )
    await connector.execute_query_async(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '10 minutes' "
        "WHERE id = %(id)s",
        id=dead["id"],
    )
    killed = await queue.defer(ROLL_UP, timestamp=1)
    await connector.execute_query_async(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(worker)s WHERE id = %(id)s",
        worker=dead["id"],
        id=killed,
    )
    next_tick = await queue.defer(ROLL_UP, timestamp=2)
    assert next_tick is not None

    await retry_stalled_jobs(queue)
    await queue.run_until_idle()
    assert [job for job in await queue.jobs() if job["task_name"] == ROLL_UP] == []


async def test_a_roll_up_whose_worker_is_killed_is_done_once_by_another(
    app: FastAPI,
    clean_database: str,
    engine: AsyncEngine,
    export_dir: Path,
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    """The SLA roll-up is one transaction: killed inside it (its days rolled up, its breach
    event being written), it leaves nothing; another worker does it once, and the breach is
    announced once."""
    esp = await make_esp(app, "Killed Roll-up ESP", channels=[Channel.api])
    ean = await put_point(app)
    last_month_end = brussels_date(datetime.now(UTC)).replace(day=1) - timedelta(days=1)
    await add_mandate(app, esp, ean, last_month_end.replace(day=1), date(2030, 1, 1))
    late = days(last_month_end - timedelta(days=4), last_month_end)  # delivered today: late
    await ingest(app, [row for day in late for row in day_rows(ean, day)])
    queue: JobQueue = app.state.jobs
    await queue.defer(ROLL_UP, timestamp=int(time.time()))

    def env(name: str) -> dict[str, str]:
        return deployment_env(clean_database, tmp_path / f"data-{name}", export_dir)

    async with engine.connect() as holder:
        # The roll-up will be stopped dead as it writes its event (its days rolled up).
        await holder.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        doomed = start_worker(env("worker-1"), tmp_path, "1")
        workers.append(doomed)
        try:

            async def rolling_up() -> bool:
                return await waiting_on_a_lock(engine, "INSERT INTO events") > 0

            await until(rolling_up, "the roll-up writing its event", 60, alive=[doomed.process])
            workers.append(start_worker(env("worker-2"), tmp_path, "2"))
            doomed.kill()
        finally:
            await holder.rollback()

    async def done() -> bool:
        return not [job for job in await queue.jobs() if job["task_name"] == ROLL_UP]

    await until(done, "the roll-up done by the other worker", 60)
    async with engine.connect() as connection:
        breaches = (
            await connection.execute(
                text("SELECT organisation_id, payload FROM events WHERE type = 'sla.breached'")
            )
        ).all()
        totals = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM sla_day_totals WHERE day BETWEEN :a AND :b),"
                    " (SELECT count(*) FROM sla_dirty_days WHERE day BETWEEN :a AND :b),"
                    " (SELECT count(*) FROM sla_breaches)"
                ),
                {"a": late[0], "b": late[-1]},
            )
        ).one()
    assert [(org, payload["month"]) for org, payload in breaches] == [
        (esp.organisation_id, f"{last_month_end:%Y-%m}")
    ]
    assert tuple(totals) == (len(late), 0, 1)  # each day rolled up, none left dirty


def test_dead_workers_are_looked_for_twice_per_stalled_period() -> None:
    assert stalled_check_cron(60) == "* * * * * */30"
    assert stalled_check_cron(STALLED_SECONDS) == "* * * * * */1"
    assert stalled_check_cron(0.5) == "* * * * * */1"
    assert stalled_check_cron(120) == "* * * * *"  # at least once a minute
    assert stalled_check_cron(3600) == "* * * * *"


async def test_a_delivery_whose_worker_is_killed_mid_request_is_made_once_by_another(
    app: FastAPI,
    client: httpx.AsyncClient,
    clean_database: str,
    engine: AsyncEngine,
    export_dir: Path,
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    """Killed while its POST hangs at the receiver: nothing of the attempt is recorded; the
    other worker makes it, and the delivery is logged as one successful attempt. The
    receiver saw the message twice under one `webhook-id` (at least once: it dedupes)."""
    with running_receiver(hold_first=True) as holding:
        app.state.settings.webhook_allowed_hosts = [holding.host]
        app.state.settings.webhook_allowed_ports = [holding.port]
        esp = await make_esp(app, "Killed Delivery ESP")
        headers = await auth_headers(client, esp)
        made = await client.post("/api/v1/webhooks", json={"url": holding.url}, headers=headers)
        assert made.status_code == 201, made.text
        async with app.state.database.write_sessions() as session:
            event = await publish(session, esp.organisation_id, "mandate.approved", {"n": 1})
            await commit(session, app.state.jobs)

        def env(name: str) -> dict[str, str]:
            return deployment_env(
                clean_database,
                tmp_path / f"data-{name}",
                export_dir,
                webhook_allowed_hosts=json.dumps([holding.host]),
                webhook_allowed_ports=json.dumps([holding.port]),
            )

        doomed = start_worker(env("worker-1"), tmp_path, "1")
        workers.append(doomed)
        assert await asyncio.to_thread(holding.held.wait, 60), "the POST reached the receiver"
        workers.append(start_worker(env("worker-2"), tmp_path, "2"))
        doomed.kill()

        async def delivered() -> bool:
            async with engine.connect() as connection:
                status = (
                    await connection.execute(text("SELECT status FROM webhook_deliveries"))
                ).scalar_one()
            return bool(status == "succeeded")

        await until(delivered, "the delivery made by the other worker", 60)
        async with engine.connect() as connection:
            attempts = (
                await connection.execute(
                    text("SELECT attempt, outcome FROM webhook_delivery_attempts")
                )
            ).all()
        assert [tuple(row) for row in attempts] == [(1, "succeeded")]
        ids = [request.headers["webhook-id"] for request in holding.requests]
        assert ids == [f"evt_{event.id}"] * 2


async def test_an_export_cut_off_by_a_stopping_worker_is_queued_again_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    clean_database: str,
    engine: AsyncEngine,
    export_dir: Path,
    workers: list[Worker],
    tmp_path: Path,
) -> None:
    """A rolling restart of the workers: SIGTERM lets a running export go on for
    DATAHUB_SHUTDOWN_TIMEOUT_SECONDS, then cancels it; its build is queued again and the next
    worker makes it at once (not when the sweep finds the run silent, minutes later)."""
    world = await make_export_world(app, client)
    created = await request_export(client, world.a, [entry(world.nps.owner_ean)])
    assert created.status_code == 201, created.text
    export_id = int(created.json()["id"])

    def env(name: str) -> dict[str, str]:
        return deployment_env(
            clean_database, tmp_path / f"data-{name}", export_dir, shutdown_timeout_seconds="1"
        )

    async with engine.connect() as holder:
        await holder.execute(text("LOCK TABLE meter_day_blocks IN ACCESS EXCLUSIVE MODE"))
        stopping = start_worker(env("worker-1"), tmp_path, "1")
        workers.append(stopping)
        try:

            async def building() -> bool:
                running = (await export_row(engine, export_id))["status"] == "running"
                return running and await waiting_on_a_lock(engine, "SELECT") > 0

            await until(building, "the export being written", 60, alive=[stopping.process])
            stopping.process.terminate()
            code = await asyncio.to_thread(stopping.process.wait, 30)
            assert code == 0, stopping.log.read_text()
            builds = [job for job in await app.state.jobs.jobs("todo") if job["task_name"] == BUILD]
            assert [job["args"] for job in builds] == [{"export_id": export_id}]
        finally:
            await holder.rollback()

    workers.append(start_worker(env("worker-2"), tmp_path, "2"))

    async def ready() -> dict[str, Any] | None:
        row = await export_row(engine, export_id)
        return row if row["status"] == "ready" else None

    done = await until(ready, "the export made by the next worker", 60)
    assert done["attempts"] == 2
    assert names_in(export_dir) == [done["file_name"]]
