"""The `datahub-api` command line: the commands are here, what they share in ``support`` and
the operator's commands (organisations, contracts, clients, keys) in ``operators``;
``python -m datahub_api.cli`` runs it too (``__main__``)."""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from datahub_api import embedded_postgres
from datahub_api.cli.operators import clients_cli, contracts_cli, keys_cli, organisations_cli
from datahub_api.cli.support import clear_errors, console, fail, open_database
from datahub_api.database_location import locate_database
from datahub_api.db import create_database, libpq_url, normalize_database_url
from datahub_api.errors import DatahubError
from datahub_api.settings import Settings, get_settings

if TYPE_CHECKING:
    from datahub_api.access_points.files import UploadFormat
    from datahub_api.access_points.service import AccessPointRow, RowProblem, StoreOutcome

cli = typer.Typer(
    name="datahub-api",
    help="A DSO's metering-data hub for energy service providers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
DEFAULT_OPENAPI_FILE = Path("openapi/openapi.json")


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's validation error, made into one line
        fail(f"invalid configuration: {exc}".splitlines()[0] + " (see README, Configuration)", 2)


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


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = _settings()
    with clear_errors():
        url, _ = open_database(settings)
        # DDL and alembic's version lock need no pooler in between.
        if settings.direct_database_url:
            url = normalize_database_url(settings.direct_database_url)
        run_migrations(url)
    console.print("database is at head")


def _seed(
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


@cli.command("seed-demo")
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
    settings = _settings()
    with clear_errors():
        url, embedded = open_database(settings)
        run_migrations(url)
        _seed(url, settings, eans, days, seed, replace=replace, only_if_empty=False)
        if embedded is not None:
            embedded.release()  # stopped and ready to copy, unless another process uses it
    from datahub_api.demo.service import credentials_path

    console.print(f"demo world loaded; credentials in {credentials_path(settings.data_dir)}")


@cli.command("db-url")
def db_url() -> None:
    """Print the URL of the database the service uses (for psql). Never stops a running server."""
    settings = _settings()
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


@cli.command("db-stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL of the data dir, if no datahub-api process is using it."""
    settings = _settings()
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


def openapi_document() -> str:
    """The OpenAPI spec as committed: the same whatever the settings (sandbox routes included)."""
    from datahub_api.app import create_app

    app = create_app(Settings.model_construct(sandbox=True))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


@cli.command()
def openapi(
    out: Annotated[Path, typer.Option(help="Where to write the spec.")] = DEFAULT_OPENAPI_FILE,
    check: Annotated[bool, typer.Option(help="Only check that the file is current.")] = False,
) -> None:
    """Write the OpenAPI spec (or, with --check, fail when the committed one is stale)."""
    document = openapi_document()
    if check:
        if not out.exists() or out.read_text() != document:
            fail(f"{out} is stale; run `datahub-api openapi` and commit the result")
        console.print(f"{out} is current")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document)
    console.print(f"wrote {out}")


access_points_cli = typer.Typer(
    help="The access-point registry.", no_args_is_help=True, add_completion=False
)
cli.add_typer(access_points_cli, name="access-points")

MAX_LISTED_PROBLEMS = 20


def _upload_format(path: Path, given: str | None) -> UploadFormat:
    from datahub_api.access_points.files import UploadFormat

    if given:
        return UploadFormat(given)
    suffix = path.suffix.lower()
    if suffix in {".ndjson", ".jsonl"}:
        return UploadFormat.ndjson
    if suffix == ".csv":
        return UploadFormat.csv
    fail(f"{path}: cannot tell the format from {suffix or 'no extension'!r}; use --format", 2)


def _print_problems(path: Path, problems: list[RowProblem], count: int) -> NoReturn:
    for problem in problems[:MAX_LISTED_PROBLEMS]:
        console.print(f"{path}:{problem.line}: {problem.detail}", highlight=False, markup=False)
    more = count - min(len(problems), MAX_LISTED_PROBLEMS)
    if more > 0:
        console.print(f"... and {more} more", highlight=False)
    fail(f"{count} access point(s) in {path} cannot be stored; nothing was stored")


@access_points_cli.command("import")
def import_access_points(
    file: Annotated[Path, typer.Argument(help="NDJSON (.ndjson/.jsonl) or CSV (.csv) file.")],
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="ndjson or csv; default from the file's extension."),
    ] = None,
) -> None:
    """Create or replace the access points of a file, all or nothing.

    Same rules and CSV layout as POST /api/v1/access-points:bulk; one transaction per file.
    """
    from datahub_api.access_points import service
    from datahub_api.access_points.files import read_upload

    if file_format not in {None, "ndjson", "csv"}:
        fail(f"--format must be ndjson or csv, not {file_format!r}", 2)
    if not file.is_file():
        fail(f"{file}: no such file", 2)
    upload_format = _upload_format(file, file_format)
    settings = _settings()
    with clear_errors():
        url, embedded = open_database(settings)
        try:
            _ensure_migrated(url, settings)
            with step_progress("import") as progress:
                checking = progress.add_task(f"reading {file.name}", total=file.stat().st_size)

                def lines() -> Iterator[str]:
                    with file.open(encoding="utf-8-sig", newline="") as handle:
                        for line in handle:
                            progress.advance(checking, len(line.encode()))
                            yield line

                try:
                    upload = read_upload(lines(), upload_format)
                except UnicodeDecodeError as exc:
                    fail(f"{file}: not UTF-8 text ({exc.reason})")
                if upload.problem_count:
                    progress.stop()
                    _print_problems(file, upload.problems, upload.problem_count)
                if not upload.rows:
                    fail(f"{file} holds no access points")
                storing = progress.add_task("storing", total=len(upload.rows))
                outcome = asyncio.run(
                    _store_access_points(
                        url, settings, upload.rows, lambda n: progress.advance(storing, n)
                    )
                )
        except service.BulkRejected as rejected:
            _print_problems(file, rejected.problems, len(rejected.problems))
        finally:
            if embedded is not None:
                embedded.release()
    console.print(
        f"imported {len(upload.rows)} access points from {file}: {len(outcome.created)} "
        f"created, {len(outcome.updated)} updated, {len(outcome.unchanged)} unchanged",
        highlight=False,
    )


