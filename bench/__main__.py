"""`make bench`: runs every benchmark and writes bench/results/latest.json.

Each figure is measured against a limit measured (or fixed) in the same run, on the same
machine, so the ratio means something wherever it runs:

* ``storage_bytes_per_value``: bytes on disk of the day-block partitions (heap, TOAST and
  indexes) per stored value, after loading the demo world's meter data; limit 8.
* ``ingest_vs_copy``: readings per second of ``POST /api/v1/ingest/meter-readings`` (a
  1-million-value CSV, httpx against uvicorn in another process, on loopback) over those of
  a plain ``COPY`` of the same file into an unindexed table; target 0.25 or more.
* ``v3_month_vs_limit``: p50 of ``GET /v3/api/mandate/energy`` for one EAN-month of
  quarter-hours over the p50 of the same body built in-process; target 3 or less
  (``bench/v3_energy.py``).
* ``poll_304_vs_healthz``, ``mandates_page_1000_p50_ms``, ``v3_mandates_all_p50_ms``: see
  ``bench/mandate_polling.py``.
* ``load_error_rate``, ``load_rss_growth``, ``load_p99_<route>_ms``: a realistic mix for
  60 s on loopback (ESP polls with ETags, day and month pulls, the change feed, ingest
  batches); see ``bench/load.py``.
* ``sla_report_1m_seconds``, ``sla_nps_dso_wide_seconds``, ``sla_late_page_seconds``,
  ``sla_tracking_ingest_overhead``: see ``bench/sla.py``.
* ``overload_throughput_256_vs_16`` (target 0.9 or more), ``overload_admitted_p99_256_ms``
  (against the unloaded p99 of the same run; target 8 times it or less) and
  ``overload_resets`` (target 0): one-day reads by 16, then 256 concurrent clients against
  one server process; see ``bench/overload.py``.
* ``export_csv_vs_copy`` (target 0.3 or more) and ``export_xlsx_rss_mb`` (limit 200 MB): the
  yearly history export's writers over 100 EAN-years; see ``bench/history_exports.py``.

``python -m bench --small`` (or ``BENCH_SIZE=small``) runs the same code on small sizes in
seconds, for CI; ``--only GROUP`` (storage, ingest, reads, v3, sla, polling, export, load,
overload; repeatable) runs only some figures (reads, export and overload take storage along:
it loads the demo world they read). Uses ``DATABASE_URL`` when set, else an embedded
server in ``.datahub-bench/``; the benchmark database is made afresh on each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench import load, mandate_polling, overload, v3_energy
from bench.server import free_port, serve
from datahub_api import embedded_postgres
from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import make_ean
from datahub_api.access_points.schemas import AccessPointBody
from datahub_api.auth import service as auth_service
from datahub_api.auth.principal import Role
from datahub_api.brussels_days import BRUSSELS
from datahub_api.db import Database, create_database, normalize_database_url
from datahub_api.demo.service import DemoParameters, seed_demo_world
from datahub_api.meter_data import repository
from datahub_api.meter_data.blocks import expected_slots, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import FIELDS
from datahub_api.schema_migrations import upgrade_to_head
from datahub_api.settings import Settings

from . import history_exports, meter_data_reads, sla

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "latest.json"
BENCH_DIR = ROOT / ".datahub-bench"
BENCH_DATABASE = "datahub_bench"


@dataclass
class Result:
    name: str
    value: float
    unit: str
    limit: float
    ratio: float
    target: float
    passed: bool


@dataclass(frozen=True)
class Sizes:
    demo_eans: int
    demo_days: int
    ingest_eans: int
    ingest_days: int


FULL = Sizes(demo_eans=200, demo_days=365, ingest_eans=104, ingest_days=100)
SMALL = Sizes(demo_eans=20, demo_days=30, ingest_eans=10, ingest_days=10)
SLA_EAN_DAYS = {"full": 1_000_000, "small": 10_000}


def machine() -> str:
    cores = os.cpu_count()
    python = platform.python_version()
    return f"{platform.node()} {platform.machine()} {cores} cores, Python {python}"


def _settings(data_dir: Path) -> Settings:
    return Settings.model_construct(data_dir=data_dir)


async def _fresh_database(server_url: str, name: str = BENCH_DATABASE) -> str:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


# --- storage -----------------------------------------------------------------------------


async def storage_bytes_per_value(database: Database, data_dir: Path, sizes: Sizes) -> Result:
    async with database.write_sessions() as session:
        await seed_demo_world(
            session,
            _settings(data_dir),
            DemoParameters(eans=sizes.demo_eans, days=sizes.demo_days, seed=42),
            replace=True,
        )
        await session.commit()
    async with database.write_sessions() as session:
        size = await repository.storage_bytes(session)
        values = int(
            await session.scalar(text("SELECT sum(filled_slots) FROM meter_day_blocks")) or 0
        )
    value = size / values
    return Result(
        "storage_bytes_per_value", round(value, 3), "bytes", 8, round(value / 8, 3), 1.0, value <= 8
    )


# --- ingest vs COPY ----------------------------------------------------------------------


async def _register(database: Database, count: int) -> list[tuple[str, str]]:
    points = [(make_ean(5_000_000 + n), f"1SAG{5_000_000 + n:010d}") for n in range(count)]
    await _register_points(database, points)
    return points


async def _register_points(database: Database, points: list[tuple[str, str]]) -> None:
    rows = [
        access_points_service.AccessPointRow(
            line,
            AccessPointBody.model_validate(
                {
                    "ean": ean,
                    "energy_type": "E",
                    "meter_type": "DM",
                    "physical_meters": [
                        {"seq_number": "1", "meter_id": meter, "installed_from": "2020-01-01"}
                    ],
                    "communication_periods": [{"valid_from": "2020-01-01"}],
                }
            ),
        )
        for line, (ean, meter) in enumerate(points, start=1)
    ]
    async with database.write_sessions() as session:
        await access_points_service.store_access_points(session, rows)
        await session.commit()


def _write_csv(path: Path, points: list[tuple[str, str]], days: int) -> int:
    """Quarter-hour readings of household-like sizes; the number of rows."""
    rng = random.Random(1)
    first = date(2026, 1, 5)
    starts = {}
    for n in range(days):
        day = first + timedelta(days=n)
        starts[day] = [
            slot_start(day, Granularity.PT15M, slot).astimezone(BRUSSELS).isoformat()
            for slot in range(expected_slots(day, Granularity.PT15M))
        ]
    count = 0
    with path.open("w") as out:
        out.write(",".join(FIELDS) + "\n")
        for ean, meter in points:
            for day_starts in starts.values():
                prefix = f"{ean},{meter},offtake,total,"
                lines = [
                    f"{prefix}{start},PT15M,{rng.randint(20, 900) / 1000:.3f},kWh,READ\n"
                    for start in day_starts
                ]
                out.writelines(lines)
                count += len(lines)
    return count


async def _copy_seconds(url: str, path: Path) -> float:
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_copy (ean text, meter_id text, "
            "direction text, register text, start timestamptz, granularity text, "
            "value numeric, unit text, validation_state text)"
        )
        await connection.execute("TRUNCATE bench_copy")
        started = time.perf_counter()
        await connection.copy_to_table("bench_copy", source=str(path), format="csv", header=True)
        seconds = time.perf_counter() - started
        await connection.execute("DROP TABLE bench_copy")
        return seconds
    finally:
        await connection.close()


async def ingest_vs_copy(database: Database, url: str, data_dir: Path, sizes: Sizes) -> Result:
    points = await _register(database, sizes.ingest_eans)
    async with database.write_sessions() as session:
        created = await auth_service.create_client(
            session, name="bench head-end", role=Role.head_end, organisation_id=None
        )
        await session.commit()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "readings.csv"
        rows = _write_csv(path, points, sizes.ingest_days)
        copy_seconds = await _copy_seconds(url, path)
        port = free_port()
        server = serve(url, data_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=600) as client:
                token = await client.post(
                    "/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": created.client.client_id,
                        "client_secret": created.secret,
                    },
                )
                token.raise_for_status()
                headers = {
                    "Authorization": f"Bearer {token.json()['access_token']}",
                    "Content-Type": "text/csv",
                }

                async def body() -> Any:
                    with path.open("rb") as handle:
                        while chunk := handle.read(1 << 20):
                            yield chunk

                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/ingest/meter-readings", content=body(), headers=headers
                )
                ingest_seconds = time.perf_counter() - started
            if response.status_code != 200 or response.json()["rows"] != rows:
                raise RuntimeError(f"ingest failed: {response.status_code} {response.text[:500]}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    ingest_rate, copy_rate = rows / ingest_seconds, rows / copy_seconds
    ratio = ingest_rate / copy_rate
    print(
        f"  {rows} readings: ingest {ingest_seconds:.2f} s, COPY {copy_seconds:.2f} s",
        flush=True,
    )
    return Result(
        "ingest_vs_copy", round(ingest_rate), "rows/s", round(copy_rate), round(ratio, 3), 0.25,
        ratio >= 0.25,
    )  # fmt: skip


# --- reading back ------------------------------------------------------------------------


async def native_reads(database: Database, url: str, data_dir: Path, sizes: Sizes) -> list[Result]:
    port = free_port()
    server = serve(url, data_dir, port)
    try:
        found = await meter_data_reads.measure(
            database, f"http://127.0.0.1:{port}", server.pid, data_dir, sizes.demo_days - 1
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    route_ms, limit_ms = found["route_p50"] * 1000, found["limit_p50"] * 1000
    ratio = route_ms / limit_ms
    print(
        f"  one EAN-year ({found['values']} values, {found['eans']} EANs): route p50 "
        f"{route_ms:.1f} ms, in-process limit p50 {limit_ms:.1f} ms; CSV streamed "
        f"{found['csv_mb']:.0f} MB",
        flush=True,
    )
    growth = found["rss_growth_mb"]
    return [
        Result(
            "native_year_vs_limit", round(route_ms, 1), "ms p50", round(limit_ms, 1),
            round(ratio, 2), 4.0, ratio <= 4,
        ),
        Result(
            "csv_stream_rss_mb", round(growth, 1), "MB", 50, round(growth / 50, 3), 1.0,
            growth <= 50,
        ),
    ]  # fmt: skip


# --- the SLA tracker (bench/sla.py) ------------------------------------------------------


async def sla_figures(database: Database, url: str, data_dir: Path, sizes: Sizes) -> list[Result]:
    size = SLA_EAN_DAYS["small" if sizes is SMALL else "full"]
    port = free_port()
    server = serve(url, data_dir, port)
    try:
        seconds, roll_up, count = await sla.report_seconds(
            database, f"http://127.0.0.1:{port}", size
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    total_bytes, heap_bytes, rows = await sla.ean_day_bytes(database)
    unchanged, changed, reclassified = await sla.reclassify_seconds(database, sla.REPORT_FIRST)
    print(
        f"  SLA roll-up of the month: {roll_up / count * 1e6:.1f} us per EAN-day; "
        f"sla_ean_days {total_bytes / rows:.0f} bytes per EAN-day with its indexes "
        f"({heap_bytes / rows:.0f} heap), {rows} rows; after a registry import rewrote every "
        f"communication period: reclassification {unchanged:.1f} s "
        f"({unchanged / rows * 1e6:.1f} us per EAN-day, two runs); after 1% of them ended "
        f"mid-month: {reclassified} EAN-days reclassified and their days rolled up in "
        f"{changed:.1f} s",
        flush=True,
    )
    points = [
        (make_ean(6_000_000 + n), f"1SAG{6_000_000 + n:010d}") for n in range(sizes.ingest_eans)
    ]
    await _register_points(database, points)
    overhead, on, off, round_days, direct = await sla.ingest_overhead(
        database, _settings(data_dir), points, round_seconds=0.3 if sizes is SMALL else 5.0
    )
    # After the ingest rounds, which the second month's EAN-days would weigh on.
    live = await sla.live_reads(database, sla.REPORT_FIRST)
    nps_month = max(value for name, value in live.items() if name.startswith("nps_"))
    late_page = max(value for name, value in live.items() if name.startswith("late_"))
    print(
        "  SLA reads once computed from the EAN-days (median ms): "
        + ", ".join(f"{name} {value * 1000:.1f}" for name, value in live.items()),
        flush=True,
    )
    print(
        f"  SLA report over {count} EAN-days: median {seconds * 1000:.0f} ms (roll-up of the "
        f"month {roll_up:.1f} s); ingest rounds of {len(points)} EANs x {round_days} days: "
        f"median with tracking {on:.2f} s, without {off:.2f} s, {sla.INGEST_PAIRS} pairs; "
        f"the tracking statement took {direct:.3f} of the rest of the tracked rounds",
        flush=True,
    )
    return [
        Result(
            "sla_report_1m_seconds", round(seconds, 3), "s", 1.0, round(seconds, 3), 1.0,
            seconds <= 1.0,
        ),
        Result(
            "sla_nps_dso_wide_seconds", round(nps_month, 4), "s", 0.1,
            round(nps_month / 0.1, 3), 1.0, nps_month <= 0.1,
        ),
        Result(
            "sla_late_page_seconds", round(late_page, 4), "s", 0.25,
            round(late_page / 0.25, 3), 1.0, late_page <= 0.25,
        ),
        Result(
            "sla_tracking_ingest_overhead", round(overhead, 3), "ratio", 0.10,
            round(overhead / 0.10, 3), 1.0, overhead <= 0.10,
        ),
    ]  # fmt: skip


# --- the run -----------------------------------------------------------------------------


GROUPS = ("storage", "ingest", "reads", "v3", "sla", "polling", "export", "load", "overload")


# The groups that read the demo world the "storage" group loads.
ON_THE_DEMO_WORLD = frozenset({"reads", "export", "overload"})


async def run(url: str, data_dir: Path, sizes: Sizes, only: Sequence[str] = GROUPS) -> list[Result]:
    await asyncio.to_thread(upgrade_to_head, url)
    database = create_database(url, _settings(data_dir))
    small = sizes is SMALL
    try:
        results = []
        if "storage" in only:
            results.append(await storage_bytes_per_value(database, data_dir, sizes))
            print(f"  measured {results[-1].name}", flush=True)
        if "ingest" in only:
            results.append(await ingest_vs_copy(database, url, data_dir, sizes))
        if "reads" in only:
            results.extend(await native_reads(database, url, data_dir, sizes))
        if "v3" in only:
            figure = await v3_energy.v3_month_vs_limit(database, url, data_dir, small=small)
            results.append(Result(**asdict(figure)))
        if "sla" in only:
            results.extend(await sla_figures(database, url, data_dir, sizes))
        if "polling" in only:
            polling = await mandate_polling.run(database, url, data_dir, small=small)
            results.extend(Result(**asdict(figure)) for figure in polling)
        if "export" in only:  # over the demo world that "storage" loads
            exports = await history_exports.run(database, url, sizes.demo_days)
            results.extend(Result(**asdict(figure)) for figure in exports)
        if "load" in only:
            figures = await load.run(database, url, data_dir, _register_points, small=small)
            results.extend(Result(**asdict(figure)) for figure in figures)
        if "overload" in only:  # over the demo world that "storage" loads
            found = await overload.run(database, url, data_dir, small=small, runs=1 if small else 3)
            results.extend(Result(**asdict(figure)) for figure in found)
        return results
    finally:
        await database.dispose()


def table(results: list[Result]) -> str:
    """The one table: figure, value (unit), limit measured (or fixed) in the same run,
    ratio, target ratio and pass/fail."""
    lines = [
        f"{'figure':30} {'value':>12} {'unit':>8} {'limit':>12} {'ratio':>8} {'target':>7}  result"
    ]
    for r in results:
        lines.append(
            f"{r.name:30} {r.value:>12,} {r.unit:>8} {r.limit:>12,} {r.ratio:>8} "
            f"{r.target:>7}  {'pass' if r.passed else 'FAIL'}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="Small sizes: a smoke test for CI.")
    parser.add_argument(
        "--only",
        action="append",
        choices=GROUPS,
        help="Run only this group of figures (repeatable); default all.",
    )
    arguments = parser.parse_args()
    only = tuple(arguments.only or GROUPS)
    if ON_THE_DEMO_WORLD.intersection(only) and "storage" not in only:
        only = ("storage", *only)  # it loads the demo world they read
    small = arguments.small or os.environ.get("BENCH_SIZE") == "small"
    sizes = SMALL if small else FULL
    print(f"machine: {machine()}  size: {'small' if small else 'full'}", flush=True)
    embedded = None
    configured = os.environ.get("DATABASE_URL")
    BENCH_DIR.mkdir(exist_ok=True)
    if configured:
        server_url = normalize_database_url(configured)
    else:
        embedded = embedded_postgres.start(BENCH_DIR / "pg", database="postgres")
        server_url = embedded.url("postgres")
    try:
        url = asyncio.run(_fresh_database(server_url))
        results = asyncio.run(run(url, BENCH_DIR / "data", sizes, only))
    finally:
        if embedded is not None:
            embedded.release()
    print(table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine(),
                "date": datetime.now(UTC).isoformat(),
                "size": "small" if small else "full",
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    if small:
        print("small run: a smoke test; fixed costs dominate, so the figures are not judged")
    elif not all(r.passed for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
