"""Budgets are per caller, not per process: two server nodes (one of them `serve --workers
2`) on one database give a caller exactly its budget in total, with the counters in
PostgreSQL and with them in Redis. The storages themselves hold their limit under
concurrent hits from separate connection pools."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from sqlalchemy import text

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.db import create_database
from datahub_api.throttles.service import LEASE_SHARE, RateBudget
from datahub_api.throttles.storage import PostgresStorage

from ..support.environment import (
    TEST_DATA_DIR,
    TEST_KEY_ENCRYPTION_KEY,
    free_port,
    make_settings,
    worker_id,
)
from ..support.waiting import room_in_one_window

BUDGET = 20
PASSWORD = "correct horse battery"


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The machine's Redis (127.0.0.1:6379, as on CI), else one started for the tests from
    the `redis-server` binary; skipped, saying why, only when neither is there."""
    url = os.environ.get("DATAHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(f"no Redis answers at {url} and there is no redis-server to start one")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(url):
            if time.monotonic() > deadline:
                pytest.skip(f"redis-server did not start on port {port}")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- the storages under concurrent hits ------------------------------------------------------


async def _concurrent_hits(storages: list[Storage], hits: int) -> int:
    item = RateLimitItemPerSecond(BUDGET, 3600)
    limiters = [SlidingWindowCounterRateLimiter(storage) for storage in storages]
    key = uuid.uuid4().hex
    await room_in_one_window(3600, needed=30)
    answers = await asyncio.gather(
        *(limiters[n % len(limiters)].hit(item, key) for n in range(hits))
    )
    return sum(answers)


async def test_postgres_counters_hold_the_limit_across_connection_pools(
    clean_database: str,
) -> None:
    databases = [create_database(clean_database, make_settings()) for _ in range(2)]
    try:
        storages: list[Storage] = [PostgresStorage(lambda d=d: d) for d in databases]  # type: ignore[misc]
        assert await _concurrent_hits(storages, 3 * BUDGET) == BUDGET
    finally:
        for database in databases:
            await database.dispose()


async def test_redis_counters_hold_the_limit_across_clients(redis_url: str) -> None:
    prefix = f"datahub-test-{uuid.uuid4().hex}"
    storages: list[Storage] = [
        RedisStorage("async+" + redis_url, implementation="redispy", key_prefix=prefix)
        for _ in range(2)
    ]
    assert await _concurrent_hits(storages, 3 * BUDGET) == BUDGET


# --- leases: a busy caller costs the store one round trip per lease ------------------------


class CountingPostgresStorage(PostgresStorage):
    """The real PostgreSQL store, counting its round trips."""

    round_trips = 0

    async def acquire_and_window(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> tuple[bool, tuple[int, float, int, float]]:
        CountingPostgresStorage.round_trips += 1
        return await super().acquire_and_window(key, limit, expiry, amount)


async def _busy_caller(budgets: list[RateBudget], hits: int) -> int:
    """``hits`` from one caller, 8 at a time over ``budgets`` (the processes); how many
    were allowed."""
    allowed = 0
    await room_in_one_window(3600, needed=60)

    async def one(n: int) -> None:
        nonlocal allowed
        taken, _ = await budgets[n % len(budgets)].hit("busy-caller")
        allowed += taken

    for start in range(0, hits, 8):
        await asyncio.gather(*(one(start + n) for n in range(8)))
    return allowed


async def test_leases_cut_the_round_trips_of_a_busy_caller(clean_database: str) -> None:
    database = create_database(clean_database, make_settings())
    try:
        storage = CountingPostgresStorage(lambda: database)
        CountingPostgresStorage.round_trips = 0
        budgets = [RateBudget(storage, "api", 100_000, 3600) for _ in range(2)]
        assert await _busy_caller(budgets, 2000) == 2000
        assert CountingPostgresStorage.round_trips < 100, CountingPostgresStorage.round_trips
        # The store counted every hit served, and leased no more than each process may
        # hold unserved.
        previous, _, current, _ = await storage.get_sliding_window(
            budgets[0].item.key_for("busy-caller"), 3600
        )
        assert 2000 <= previous + current <= 2000 + 2 * (100_000 // LEASE_SHARE)
        # And a round trip writes no WAL: the counters are unlogged.
        async with database.write_sessions() as session:
            persistence = await session.scalar(
                text(
                    "SELECT relpersistence::text FROM pg_class WHERE relname = 'throttle_counters'"
                )
            )
        assert persistence == "u"
    finally:
        await database.dispose()


async def test_leases_never_give_a_caller_more_than_its_budget(clean_database: str) -> None:
    database = create_database(clean_database, make_settings())
    try:
        storage = PostgresStorage(lambda: database)
        budget = 1000  # leases of up to 20 hits per process
        budgets = [RateBudget(storage, "api", budget, 3600) for _ in range(2)]
        allowed = await _busy_caller(budgets, 3 * budget)
        # Never more; less only by what a process leased and could not serve in time.
        assert budget - 2 * (budget // LEASE_SHARE) <= allowed <= budget, allowed
        _, state = await budgets[0].hit("busy-caller")
        assert state.remaining == 0
    finally:
        await database.dispose()


# --- real processes ------------------------------------------------------------------------


class Node:
    """One `datahub-api serve` process (with its uvicorn workers) on a port of its own."""

    def __init__(self, database_url: str, data_dir: Path, env: dict[str, str], workers: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "datahub_api.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.process = subprocess.Popen(
            command,
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "DATAHUB_DATA_DIR": str(data_dir),
                "DATAHUB_RUN_WORKER_IN_PROCESS": "false",
                "DATAHUB_LOG_LEVEL": "WARNING",
                "DATAHUB_SHUTDOWN_DELAY_SECONDS": "0",  # no load balancer waits on it
                **env,
            },
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def wait_ready(self, client: httpx.AsyncClient, workers: int) -> None:
        deadline = time.monotonic() + 90
        while True:
            assert self.process.poll() is None, "the node exited"
            try:
                if (await client.get(f"{self.url}/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the node did not start"
            await asyncio.sleep(0.25)
        # With several workers, the first answer may come before the others are up.
        if workers > 1:
            await asyncio.sleep(3)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
async def person(clean_database: str) -> str:
    database = create_database(clean_database, make_settings())
    try:
        async with database.write_sessions() as session:
            session.add(
                Account(
                    username="budget.person",
                    password_hash=hash_password(PASSWORD),
                    display_name="Budget Person",
                    role=AccountRole.customer,
                )
            )
            await session.commit()
    finally:
        await database.dispose()
    return "budget.person"


@pytest.mark.parametrize("storage", ["postgresql", "redis"])
async def test_two_nodes_share_one_budget_per_caller(
    storage: str, clean_database: str, person: str, request: pytest.FixtureRequest
) -> None:
    env = {
        "DATAHUB_RATE_LIMIT_REQUESTS": str(BUDGET),
        # A long window: the counted requests wait to fall in one (see room_in_one_window).
        "DATAHUB_RATE_LIMIT_WINDOW_SECONDS": "3600",
        "DATAHUB_LOGIN_FREE_FAILURES": "3",
        "DATAHUB_THROTTLE_BACKOFF_MAX_SECONDS": "60",
        # The key the tests' own apps sealed this database's signing keys with.
        "DATAHUB_KEY_ENCRYPTION_KEY": TEST_KEY_ENCRYPTION_KEY,
    }
    if storage == "redis":
        env["DATAHUB_REDIS_URL"] = request.getfixturevalue("redis_url")
        env["DATAHUB_REDIS_KEY_PREFIX"] = f"datahub-test-{uuid.uuid4().hex}"
    data_dir = TEST_DATA_DIR / f"budgets-{worker_id()}"
    nodes = [Node(clean_database, data_dir, env, workers=2)]
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await nodes[0].wait_ready(client, workers=2)
            nodes.append(Node(clean_database, data_dir, env, workers=1))
            await nodes[1].wait_ready(client, workers=1)

            logged_in = await client.post(
                f"{nodes[0].url}/api/v1/auth/login",
                json={"username": person, "password": PASSWORD},
            )
            assert logged_in.status_code == 200, logged_in.text
            client.cookies.set("datahub_session", logged_in.cookies["datahub_session"])

            async def me(n: int) -> int:
                answer = await client.get(f"{nodes[n % 2].url}/api/v1/auth/me")
                return answer.status_code

            statuses: list[int] = []
            await room_in_one_window(3600, needed=60)
            for batch in range(6):  # 3x the budget, ten at a time over both nodes
                statuses += await asyncio.gather(*(me(batch * 10 + n) for n in range(10)))
            assert statuses.count(200) == BUDGET, statuses
            assert statuses.count(429) == 2 * BUDGET, statuses

            # Failed logins count on every node alike: three free, then backoff everywhere.
            for n in range(3):
                failed = await client.post(
                    f"{nodes[n % 2].url}/api/v1/auth/login",
                    json={"username": "someone.else", "password": "guess"},
                )
                assert failed.status_code == 401
            for node in nodes:
                closed = await client.post(
                    f"{node.url}/api/v1/auth/login",
                    json={"username": "someone.else", "password": "guess"},
                )
                assert closed.status_code == 429
                assert closed.headers["retry-after"]
            # The address is closed too, and `serve` believes no X-Forwarded-For by default
            # (uvicorn would, from loopback): another username from a "fresh" address written
            # in the header is still this address.
            for n, node in enumerate(nodes):
                spoofed = await client.post(
                    f"{node.url}/api/v1/auth/login",
                    json={"username": f"user{n}", "password": "guess"},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                )
                assert spoofed.status_code == 429
    finally:
        for node in nodes:
            node.stop()