def _ensure_migrated(url: str, settings: Settings) -> None:
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


async def _store_access_points(
    url: str, settings: Settings, rows: list[AccessPointRow], on_progress: Callable[[int], None]
) -> StoreOutcome:
    from datahub_api.access_points import service

    database = create_database(url, settings)
    try:
        async with database.write_sessions() as session:
            outcome = await service.store_access_points(session, rows, on_progress=on_progress)
            await session.commit()
            return outcome
    finally:
        await database.dispose()


@cli.command("ingest")
def ingest_readings(
    files: Annotated[
        list[Path],
        typer.Argument(help="CSV (.csv) or NDJSON (.ndjson/.jsonl) reading files, or .gz of them."),
    ],
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Readings per transaction (all or nothing per chunk).")
    ] = 1_000_000,
) -> None:
    """Store meter readings from head-end files, streamed (files of any size).

    Same layout and rules as POST /api/v1/ingest/meter-readings. Each chunk of --chunk-rows
    readings is stored all or nothing in its own transaction; at the first refused chunk the
    command stops (earlier chunks stay stored; re-ingesting the fixed file is harmless, as
    identical readings change nothing)."""
    from datahub_api.meter_data.files import input_format_of

    formats = {}
    for file in files:
        if not file.is_file():
            fail(f"{file}: no such file", 2)
        found = input_format_of(file)
        if found is None:
            fail(f"{file}: name it .csv, .ndjson or .jsonl (optionally .gz)", 2)
        formats[file] = found
    settings = _settings()
    with clear_errors():
        url, embedded = open_database(settings)
        try:
            _ensure_migrated(url, settings)
            asyncio.run(_ingest_files(url, settings, formats, chunk_rows))
        finally:
            if embedded is not None:
                embedded.release()


