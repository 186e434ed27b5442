"""Test fixtures: a real PostgreSQL per test worker, migrated with alembic, and the app.

Without ``DATABASE_URL`` the tests use an embedded server in ``.datahub-test/pg``; with it,
they use that server and create a database per xdist worker on it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from datahub_api import embedded_postgres
from datahub_api.app import create_app
from datahub_api.auth import tokens
from datahub_api.auth.principal import Role
from datahub_api.db import Base, normalize_database_url
from datahub_api.model_registry import import_all_models
from datahub_api.portal import i18n
from datahub_api.schema_migrations import upgrade_to_head
from datahub_api.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = PROJECT_ROOT / ".datahub-test"

import_all_models()
# A portal page that asks for a word no table has fails its test (production shows [key]).
i18n.STRICT = True


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """An asyncpg URL of a maintenance database on the server the tests use."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield normalize_database_url(configured)
        return
    TEST_DATA_DIR.mkdir(exist_ok=True)
    embedded = embedded_postgres.start(TEST_DATA_DIR / "pg", database="postgres")
    yield embedded.url("postgres")
    embedded.release()


async def _recreate_database(server_url: str, name: str) -> str:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def create_scratch_database(server_url: str, suffix: str) -> str:
    """A new empty database (not migrated) for tests that need one of their own."""
    return await _recreate_database(server_url, f"datahub_test_{_worker_id()}_{suffix}")


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> str:
    """This worker's database, built by ``alembic upgrade head`` (never ``create_all``)."""
    url = await _recreate_database(server_url, f"datahub_test_{_worker_id()}")
    await asyncio.to_thread(upgrade_to_head, url)
    return url


# The job queue's tables (procrastinate's, created by migration 0007, not in our models).
JOB_QUEUE_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)


# Kept between tests: the token-signing keys, which every app on the database (the session's
# live server too) shares, as the nodes of a deployment do. Emptying them under a running app
# would void the tokens it just issued.
KEPT_TABLES = frozenset({"signing_keys"})


async def truncate_all_tables(url: str) -> None:
    tables = [
        table.name for table in Base.metadata.sorted_tables if table.name not in KEPT_TABLES
    ] + list(JOB_QUEUE_TABLES)
    names = ", ".join(f'"{name}"' for name in tables)
    if not names:
        return
    engine = create_async_engine(url)
    try:
        for attempt in range(5):
            try:
                async with engine.begin() as connection:
                    # The live server (a session fixture) may be reading these tables; a
                    # deadlock with it is broken by PostgreSQL and the TRUNCATE tried again.
                    await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            except DBAPIError as error:
                if "deadlock" not in str(error) or attempt == 4:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


@pytest.fixture
async def clean_database(database_url: str) -> str:
    """The worker's database, emptied before the test."""
    await truncate_all_tables(database_url)
    return database_url


# One key-encryption key for every app and process a test starts on a worker's database:
# the signing keys stay in that database between tests (KEPT_TABLES), so a process with a
# key of its own (a data dir's local one) could not read them. A Fernet key: 32 bytes.
TEST_KEY_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"datahub-api test suite: 32 bytes").decode()


def make_settings(**overrides: Any) -> Settings:
    # Tests run jobs themselves (JobQueue.run_until_idle), so no worker runs in the app.
    values: dict[str, Any] = {
        "data_dir": TEST_DATA_DIR / f"data-{_worker_id()}",
        "run_worker_in_process": False,
        "key_encryption_key": SecretStr(TEST_KEY_ENCRYPTION_KEY),
    }
    values.update(overrides)
    return Settings.model_construct(**values)  # defaults only: no environment leaks in


@pytest.fixture
def settings() -> Settings:
    return make_settings()


METRICS_TOKEN = "test-scraper-token"


async def scrape_metrics(app: FastAPI, client: httpx.AsyncClient) -> httpx.Response:
    """``/metrics`` as the scraper the settings name (by default nobody may scrape)."""
    app.state.settings.metrics_token = SecretStr(METRICS_TOKEN)
    return await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})


@pytest.fixture
async def app(clean_database: str, settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database_url=clean_database)
    async with application.router.lifespan_context(application):
        yield application


async def validate_v3_answers(response: httpx.Response) -> None:
    """Every ``/v3`` response of the suite must be what Fluvius's published spec promises."""
    path = response.request.url.path
    if not path.lower().startswith("/v3/"):
        return
    from .fluvius_spec import validate_v3_response

    await response.aread()
    if response.status_code == 304 or not response.content:
        return
    canonical = path.split("?")[0]
    validate_v3_response(response.request.method, canonical, response.status_code, response.json())


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [validate_v3_answers]},
    ) as http:
        yield http


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    """The app served by uvicorn in a thread on a loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # As `serve` runs it: X-Forwarded-* is the app's to judge (DATAHUB_TRUSTED_PROXIES).
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[LiveServer]:
    application = create_app(make_settings(sandbox=True), database_url=database_url)
    with LiveServer(application) as server:
        yield server


@pytest.fixture
def bearer(app: FastAPI) -> Callable[..., dict[str, str]]:
    """Headers with an access token signed by the app's real keyring, for route tests.

    The OAuth2 token endpoint has tests of its own; route tests use this to act as any
    role without going through it.
    """

    def make(
        role: Role,
        scopes: Iterable[str],
        *,
        organisation_id: int | None = None,
        subject: str = "test-client",
    ) -> dict[str, str]:
        issued = tokens.mint(
            app.state.keys.keyring,
            issuer=app.state.settings.token_issuer,
            subject=subject,
            role=role,
            scopes=scopes,
            lifetime_seconds=300,
            organisation_id=organisation_id,
        )
        return {"Authorization": f"Bearer {issued.token}"}

    return make
