"""Test fixtures: a real PostgreSQL per test worker, migrated with alembic, and the app.

Without ``DATABASE_URL`` the tests use an embedded server in ``.datahub-test/pg``; with it,
they use that server and create a database per xdist worker on it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from datahub_api import embedded_postgres
from datahub_api.app import create_app
from datahub_api.auth import tokens
from datahub_api.auth.principal import Role
from datahub_api.db import normalize_database_url
from datahub_api.model_registry import import_all_models
from datahub_api.portal import i18n
from datahub_api.schema_migrations import upgrade_to_head
from datahub_api.settings import Settings

from .support.database import recreate_database, truncate_all_tables
from .support.environment import TEST_DATA_DIR, make_settings, worker_id
from .support.fluvius_spec import validate_v3_answers
from .support.live_server import LiveServer

import_all_models()
# A portal page that asks for a word no table has fails its test (production shows [key]).
i18n.STRICT = True


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


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> str:
    """This worker's database, built by ``alembic upgrade head`` (never ``create_all``)."""
    url = await recreate_database(server_url, f"datahub_test_{worker_id()}")
    await asyncio.to_thread(upgrade_to_head, url)
    return url


@pytest.fixture
async def clean_database(database_url: str) -> str:
    """The worker's database, emptied before the test."""
    await truncate_all_tables(database_url)
    return database_url


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
async def app(clean_database: str, settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database_url=clean_database)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [validate_v3_answers]},
    ) as http:
        yield http


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