async def _ingest_files(
    url: str, settings: Settings, files: dict[Path, Any], chunk_rows: int
) -> None:
    import time

    from datahub_api.meter_data.files import ChunkRejected, ingest_file

    database = create_database(url, settings)
    try:
        for file, input_format in files.items():
            started = time.monotonic()
            with step_progress("ingest") as progress:
                task = progress.add_task(f"reading {file.name}", total=file.stat().st_size)
                try:
                    totals = await ingest_file(
                        database,
                        file,
                        input_format,
                        settings=settings,
                        chunk_rows=chunk_rows,
                        on_bytes=functools.partial(progress.advance, task),
                    )
                except ChunkRejected as rejected:
                    progress.stop()
                    for problem in rejected.problems[:MAX_LISTED_PROBLEMS]:
                        console.print(
                            f"{file}:{problem.line}: {problem.detail}",
                            highlight=False,
                            markup=False,
                        )
                    more = rejected.total - min(len(rejected.problems), MAX_LISTED_PROBLEMS)
                    if more > 0:
                        console.print(f"... and {more} more", highlight=False)
                    fail(
                        f"{rejected.total} problem(s) in {file} from line {rejected.first_line}: "
                        f"nothing of that chunk was stored; {rejected.stored.rows} readings "
                        "before it were"
                    )
            if totals.rows == 0:
                fail(f"{file} holds no readings")
            seconds = max(time.monotonic() - started, 1e-6)
            console.print(
                f"ingested {totals.rows} readings from {file} in {totals.chunks} chunk(s), "
                f"{seconds:.1f} s ({totals.rows / seconds:,.0f}/s): day blocks "
                f"{totals.blocks_created} created, {totals.blocks_filled} filled, "
                f"{totals.blocks_corrected} corrected, {totals.blocks_unchanged} unchanged",
                highlight=False,
            )
    finally:
        await database.dispose()


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def print_welcome(settings: Settings, credentials: dict[str, Any] | None) -> None:
    base = settings.base_url
    lines = [
        "",
        f"[bold green]datahub-api is serving on {base}[/]",
        f"  API docs:   {base}/docs   (Authorize with a client id and secret below)",
        f"  portal:     {base}/portal/login",
        f"  health:     {base}/healthz   readiness: {base}/readyz   metrics: {base}/metrics",
        "  mails:      "
        + (
            "through the SMTP server of DATAHUB_SMTP_URL"
            if settings.smtp_url is not None
            else f"written as .eml files in {settings.mail_path}"
        )
        + f", listed at {base}/portal/operator/mail",
    ]
    if credentials is not None:
        from datahub_api.demo.service import credentials_path

        lines.append(f"  demo credentials: {credentials_path(settings.data_dir)}")
        lines.extend(describe_credentials(credentials))
    lines.append("  stop with Ctrl-C")
    console.print("\n".join(lines), highlight=False)


CredentialsDescriber = Callable[[dict[str, Any]], list[str]]


def describe_access_points(credentials: dict[str, Any]) -> list[str]:
    points: list[dict[str, Any]] = credentials.get("access_points") or []
    if not points:
        return []
    communicating = sum(1 for point in points if point["communicating"])
    gvm = sum(1 for point in points if point["gvm"])
    solar = sum(1 for point in points if "PV" in point.get("local_production", ()))
    batteries = sum(1 for point in points if "BAT" in point.get("local_production", ()))
    dynamic = sum(1 for point in points if point.get("smr3"))
    return [
        f"  access points: {len(points)} ({communicating} with a communicating digital meter, "
        f"{gvm} GVM; {solar} with solar panels, {batteries} batteries, {dynamic} dynamic "
        "contracts); operator API: /api/v1/access-points"
    ]


def credential_describers() -> list[CredentialsDescriber]:
    """Each domain that adds demo credentials adds a line-maker here."""
    from datahub_api.mandates.demo_data import describe_mandates
    from datahub_api.organisations.demo_data import describe_parties
    from datahub_api.portal.demo_data import describe_portal_logins

    return [describe_parties, describe_access_points, describe_portal_logins, describe_mandates]


