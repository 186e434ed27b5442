"""What every ``datahub-api`` command shares: the error console, one clear line for the
errors a user can fix, and the database a command runs on (the commands in ``cli`` and
``cli.operators`` both build on it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

from datahub_api import embedded_postgres
from datahub_api.auth.keys import KeyringError
from datahub_api.database_location import DatabaseUnreachable, check_reachable, locate_database
from datahub_api.db import DatabaseUrlError
from datahub_api.errors import DatahubError
from datahub_api.settings import Settings

console = Console(stderr=True, soft_wrap=True)


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


def open_database(
    settings: Settings,
) -> tuple[str, embedded_postgres.EmbeddedPostgres | None]:
    """The database URL to use (checked reachable) and the embedded handle if one was started."""
    url, embedded = locate_database(settings)
    asyncio.run(check_reachable(url, settings.db_connect_timeout_seconds))
    return url, embedded
