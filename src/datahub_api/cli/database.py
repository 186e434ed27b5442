"""The database commands: migrate, seed-demo, db-url, db-stop."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from datahub_api import embedded_postgres
from datahub_api.cli.support import (
    clear_errors,
    console,
    fail,
    load_settings,
    open_database,
    run_migrations,
    step_progress,
)
from datahub_api.database_location import locate_database
from datahub_api.db import create_database, libpq_url, normalize_database_url
from datahub_api.settings import Settings


def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = load_settings()
    with clear_errors():
        url, _ = open_database(settings)
        # DDL and alembic's version lock need no pooler in between.
        if settings.direct_database_url:
            url = normalize_database_url(settings.direct_database_url)
        run_migrations(url)
    console.print("database is at head")


def seed_world(
    url: str,
    settings: Settings,
    eans: int,
    days: int,
    seed: int,
    *,
    replace: bool,
    only_if_empty: bool,
) -> dict[str, Any] | None:
    from datahub_api.demo.service import (
        DOMAIN_SEEDERS,
        DemoParameters,
        has_demo_world,
        seed_demo_world,
    )

    # The mail hooks, as a service process has them: the demo's audits and mandates mail.
    from datahub_api.mail import tasks as mail_tasks  # noqa: F401

    async def go() -> dict[str, Any] | None:
        database = create_database(url, settings)
        try:
            async with database.write_sessions() as session:
                if only_if_empty and await has_demo_world(session):
                    return None
                with step_progress("seed") as progress:
                    task = progress.add_task("loading the demo world", total=len(DOMAIN_SEEDERS))

                    def on_step(name: str) -> None:
                        progress.update(task, advance=1, description=f"loaded {name}")

                    credentials = await seed_demo_world(
                        session,
                        settings,
                        DemoParameters(eans=eans, days=days, seed=seed),
                        replace=replace,
                        on_step=on_step,
                    )
                await session.commit()
                return credentials
        finally:
            await database.dispose()

    return asyncio.run(go())


def seed_demo(
    eans: Annotated[int, typer.Option(min=1, max=100_000, help="Access points to create.")] = 200,
    days: Annotated[int, typer.Option(min=1, max=3 * 366, help="Days of meter data.")] = 365,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same world.")
    ] = 42,
    replace: Annotated[
        bool, typer.Option(help="Empty the database and load the world again.")
    ] = False,
) -> None:
    """Migrate and load the demo world; write <data dir>/demo-credentials.json."""
    settings = load_settings()
    with clear_errors():
        url, embedded = open_database(settings)
        run_migrations(url)
        seed_world(url, settings, eans, days, seed, replace=replace, only_if_empty=False)
        if embedded is not None:
            embedded.release()  # stopped and ready to copy, unless another process uses it
    from datahub_api.demo.service import credentials_path

    console.print(f"demo world loaded; credentials in {credentials_path(settings.data_dir)}")


def db_url() -> None:
    """Print the URL of the database the service uses (for psql). Never stops a running server."""
    settings = load_settings()
    with clear_errors():
        url, embedded = locate_database(settings)
        if embedded is not None:
            embedded.detach()
            if not embedded.was_running:
                console.print(
                    f"started the embedded PostgreSQL in {embedded.pg_dir}; it keeps running "
                    f"(stop it with: datahub-api db-stop)"
                )
    typer.echo(libpq_url(url))


def db_stop() -> None:
    """Stop the embedded PostgreSQL of the data dir, if no datahub-api process is using it."""
    settings = load_settings()
    pg_dir = settings.embedded_pg_dir
    if not embedded_postgres.is_running(pg_dir):
        console.print("the embedded PostgreSQL is not running")
        return
    with clear_errors():
        embedded = embedded_postgres.start(pg_dir)
        embedded.release()
    if embedded_postgres.is_running(pg_dir):
        fail("the embedded PostgreSQL is still in use by another datahub-api process")
    console.print("the embedded PostgreSQL is stopped")