def describe_credentials(credentials: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for describer in credential_describers():
        lines.extend(describer(credentials))
    return lines


@cli.command()
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
    settings = _settings().model_copy(update=overrides)
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
            _seed(url, settings, 200, 365, 42, replace=False, only_if_empty=True)
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


@cli.command()
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

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    with clear_errors():
        url, embedded = open_database(settings)
        try:
            _ensure_migrated(url, settings)
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


def _add_operator_commands() -> None:
    cli.add_typer(organisations_cli, name="organisations")
    cli.add_typer(contracts_cli, name="contracts")
    cli.add_typer(clients_cli, name="clients")
    cli.add_typer(keys_cli, name="keys")


_add_operator_commands()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


sla_cli = typer.Typer(help="Service levels per channel (see README, SLA).", no_args_is_help=True)
cli.add_typer(sla_cli, name="sla")


@sla_cli.command("report")
def sla_report(
    channel: Annotated[
        str,
        typer.Option(
            help="api, portal, nps (informative), nps_historical (validated) or annual_history."
        ),
    ] = "api",
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")] = "",
    organisation_id: Annotated[
        int | None, typer.Option(help="One ESP's figures (default: DSO-wide, and per ESP).")
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the chart (.svg or .png); default sla-CHANNEL-MONTH.svg."
        ),
    ] = None,
    roll_up: Annotated[
        bool, typer.Option(help="Roll up the days ingest touched first (as the job does).")
    ] = True,
) -> None:
    """Print a month's service level per day, and write the chart of the daily share on
    time against the target line."""
    from datetime import UTC, datetime

    from datahub_api.auth.principal import Principal, Role, Scope
    from datahub_api.brussels_days import today_in_brussels
    from datahub_api.sla import chart as sla_chart
    from datahub_api.sla import service as sla_service

    with clear_errors():
        try:
            sla_channel = sla_service.SlaChannel(channel)
        except ValueError:
            known = ", ".join(c.value for c in sla_service.SlaChannel)
            fail(f"unknown channel {channel!r}; one of: {known}", 2)
        try:
            first = sla_chart.parse_month(month or today_in_brussels().strftime("%Y-%m"))
        except DatahubError as exc:  # out of the range of iso_dates, or not YYYY-MM
            fail(f"--month: {exc.detail}", 2)
        path = chart or Path(f"sla-{sla_channel.value}-{first:%Y-%m}.svg")
        if path.suffix.lower() not in (".svg", ".png"):
            fail("--chart must end in .svg or .png", 2)
        settings = _settings()
        url, embedded = open_database(settings)
        operator = Principal(subject="cli", role=Role.operator, scopes=frozenset({Scope.sla_all}))

        async def go() -> sla_service.Report:
            database = create_database(url, settings)
            try:
                now = datetime.now(UTC)
                if roll_up:
                    async with database.write_sessions() as session:
                        await sla_service.roll_up(session, settings, now)
                        await session.commit()
                async with database.read_sessions() as session:
                    return await sla_service.report(
                        session,
                        operator,
                        settings,
                        channel=sla_channel,
                        start=first,
                        end=sla_service.next_month(first),
                        group_by=sla_service.GroupBy.day,
                        organisation_id=organisation_id,
                        now=now,
                    )
            finally:
                await database.dispose()

        try:
            _ensure_migrated(url, settings)
            found = asyncio.run(go())
        finally:
            if embedded is not None:
                embedded.release()
        typer.echo(sla_chart.table(found))
        for organisation, figures in sorted(found.per_organisation.items()):
            share = figures.share_on_time
            typer.echo(
                f"  ESP {organisation}: {figures.on_time}/{figures.decided} on time"
                + ("" if share is None else f" ({share * 100:.2f}%)")
            )
        path.write_bytes(sla_chart.render(found, path.suffix.lower().lstrip(".")))
        typer.echo(f"chart: {path}")
