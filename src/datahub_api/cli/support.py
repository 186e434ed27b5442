"""What every ``datahub-api`` command shares: the error console, one clear line for the
errors a user can fix, and the database a command runs on (the commands in ``cli`` and
``cli.operators`` both build on it)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from datahub_api import embedded_postgres
from datahub_api.auth.keys import KeyringError
from datahub_api.database_location import DatabaseUnreachable, check_reachable, locate_database
from datahub_api.db import DatabaseUrlError, create_database
from datahub_api.errors import DatahubError
from datahub_api.settings import Settings, get_settings

console = Console(stderr=True, soft_wrap=True)
# How many problems of a refused file are printed.
MAX_LISTED_PROBLEMS = 20


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one clear line and a non-zero exit."""
    try:
        yield
    except DatabaseUrlError as exc:
        fail(str(exc), 2)
    except (DatabaseUnreachable, embedded_postgres.EmbeddedPostgresError) as exc:
        fail(str(exc))
    except DatahubError as exc:
        fail(exc.detail)
    except KeyringError as exc:
        fail(str(exc))


@contextmanager
def file_read_whole() -> Iterator[None]:
    """Around reading a whole file's rows into memory in a one-shot command, before storing
    them: the cyclic collector would walk every row read so far again and again (most of a
    registry file's reading time), so it pauses while the file is read; then one full
    collection frees whatever cycles there were, and what is left, the rows, is frozen out
    of later collections (``gc.freeze``) while they are stored. Process-wide, so for
    commands only, never in the server."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()
        if enabled:
            gc.enable()


def open_database(
    settings: Settings,
) -> tuple[str, embedded_postgres.EmbeddedPostgres | None]:
    """The database URL to use (checked reachable) and the embedded handle if one was started."""
    url, embedded = locate_database(settings)
    asyncio.run(check_reachable(url, settings.db_connect_timeout_seconds))
    return url, embedded


def load_settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's validation error, made into one line
        fail(f"invalid configuration: {exc}".splitlines()[0] + " (see docs/configuration.md)", 2)


def step_progress(description: str) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_migrations(url: str) -> None:
    from datahub_api.schema_migrations import upgrade_to_head

    with step_progress("migrate") as progress:
        task = progress.add_task("migrating the database to head", total=1)
        upgrade_to_head(url)
        progress.advance(task)


def ensure_migrated(url: str, settings: Settings) -> None:
    from datahub_api.schema_migrations import current_revision, head_revision

    async def revision() -> str | None:
        database = create_database(url, settings)
        try:
            async with database.write_engine.connect() as connection:
                return await current_revision(connection)
        finally:
            await database.dispose()

    if asyncio.run(revision()) != head_revision():
        fail("the database is not migrated to the newest schema; run `datahub-api migrate`")
