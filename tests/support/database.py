"""Scratch databases on the tests' PostgreSQL, and emptying a database between tests."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from datahub_api.db import Base

from .environment import worker_id


async def recreate_database(server_url: str, name: str) -> str:
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
    return await recreate_database(server_url, f"datahub_test_{worker_id()}_{suffix}")


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
