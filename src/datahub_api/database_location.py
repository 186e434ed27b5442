"""Which database a command uses: ``DATABASE_URL``, or the embedded server of the data dir."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from datahub_api import embedded_postgres
from datahub_api.db import normalize_database_url
from datahub_api.settings import Settings, get_settings


class DatabaseUnreachable(RuntimeError):
    """The configured database does not answer."""


def resolve_database_url(
    settings: Settings | None = None,
) -> str:
    """The asyncpg URL of the database to use, starting the embedded server if needed.

    The embedded server started here is stopped when the process exits (unless another
    process still uses it).
    """
    url, _ = locate_database(settings)
    return url


def locate_database(
    settings: Settings | None = None,
) -> tuple[str, embedded_postgres.EmbeddedPostgres | None]:
    settings = settings or get_settings()
    if settings.database_url:
        return normalize_database_url(settings.database_url), None
    embedded = embedded_postgres.start(settings.embedded_pg_dir)
    return embedded.url(), embedded


def describe(url: str) -> str:
    """Host, port and database of a URL, without its password."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


async def check_reachable(url: str, timeout_seconds: float) -> None:
    engine = create_async_engine(url, connect_args={"timeout": timeout_seconds})
    try:
        async with asyncio.timeout(timeout_seconds + 1):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # every failure becomes one clear line for the CLI
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if "] " in reason and reason.startswith("("):
            reason = reason.split("] ", 1)[1]
        raise DatabaseUnreachable(
            f"cannot reach the database at {describe(url)}: {reason}"
        ) from exc
    finally:
        await engine.dispose()
