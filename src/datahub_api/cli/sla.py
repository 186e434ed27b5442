"""``datahub-api sla``: the service-level report of a month."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from datahub_api.cli.support import (
    clear_errors,
    ensure_migrated,
    fail,
    load_settings,
    open_database,
)
from datahub_api.db import create_database
from datahub_api.errors import DatahubError

sla_cli = typer.Typer(help="Service levels per channel (see docs/sla.md).", no_args_is_help=True)


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
        settings = load_settings()
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
            ensure_migrated(url, settings)
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
