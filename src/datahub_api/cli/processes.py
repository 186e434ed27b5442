"""The long-running commands: ``serve`` (the API) and ``worker`` (jobs)."""

from __future__ import annotations

import asyncio
import math
import os
import socket
from typing import Annotated, Any

import typer

from datahub_api.cli.database import seed_world
from datahub_api.cli.support import (
    clear_errors,
    console,
    ensure_migrated,
    fail,
    load_settings,
    open_database,
    run_migrations,
)
from datahub_api.cli.welcome import print_welcome
from datahub_api.db import create_database
from datahub_api.settings import Settings, get_settings


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    demo: Annotated[
        bool, typer.Option(help="Migrate, load the demo world into an empty database, sandbox on.")
    ] = False,
) -> None:
    """Serve the API (and, with --demo, the demo world)."""
    import uvicorn

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if demo:
        overrides["sandbox"] = True
    settings = load_settings().model_copy(update=overrides)
    if not _port_is_free(settings.host, settings.port):
        fail(
            f"port {settings.port} on {settings.host} is busy (is another datahub-api running?); "
            "choose another with --port or DATAHUB_PORT"
        )
    from datahub_api.demo.service import read_credentials

    with clear_errors():
        url, embedded = open_database(settings)
        if demo:
            run_migrations(url)
            seed_world(url, settings, 200, 365, 42, replace=False, only_if_empty=True)
    credentials = read_credentials(settings.data_dir) if demo else None
    # Worker processes (and the app factory) take everything from the environment.
    os.environ["DATABASE_URL"] = url
    os.environ["DATAHUB_HOST"] = settings.host
    os.environ["DATAHUB_PORT"] = str(settings.port)
    os.environ["DATAHUB_SANDBOX"] = "true" if settings.sandbox else "false"
    get_settings.cache_clear()
    print_welcome(settings, credentials)
    uvicorn.run(
        "datahub_api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        proxy_headers=False,  # X-Forwarded-* only from DATAHUB_TRUSTED_PROXIES (client_address)
        access_log=False,  # written by ClientAddressMiddleware, with the resolved address
        # SIGTERM drains (health/draining.py): the app's delay, then uvicorn's bounded wait.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
    )
    if embedded is not None:
        embedded.release()


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=100, help="Jobs run at the same time (default: settings)."),
    ] = None,
) -> None:
    """Run jobs (webhook deliveries, periodic jobs) until SIGINT or SIGTERM.

    Start as many as needed next to `serve`; set DATAHUB_RUN_WORKER_IN_PROCESS=false on the
    service then, so that only these processes run jobs.
    """
    from datahub_api.observability import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    with clear_errors():
        url, embedded = open_database(settings)
        try:
            ensure_migrated(url, settings)
            asyncio.run(_run_worker(url, settings, concurrency or settings.worker_concurrency))
        finally:
            if embedded is not None:
                embedded.release()
    console.print("the worker stopped")


async def _run_worker(url: str, settings: Settings, concurrency: int) -> None:
    from datahub_api.jobs import JobQueue

    database = create_database(
        url,
        settings,
        read_urls=settings.read_database_urls,
        direct_url=settings.direct_database_url,
    )
    queue = JobQueue(
        database.direct_url,
        database,
        settings.model_copy(update={"worker_concurrency": concurrency}),
    )
    try:
        await queue.open()
        console.print(f"worker started (concurrency {concurrency}); stop with Ctrl-C or SIGTERM")
        await queue.run_worker(concurrency=concurrency)
    finally:
        await queue.close()
        await database.dispose()
