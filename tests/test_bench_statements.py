"""``make bench-scale`` reports the slowest statement from ``pg_stat_statements``: checked on
a server made from the machine's PostgreSQL binaries (Debian's ship the extension; the
embedded server does not), with and without the library loaded at start."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bench.scale import _postmaster, slowest_query, track_statements
from datahub_api.db import create_database
from datahub_api.settings import Settings

from .support.replication import Server, missing_servers_reason, start_server, url

pytestmark = pytest.mark.skipif(
    missing_servers_reason() is not None, reason=str(missing_servers_reason())
)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop("immediate")
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def _server(servers: list[Server], *settings: str) -> Server:
    server = start_server(*settings)
    servers.append(server)
    return server


async def _statements(server_url: str) -> tuple[bool, dict[str, object]]:
    database = create_database(server_url, Settings())
    try:
        tracked = await track_statements(database)
        async with database.write_sessions() as session:
            await session.execute(text("SELECT pg_sleep(0.2)"))
            await session.execute(text("SELECT 1"))
        return tracked, (await slowest_query(database) if tracked else {})
    finally:
        await database.dispose()


def test_the_slowest_statement_is_reported_when_the_server_loads_the_library(
    servers: list[Server],
) -> None:
    server = _server(servers, "shared_preload_libraries = 'pg_stat_statements'")
    tracked, slowest = asyncio.run(_statements(url(server.port, "postgres")))
    assert tracked
    assert slowest["available"] is True
    assert "pg_sleep" in str(slowest["query"])
    assert float(str(slowest["max_ms"])) >= 200


def test_without_the_library_loaded_the_slowest_statement_is_not_available(
    servers: list[Server],
) -> None:
    server = _server(servers)
    tracked, _ = asyncio.run(_statements(url(server.port, "postgres")))
    assert not tracked


def test_the_postmaster_of_a_local_server_is_found_for_its_backends_memory(
    servers: list[Server],
) -> None:
    server = _server(servers)
    expected = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    assert asyncio.run(_postmaster(url(server.port, "postgres"))) == expected
