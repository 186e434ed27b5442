"""Yearly history exports: ``export_csv_vs_copy`` and ``export_xlsx_rss_mb``.

On the demo world loaded by ``storage_bytes_per_value`` (quarter-hours of digital meters),
``EAN_YEARS`` EANs (100; all there are in ``--small`` mode) over the demo's window:

* ``export_csv_vs_copy``: values per second of the export job's CSV writer (the code the
  ``history_exports.build`` job runs: the Fluvius layout, month by month, one file per EAN,
  every quarter-hour of the window including gap rows) over those of a PostgreSQL
  ``COPY ... TO`` of the same values into a file, in the same run. The blocks store their
  values packed, so the values are first unpacked (untimed) into an unlogged table of one
  row per value, and COPY writes that table out. Target 0.3 or more.
* ``export_xlsx_rss_mb``: peak resident memory of a fresh process that writes the same
  EAN-years as XLSX (XlsxWriter's constant-memory mode), sampled every 20 ms. Limit 200 MB.

Both exports run in a child process (``python -m bench.history_exports``), so the memory
figure is the exporter's alone and the timings do not share a process with the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.figures import Figure
from bench.meter_data_reads import _PeakRss
from datahub_api.access_points import service as access_points_service
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.db import Database, create_database
from datahub_api.history_exports import writer
from datahub_api.history_exports.models import ExportFormat
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.meter_data.blocks import slot_start
from datahub_api.meter_data.fluvius_csv import (
    QuarterHourCsv,
    TariffCalendar,
    exported_access_point,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.series import ReadWindow
from datahub_api.settings import Settings

EAN_YEARS = 100
RSS_LIMIT_MB = 200.0
SPEED_TARGET = 0.3


async def _eans(database: Database, days: int) -> tuple[list[str], date, date]:
    end = today_in_brussels()
    start = end - timedelta(days=days)
    async with database.read_sessions() as session:
        eans = (
            await session.scalars(
                text(
                    "SELECT ean FROM meter_day_blocks WHERE granularity = 1 AND day >= :start "
                    "GROUP BY ean ORDER BY ean LIMIT :limit"
                ),
                {"start": start, "limit": EAN_YEARS},
            )
        ).all()
    if not eans:
        raise RuntimeError("the demo world has no quarter-hour data")
    return list(eans), start, end


async def _export(url: str, export_format: str, eans: list[str], start: str, end: str) -> None:
    """The child: write every EAN's file as the export job does; print the seconds."""
    database = create_database(url, Settings.model_construct())
    window = ReadWindow(
        day_start(date.fromisoformat(start)),
        day_start(date.fromisoformat(end)),
        Granularity.P1D,
    )
    calendar = TariffCalendar()
    lines = QuarterHourCsv(calendar)
    rows = 0
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        for ean in eans:
            async with database.read_sessions() as session:
                point = exported_access_point(
                    await access_points_service.get_access_point(session, ean)
                )
                rows += await writer.write_ean_file(
                    session,
                    Path(directory) / f"{ean}.{export_format}",
                    ExportFormat(export_format),
                    point,
                    window,
                    calendar,
                    gvm=True,
                    lines=lines,
                )
        seconds = time.perf_counter() - started
    await database.dispose()
    print(json.dumps({"seconds": seconds, "rows": rows}), flush=True)


def _child(url: str, export_format: str, eans: list[str], start: date, end: date) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.history_exports", url, export_format,
               start.isoformat(), end.isoformat(), *eans]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    with _PeakRss(process.pid) as rss:
        output, _ = process.communicate(timeout=3600)
    if process.returncode != 0:
        raise RuntimeError(f"the {export_format} export failed ({process.returncode})")
    found: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    found["peak_rss_mb"] = rss.peak / 1e6
    return found


async def _copy(
    database: Database, url: str, eans: list[str], start: date, end: date
) -> tuple[float, int]:
    """Seconds and rows of a ``COPY ... TO`` of the same values: the blocks' quarter-hours
    (unpacked once, untimed, into an unlogged table of one row per value: EAN, meter,
    direction, register, start, value, state) written out as CSV by PostgreSQL."""
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS bench_export_values; CREATE UNLOGGED TABLE bench_export_values "
            "(ean text, meter_id text, direction smallint, register smallint, "
            "start timestamptz, value bigint, state smallint)"
        )
        for ean in eans:
            async with database.read_sessions() as session:
                blocks = await meter_data_repository.read_blocks(
                    session, ean, start, end, granularity=Granularity.PT15M
                )
            await connection.copy_records_to_table(
                "bench_export_values",
                records=[
                    (
                        ean, block.key.meter_id, int(block.key.direction),
                        int(block.key.register),
                        slot_start(block.key.day, Granularity.PT15M, index),
                        value, block.states[index] or None,
                    )
                    for block in blocks
                    for index, value in enumerate(block.values)
                ],
            )  # fmt: skip
        with tempfile.TemporaryDirectory() as directory:
            target = Path(directory) / "copy.csv"
            started = time.perf_counter()
            status = await connection.copy_from_query(
                "SELECT * FROM bench_export_values", output=str(target), format="csv"
            )
            seconds = time.perf_counter() - started
        await connection.execute("DROP TABLE bench_export_values")
        return seconds, int(status.split()[-1])
    finally:
        await connection.close()


async def run(database: Database, url: str, days: int) -> list[Figure]:
    eans, start, end = await _eans(database, days)
    copy_seconds, values = await _copy(database, url, eans, start, end)
    exported = await asyncio.to_thread(_child, url, "csv", eans, start, end)
    ours = values / exported["seconds"]
    theirs = values / copy_seconds
    ratio = ours / theirs
    print(
        f"  history export of {len(eans)} EANs x {(end - start).days} days ({values} stored "
        f"values, {exported['rows']} rows with gaps): CSV {ours:,.0f} values/s (peak RSS "
        f"{exported['peak_rss_mb']:.0f} MB), COPY {theirs:,.0f} values/s",
        flush=True,
    )
    xlsx = await asyncio.to_thread(_child, url, "xlsx", eans, start, end)
    print(
        f"  XLSX {values / xlsx['seconds']:,.0f} values/s, peak RSS {xlsx['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    peak = xlsx["peak_rss_mb"]
    return [
        Figure(
            "export_csv_vs_copy", round(ours), "values/s", round(theirs), round(ratio, 3),
            SPEED_TARGET, ratio >= SPEED_TARGET,
        ),
        Figure(
            "export_xlsx_rss_mb", round(peak, 1), "MB", RSS_LIMIT_MB,
            round(peak / RSS_LIMIT_MB, 3), 1.0, peak < RSS_LIMIT_MB,
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    asyncio.run(_export(sys.argv[1], sys.argv[2], sys.argv[5:], sys.argv[3], sys.argv[4]))
