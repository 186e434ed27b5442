"""`make bench-scale`: a synthetic DSO built through the public paths, and the figures of
issue 19 measured on it; writes ``bench/results/scale.json`` in the shape of ``latest.json``.

The DSO, deterministic per ``--seed`` and generated streamed (one chunk of access points or
of readings in memory or on disk at a time):

* the registry: ``--access-points`` access points (60% electricity, 40% gas; 80% digital
  meters with a communication period, the rest classic; 15% of the electricity ones with PV;
  30% rented: a tenant's customer account and a landlord's grid-user account as parties,
  about three rented access points per landlord, the accounts made set-based first),
  imported as CSV files of ``--chunk`` rows through the bulk import's reader and service
  (``read_upload`` + ``store_access_points``, what ``datahub-api access-points import`` runs),
  one transaction per file;
* ``--esps`` ESPs with an approved ``api`` contract and ``--mandates`` mandates, one sixth of
  them held by the first ESP (50,000 of 300,000 at full size), stored set-based;
* a full year of offtake quarter-hours for ``--year-eans`` digital electricity meters, and
  one national day for every digital meter (quarter-hours in both directions for
  electricity, hours in m3 for gas), as head-end CSV files ingested by ``ingest_file`` (what
  ``datahub-api ingest`` runs), each file also loaded with a plain ``COPY`` into an unindexed
  table for the ingest figure's baseline;
* a month of the SLA tracker's EAN-days for every communicating access point, made in SQL as
  ``bench/sla.py`` does.

Figures (value, limit or baseline from the same run, ratio, target):

* ``scale_access_points``: access points in the registry; limit 1,000,000.
* ``scale_day_ingest_vs_copy``: readings per second of the national day's ingest over those
  of ``COPY`` of the same files; target 0.5 or more.
* ``scale_storage_bytes_per_value``: bytes of the day-block partitions (heap, TOAST,
  indexes) per stored value; limit 5.
* ``scale_read_year_p50_1m_vs_1k``: p50 of one EAN-year read (the day blocks of a year of
  offtake quarter-hours, fetched and serialised with orjson in process) with the whole DSO
  stored over the same read measured when only the first 1,000 access points were; target
  1.3 or less.
* ``scale_mandate_poll_p50_ms``: p50 of one 1,000-mandate page of ``GET /api/v1/mandates``
  for the first ESP (uvicorn in another process, httpx on loopback); limit 50 ms.
* ``scale_sla_month_report_seconds``: median of ``GET /api/v1/sla/report`` over the month
  of EAN-days after its roll-up; limit 1 s.
* ``scale_sla_late_page_seconds``: the slowest median of a 100-item page of SLA late items
  over the month (first page and one from day 21; DSO-wide, the first ESP's, the last
  ESP's, DSO-wide on NPS; ``bench/sla.py``); limit 0.25 s. The NPS channel's DSO-wide
  figures of the month are timed with them (written in the notes, not judged).
* ``scale_projected_tb_per_year``: bytes per value x 700 million values a day x 365, in TB;
  limit 2.

Also written (not judged): seconds per stage, peak resident memory of this process, of the
server process and of the largest PostgreSQL backend, the database's size on disk, and its
largest tables and indexes. ``--small`` is CI's smoke run (seconds; figures not judged).
Uses the server at ``DATABASE_URL`` when set (its ``pg_stat_statements`` as configured
there), else an embedded PostgreSQL in ``.datahub-bench/`` (restarted once with
``pg_stat_statements`` loaded when it ships it); a database of its own, made afresh.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import tempfile
import threading
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from bench.__main__ import BENCH_DIR, Result, _copy_seconds, _fresh_database, machine, table
from bench.esp import BenchEsp, add_api_esp
from bench.mandate_polling import median_ms
from bench.server import free_port, serve
from datahub_api import embedded_postgres
from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import make_ean
from datahub_api.access_points.files import UploadFormat, read_upload
from datahub_api.accounts import repository as accounts_repository
from datahub_api.accounts.models import AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.brussels_days import BRUSSELS
from datahub_api.cli.support import file_read_whole
from datahub_api.contracts.models import Channel
from datahub_api.db import Database, create_database, normalize_database_url
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.models import DataServiceType, MandateSource, MandateStatus
from datahub_api.meter_data import repository
from datahub_api.meter_data.blocks import expected_slots, slot_start
from datahub_api.meter_data.file_chunks import WORKER_MODULE
from datahub_api.meter_data.files import ingest_file
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import FIELDS, InputFormat
from datahub_api.meter_data.models import Direction
from datahub_api.schema_migrations import upgrade_to_head
from datahub_api.settings import Settings

from . import sla

RESULTS = Path(__file__).parent / "results" / "scale.json"
DATABASE = "datahub_scale"
EAN_BASE = 10_000_000
READ_SAMPLE = 1_000  # access points stored when the baseline read is measured
READ_REQUESTS = 30
READ_EANS = 5  # EANs the read figure cycles over
# The sample's year ends on the national day, which lies in the same yearly partition: the
# year read with the whole DSO stored searches a partition holding every EAN's day.
YEAR = (date(2024, 12, 31), date(2025, 12, 31))
NATIONAL_DAY = date(2025, 12, 31)
SLA_MONTH = date(2025, 6, 1)
VALUES_PER_DAY = 700_000_000  # Fluvius: ~3.5 M electricity and ~2.3 M gas access points
GAS, DIGITAL, PV = 1, 2, 4  # bits of an access point's kind
RENTED_SHARE = 0.3  # access points whose customer (tenant) is not the grid user (landlord)
FLATS_PER_LANDLORD = 3  # rented access points per landlord, on average
ACCOUNT_BATCH = 20_000


@dataclass(frozen=True)
class Scale:
    access_points: int
    mandates: int
    esps: int
    year_eans: int
    chunk: int  # access points per import file and per head-end file
    seed: int = 19


# 1,250,000 access points (1,000,000 digital) give the month of at least 30 M SLA EAN-days.
FULL = Scale(access_points=1_250_000, mandates=300_000, esps=50, year_eans=1_000, chunk=50_000)
SMALL = Scale(access_points=2_000, mandates=600, esps=3, year_eans=3, chunk=1_000)


@dataclass
class Run:
    """What a run records beside its figures."""

    stages: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        print(f"- {name}", flush=True)
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self.stages[name] = round(seconds, 1)
        print(f"  {name}: {seconds:.1f} s", flush=True)


class PeakMemory:
    """Samples, in a thread, the resident memory of this process, of the servers started,
    of the ingest's parse workers and of PostgreSQL's processes; keeps each one's peak."""

    def __init__(self, postmaster: int | None) -> None:
        self.postmaster = psutil.Process(postmaster) if postmaster else None
        self.servers: list[int] = []
        self.peaks: dict[str, int] = {"server": 0, "parse_worker": 0, "postgres_backend": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self, pid: int) -> int:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for pid in self.servers:
                self.peaks["server"] = max(self.peaks["server"], self._rss(pid))
            for worker in self._parse_workers():
                self.peaks["parse_worker"] = max(self.peaks["parse_worker"], self._rss(worker))
            if self.postmaster is not None:
                try:
                    children = self.postmaster.children()
                except psutil.Error:
                    children = []
                for child in children:
                    rss = self._rss(child.pid)
                    self.peaks["postgres_backend"] = max(self.peaks["postgres_backend"], rss)

    @staticmethod
    def _parse_workers() -> list[int]:
        try:
            return [
                child.pid
                for child in psutil.Process().children()
                if WORKER_MODULE in child.cmdline()
            ]
        except psutil.Error:
            return []

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report_mb(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        found = {"bench_and_ingest": own, **self.peaks}
        return {name: round(rss / 2**20, 1) for name, rss in found.items()}


def _progress() -> Progress:
    return Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
    )


def kinds(scale: Scale) -> bytearray:
    """One byte per access point (:data:`GAS`, :data:`DIGITAL`, :data:`PV` bits), drawn
    from ``scale.seed``; the first ``year_eans`` are digital electricity meters."""
    rng = random.Random(scale.seed)
    found = bytearray(scale.access_points)
    for n in range(scale.access_points):
        if n < scale.year_eans:
            found[n] = DIGITAL
            continue
        gas = rng.random() < 0.4
        kind = (GAS if gas else 0) | (DIGITAL if rng.random() < 0.8 else 0)
        if not gas and rng.random() < 0.15:
            kind |= PV
        found[n] = kind
    return found


def ean(n: int) -> str:
    return make_ean(EAN_BASE + n)


def meter(n: int, kind: int) -> str:
    return f"{'2FLG' if kind & GAS else '1SAG'}{EAN_BASE + n:010d}"


def landlords(scale: Scale) -> array[int]:
    """Per access point, the index of its landlord when it is rented, else -1: about
    :data:`RENTED_SHARE` of them, each landlord drawn uniformly (so a landlord rents out
    one to a dozen), from a source of its own (the kinds stay what they were for a seed)."""
    rng = random.Random(f"landlords-{scale.seed}")
    count = max(1, round(scale.access_points * RENTED_SHARE / FLATS_PER_LANDLORD))
    found = array("i", [-1]) * scale.access_points
    for n in range(scale.access_points):
        if rng.random() < RENTED_SHARE:
            found[n] = rng.randrange(count)
    return found


@dataclass
class Parties:
    """Per access point, the account ids of its grid user and its customer (0: none)."""

    grid_user: array[int]
    customer: array[int]
    landlords: int
    tenants: int


async def _add_accounts(
    database: Database, role: AccountRole, names: list[str], password_hash: str
) -> list[int]:
    async with database.write_sessions() as session:
        ids = await accounts_repository.add_accounts(
            session,
            accounts_repository.NewAccounts(
                username=names,
                password_hash=[password_hash] * len(names),
                display_name=names,
                email=[None] * len(names),
                role=[role.value] * len(names),
            ),
        )
        await session.commit()
    return ids


async def make_parties(database: Database, scale: Scale, landlord_of: array[int]) -> Parties:
    """The landlords' grid-user accounts and one tenant's customer account per rented
    access point, created set-based in batches of :data:`ACCOUNT_BATCH`."""
    password_hash = hash_password("scale-bench-not-for-login")
    count = max(landlord_of, default=-1) + 1
    landlord_ids: list[int] = []
    for first in range(0, count, ACCOUNT_BATCH):
        names = [f"scale-landlord-{k:07d}" for k in range(first, min(count, first + ACCOUNT_BATCH))]
        landlord_ids.extend(
            await _add_accounts(database, AccountRole.grid_user, names, password_hash)
        )
    parties = Parties(
        array("q", [0]) * scale.access_points, array("q", [0]) * scale.access_points, count, 0
    )
    rented = [n for n in range(scale.access_points) if landlord_of[n] >= 0]
    with _progress() as progress:
        task = progress.add_task("tenants", total=len(rented))
        for first in range(0, len(rented), ACCOUNT_BATCH):
            batch = rented[first : first + ACCOUNT_BATCH]
            names = [f"scale-tenant-{n:07d}" for n in batch]
            ids = await _add_accounts(database, AccountRole.customer, names, password_hash)
            for n, account_id in zip(batch, ids, strict=True):
                parties.customer[n] = account_id
                parties.grid_user[n] = landlord_ids[landlord_of[n]]
            progress.advance(task, len(batch))
    parties.tenants = len(rented)
    return parties


# --- the registry ------------------------------------------------------------------------


def _registry_csv(path: Path, first: int, last: int, found: bytearray, parties: Parties) -> None:
    with path.open("w") as out:
        out.write(
            "ean,energy_type,meter_type,meter_ids,meters_installed_from,"
            "communication_periods,grid_user_account_id,customer_account_ids,"
            "parties_valid_from,smr3,local_production,estimated_annual_volumes\n"
        )
        for n in range(first, last):
            kind = found[n]
            digital = kind & DIGITAL
            tenant = parties.customer[n]
            held = f"{parties.grid_user[n]},{tenant},2020-01-01" if tenant else ",,"
            out.write(
                f"{ean(n)},{'G' if kind & GAS else 'E'},{'DM' if digital else 'KM'},"
                f"{meter(n, kind)},2020-01-01,{'2020-01-01/' if digital else ''},{held},"
                f"false,{'PV:5.6' if kind & PV else ''},\n"
            )


async def import_registry(
    database: Database,
    scratch: Path,
    first: int,
    last: int,
    scale: Scale,
    found: bytearray,
    parties: Parties,
) -> None:
    """Access points ``first`` to ``last`` as CSV files of ``scale.chunk`` rows, each read
    and stored as ``datahub-api access-points import`` does, one transaction per file."""
    path = scratch / "access-points.csv"
    with _progress() as progress:
        task = progress.add_task("access points", total=last - first)
        for start in range(first, last, scale.chunk):
            end = min(last, start + scale.chunk)
            _registry_csv(path, start, end, found, parties)
            with path.open(encoding="utf-8", newline="") as handle, file_read_whole():
                upload = read_upload(handle, UploadFormat.csv)
            if upload.problem_count:
                raise RuntimeError(f"registry file refused: {upload.problems[:3]}")
            async with database.write_sessions() as session:
                await access_points_service.store_access_points(session, upload.rows)
                await session.commit()
            progress.advance(task, end - start)
    path.unlink()


# --- ESPs and mandates -------------------------------------------------------------------


async def make_esps(database: Database, count: int) -> list[BenchEsp]:
    esps = []
    async with database.write_sessions() as session:
        for n in range(count):
            esps.append(await add_api_esp(session, f"Scale ESP {n + 1}", 5_100_000 + n))
        await session.commit()
    return esps


def _esp_of(n: int, scale: Scale, esps: list[BenchEsp]) -> BenchEsp:
    """The first ESP holds one sixth of the mandates; the others share the rest."""
    if n < scale.mandates // 6 or len(esps) == 1:
        return esps[0]
    return esps[1 + n % (len(esps) - 1)]


async def load_mandates(
    database: Database, scale: Scale, esps: list[BenchEsp], found: bytearray
) -> None:
    """One mandate on each of the first ``scale.mandates`` access points, in every status a
    real ESP has, stored set-based in batches (bounded memory)."""
    now = datetime.now(UTC).replace(microsecond=0)
    statuses = [MandateStatus.approved] * 7 + [
        MandateStatus.requested,
        MandateStatus.rejected,
        MandateStatus.finished,
    ]
    services = [DataServiceType.quarter_hourly, DataServiceType.daily]
    batch = 20_000
    with _progress() as progress:
        task = progress.add_task("mandates", total=scale.mandates)
        for first in range(0, scale.mandates, batch):
            rows = []
            for n in range(first, min(scale.mandates, first + batch)):
                start = now - timedelta(days=n % 700)
                rows.append(
                    {
                        "organisation_id": _esp_of(n, scale, esps).organisation_id,
                        "ean": ean(n),
                        "reference_number": f"SCALE-{n:07d}",
                        "channel": Channel.api.value,
                        "energy_type": "G" if found[n] & GAS else "E",
                        "data_service_type": services[n % 2],
                        "data_period_from": start,
                        "data_period_to": start + timedelta(days=730),
                        "expiration_date": start + timedelta(days=730),
                        "status": statuses[n % len(statuses)],
                        "source": MandateSource.sandbox,
                        "version": 1,
                    }
                )
            async with database.write_sessions() as session:
                await mandates_repository.insert_many(session, rows, actor="bench")
                await session.commit()
            progress.advance(task, len(rows))
    async with database.write_sessions() as session:
        for esp in esps:
            await mandates_repository.bump_organisation_version(session, esp.organisation_id)
        await session.commit()


# --- meter data --------------------------------------------------------------------------


def _starts(day: date, granularity: Granularity) -> list[str]:
    return [
        slot_start(day, granularity, slot).astimezone(BRUSSELS).isoformat()
        for slot in range(expected_slots(day, granularity))
    ]


# A reading's value as the head-end writes it, by its milli-units: "0.000" to "3.000".
_VALUES = [f"{milli / 1000:.3f}" for milli in range(3_001)]
_HEAD = "\0"  # stands for an access point's "ean,meter_id," in a day's template


def drawn_values(rng: random.Random, low: int, high: int, count: int) -> tuple[str, ...]:
    """``count`` values ``f"{rng.randint(low, high) / 1000:.3f}"``: the same in the same
    order (randint's own rejection sampling on ``getrandbits``), without its cost per call."""
    span = high - low + 1
    bits = span.bit_length()
    getrandbits = rng.getrandbits
    values = _VALUES[low:]
    found = []
    for _ in range(count):
        drawn = getrandbits(bits)
        while drawn >= span:
            drawn = getrandbits(bits)
        found.append(values[drawn])
    return tuple(found)


def _template(
    starts: list[str], series: str, granularity: str, tail: str, values: list[str | None]
) -> str:
    """The lines of one series of a day, the access point's head left as :data:`_HEAD`
    and each value None in ``values`` as ``%s`` (filled per access point)."""
    return "".join(
        f"{_HEAD}{series},{start},{granularity},{'%s' if value is None else value},{tail}\n"
        for start, value in zip(starts, values, strict=True)
    )


def _day_csv(path: Path, first: int, last: int, found: bytearray, day: date, seed: int) -> int:
    """The head-end file of ``day`` for the digital meters among access points ``first`` to
    ``last``; the number of readings. Each series of the day is a template filled per
    access point (its head, then its drawn values): no formatting per reading."""
    rng = random.Random(seed * 1_000_003 + first)
    quarters, hours = _starts(day, Granularity.PT15M), _starts(day, Granularity.PT1H)
    sunny = [None if 32 <= slot < 72 else _VALUES[0] for slot in range(len(quarters))]
    gas = _template(hours, "offtake,total", "PT1H", "m3,READ", [None] * len(hours))
    offtake = _template(quarters, "offtake,total", "PT15M", "kWh,READ", [None] * len(quarters))
    injection_sun = _template(quarters, "injection,total", "PT15M", "kWh,READ", sunny)
    injection_none = _template(
        quarters, "injection,total", "PT15M", "kWh,READ", [_VALUES[0]] * len(quarters)
    )
    sun_slots = sunny.count(None)
    count = 0
    with path.open("w") as out:
        out.write(",".join(FIELDS) + "\n")
        for n in range(first, last):
            kind = found[n]
            if not kind & DIGITAL:
                continue
            head = f"{ean(n)},{meter(n, kind)},"
            if kind & GAS:
                out.write(gas.replace(_HEAD, head) % drawn_values(rng, 0, 3000, len(hours)))
                count += len(hours)
                continue
            out.write(offtake.replace(_HEAD, head) % drawn_values(rng, 20, 900, len(quarters)))
            if kind & PV:
                out.write(
                    injection_sun.replace(_HEAD, head) % drawn_values(rng, 0, 1500, sun_slots)
                )
            else:
                out.write(injection_none.replace(_HEAD, head))
            count += 2 * len(quarters)
    return count


def _year_csv(path: Path, eans: int, found: bytearray, seed: int) -> None:
    rng = random.Random(seed)
    heads = [f"{ean(n)},{meter(n, found[n])}," for n in range(eans)]
    with path.open("w") as out:
        out.write(",".join(FIELDS) + "\n")
        day = YEAR[0]
        while day < YEAR[1]:
            starts = _starts(day, Granularity.PT15M)
            offtake = _template(starts, "offtake,total", "PT15M", "kWh,VAL", [None] * len(starts))
            for head in heads:
                out.write(offtake.replace(_HEAD, head) % drawn_values(rng, 20, 900, len(starts)))
            day += timedelta(days=1)


async def ingest_year(
    database: Database, scratch: Path, scale: Scale, found: bytearray, settings: Settings
) -> None:
    path = scratch / "year.csv"
    _year_csv(path, scale.year_eans, found, scale.seed)
    await ingest_file(database, path, InputFormat.csv, settings=settings, chunk_rows=1_000_000)
    path.unlink()


async def national_day(
    database: Database,
    url: str,
    scratch: Path,
    scale: Scale,
    found: bytearray,
    settings: Settings,
) -> tuple[int, float, float]:
    """(readings, seconds of ingest, seconds of COPY) of the national day, one head-end
    file per ``scale.chunk`` access points, each written, copied, ingested and deleted."""
    path = scratch / "day.csv"
    readings, ingest_seconds, copy_seconds = 0, 0.0, 0.0
    with _progress() as progress:
        task = progress.add_task("national day (access points)", total=scale.access_points)
        for first in range(0, scale.access_points, scale.chunk):
            last = min(scale.access_points, first + scale.chunk)
            count = _day_csv(path, first, last, found, NATIONAL_DAY, scale.seed)
            if count:
                copy_seconds += await _copy_seconds(url, path)
                started = time.perf_counter()
                totals = await ingest_file(
                    database, path, InputFormat.csv, settings=settings, chunk_rows=1_000_000
                )
                ingest_seconds += time.perf_counter() - started
                if totals.rows != count:
                    raise RuntimeError(f"ingested {totals.rows} of {count} readings")
                readings += count
            progress.advance(task, last - first)
    path.unlink(missing_ok=True)
    return readings, ingest_seconds, copy_seconds


async def vacuum_analyze(database: Database) -> None:
    """What autovacuum does after a load, done now: both reads run on fresh statistics."""
    async with database.write_engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE"))


async def read_year_p50(database: Database, scale: Scale) -> float:
    """p50 seconds of one EAN-year read: the year's offtake blocks of one of the first
    :data:`READ_EANS` of the ``year_eans``, fetched and serialised with orjson; each EAN
    is read once untimed first, so both measures see warm caches (the figure is about the
    indexes and partitions, not about the disk)."""
    eans = [ean(n) for n in range(min(READ_EANS, scale.year_eans))]
    timings = []
    for n in range(len(eans) + READ_REQUESTS):
        async with database.read_sessions() as session:
            started = time.perf_counter()
            blocks = await repository.read_blocks(
                session, eans[n % len(eans)], *YEAR, direction=Direction.offtake
            )
            body = orjson.dumps([{"values": b.values, "states": b.states} for b in blocks])
            elapsed = time.perf_counter() - started
        if len(blocks) != (YEAR[1] - YEAR[0]).days or not body:
            raise RuntimeError(f"expected a year of blocks, read {len(blocks)}")
        if n >= len(eans):
            timings.append(elapsed)
    return statistics.median(timings)


# --- through the server ------------------------------------------------------------------


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def mandate_page_p50_ms(base_url: str, esp: BenchEsp, expected: int) -> float:
    """Every 1,000-mandate page of the ESP in cursor order once (a check of the load),
    then the p50 of fetching each page again."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        bearer = await _token(client, esp.client_id, esp.client_secret)
        pages, cursor, seen = [], None, 0
        while True:
            path = "/api/v1/mandates?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            body = (await client.get(path, headers=bearer)).raise_for_status().json()
            pages.append(path)
            seen += len(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        if seen != expected:
            raise RuntimeError(f"expected {expected} mandates, listed {seen}")
        return await median_ms(client, pages, bearer)


# --- the database ------------------------------------------------------------------------


async def database_sizes(database: Database) -> dict[str, Any]:
    async with database.read_sessions() as session:
        disk = await session.scalar(text("SELECT pg_database_size(current_database())"))
        tables = (
            await session.execute(
                text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) AS size FROM pg_class c "
                    "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' "
                    "AND c.relkind = 'r' ORDER BY size DESC LIMIT 8"
                )
            )
        ).all()
        indexes = (
            await session.execute(
                text(
                    "SELECT c.relname, pg_relation_size(c.oid) AS size FROM pg_class c "
                    "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' "
                    "AND c.relkind = 'i' ORDER BY size DESC LIMIT 8"
                )
            )
        ).all()
    return {
        "disk_mb": round(int(disk or 0) / 2**20, 1),
        "largest_tables_mb": {name: round(size / 2**20, 1) for name, size in tables},
        "largest_indexes_mb": {name: round(size / 2**20, 1) for name, size in indexes},
    }


async def _tenancies(database: Database) -> int:
    """Access points whose customer is another account than their grid user."""
    async with database.read_sessions() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM access_point_parties c JOIN access_point_parties g "
                "ON g.access_point_id = c.access_point_id AND g.role = 'grid_user' "
                "WHERE c.role = 'customer' AND c.account_id <> g.account_id"
            )
        )
    return int(found or 0)


async def _counts(database: Database) -> tuple[int, int, int]:
    """(access points, stored values, SLA EAN-days)."""
    async with database.read_sessions() as session:
        points = await session.scalar(text("SELECT count(*) FROM access_points"))
        values = await session.scalar(text("SELECT sum(filled_slots) FROM meter_day_blocks"))
        ean_days = await session.scalar(text("SELECT count(*) FROM sla_ean_days"))
    return int(points or 0), int(values or 0), int(ean_days or 0)


# --- the slowest query -------------------------------------------------------------------

STATEMENTS = "pg_stat_statements"


def preload_statements(
    embedded: embedded_postgres.EmbeddedPostgres,
) -> embedded_postgres.EmbeddedPostgres:
    """The embedded server with :data:`STATEMENTS` loaded at start when this PostgreSQL
    ships it (set with ``ALTER SYSTEM`` in the bench's own server, then restarted); as it
    was when it does not."""
    shipped = embedded.psql(
        f"SELECT 'shipped' FROM pg_available_extensions WHERE name = '{STATEMENTS}';"
    )
    loaded = embedded.psql("SHOW shared_preload_libraries;")
    if "shipped" not in shipped or STATEMENTS in loaded:
        return embedded
    embedded.psql(f"ALTER SYSTEM SET shared_preload_libraries = '{STATEMENTS}';")
    embedded.release()
    return embedded_postgres.start(embedded.pg_dir, database="postgres")


async def track_statements(database: Database) -> bool:
    """Create :data:`STATEMENTS` in the bench database and reset it; False when the
    server has not loaded it (the slowest query is then not available)."""
    async with database.write_engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        loaded = await autocommit.scalar(text("SHOW shared_preload_libraries"))
        if STATEMENTS not in str(loaded):
            return False
        await autocommit.execute(text(f"CREATE EXTENSION IF NOT EXISTS {STATEMENTS}"))
        await autocommit.execute(text("SELECT pg_stat_statements_reset()"))
    return True


async def slowest_query(database: Database) -> dict[str, Any]:
    """The statement of the bench database with the longest single execution."""
    async with database.read_sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT query, calls, max_exec_time, mean_exec_time, total_exec_time "
                    f"FROM {STATEMENTS} WHERE dbid = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) ORDER BY max_exec_time DESC LIMIT 1"
                )
            )
        ).first()
    if row is None:
        return {"available": True, "query": None}
    return {
        "available": True,
        "query": " ".join(row.query.split())[:500],
        "calls": row.calls,
        "max_ms": round(row.max_exec_time, 1),
        "mean_ms": round(row.mean_exec_time, 1),
        "total_s": round(row.total_exec_time / 1000, 1),
    }


# --- the run -----------------------------------------------------------------------------


def _result(name: str, value: float, unit: str, limit: float, *, at_most: bool) -> Result:
    """A figure against a limit: ratio value/limit, target 1 (at most or at least)."""
    ratio = value / limit if limit else 0.0
    return Result(
        name, value, unit, limit, round(ratio, 3), 1.0, ratio <= 1 if at_most else ratio >= 1
    )


async def build_and_measure(
    url: str, data_dir: Path, scale: Scale, run: Run, memory: PeakMemory
) -> list[Result]:
    settings = Settings.model_construct(data_dir=data_dir)
    with run.stage("migrate"):
        await asyncio.to_thread(upgrade_to_head, url)
    database = create_database(url, settings)
    statements = await track_statements(database)
    found = kinds(scale)
    sample = min(READ_SAMPLE, scale.access_points)
    try:
        with tempfile.TemporaryDirectory(dir=BENCH_DIR) as scratch_dir:
            scratch = Path(scratch_dir)
            with run.stage("landlords and tenants (accounts)"):
                parties = await make_parties(database, scale, landlords(scale))
            with run.stage(f"registry: first {sample:,} access points"):
                await import_registry(database, scratch, 0, sample, scale, found, parties)
            with run.stage(f"a year of quarter-hours for {scale.year_eans:,} EANs"):
                await ingest_year(database, scratch, scale, found, settings)
            with run.stage("read baseline (1k access points stored)"):
                await vacuum_analyze(database)
                read_1k = await read_year_p50(database, scale)
            with run.stage(f"registry: the other {scale.access_points - sample:,}"):
                await import_registry(
                    database, scratch, sample, scale.access_points, scale, found, parties
                )
                if (stored := await _tenancies(database)) != parties.tenants:
                    raise RuntimeError(f"{stored} of {parties.tenants} tenancies stored")
            with run.stage(f"{scale.esps} ESPs and {scale.mandates:,} mandates"):
                esps = await make_esps(database, scale.esps)
                await load_mandates(database, scale, esps, found)
            with run.stage("national day: head-end files, COPY and ingest"):
                readings, ingest_seconds, copy_seconds = await national_day(
                    database, url, scratch, scale, found, settings
                )
            with run.stage("SLA EAN-days of a month (SQL)"):
                await sla.registry_ean_days(database, SLA_MONTH)
        with run.stage("VACUUM ANALYZE"):
            await vacuum_analyze(database)
        with run.stage("read with everything stored"):
            read_all = await read_year_p50(database, scale)
        port = free_port()
        server = serve(url, data_dir, port)
        memory.servers.append(server.pid)
        try:
            base = f"http://127.0.0.1:{port}"
            with run.stage("mandate pages"):
                page_ms = await mandate_page_p50_ms(base, esps[0], _first_esp_mandates(scale))
            with run.stage("SLA roll-up and report"):
                report, roll_up, ean_days = await sla.report_after_roll_up(
                    database, base, SLA_MONTH
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
        with run.stage("SLA late-item pages and NPS figures"):
            live = await sla.live_read_seconds(
                database,
                {"month": SLA_MONTH},
                [esps[0].organisation_id, esps[-1].organisation_id],
            )
        # The scale world's mandates are all on ``api``: the NPS reads run over none, so they
        # are reported (notes) but not judged.
        late_page = max(
            value for name, value in live.items() if name.startswith("late_") and "nps" not in name
        )
        points, values, stored_ean_days = await _counts(database)
        async with database.read_sessions() as session:
            block_bytes = await repository.storage_bytes(session)
        run.notes.update(await database_sizes(database))
        run.notes["slowest_query"] = (
            await slowest_query(database)
            if statements
            else {"available": False, "why": f"{STATEMENTS} is not installed or not loaded"}
        )
    finally:
        await database.dispose()
    per_value = block_bytes / values
    tb_per_year = per_value * VALUES_PER_DAY * 365 / 1e12
    ingest_rate, copy_rate = readings / ingest_seconds, readings / copy_seconds
    run.notes.update(
        {
            "national_day_readings": readings,
            "national_day_ingest_seconds": round(ingest_seconds, 1),
            "national_day_copy_seconds": round(copy_seconds, 1),
            "stored_values": values,
            "meter_day_blocks_bytes": block_bytes,
            "sla_ean_days": stored_ean_days,
            "sla_report_expected": ean_days,
            "sla_roll_up_seconds": round(roll_up, 1),
            "sla_live_reads_ms": {name: round(value * 1000, 1) for name, value in live.items()},
            "read_year_p50_ms_1k": round(read_1k * 1000, 1),
            "rented_access_points": parties.tenants,
            "landlords": parties.landlords,
        }
    )
    return [
        _result("scale_access_points", points, "count", FULL.access_points, at_most=False),
        replace(
            _result(
                "scale_day_ingest_vs_copy", round(ingest_rate), "rows/s", round(copy_rate),
                at_most=False,
            ),
            ratio=round(ingest_rate / copy_rate, 3), target=0.5,
            passed=ingest_rate / copy_rate >= 0.5,
        ),
        _result("scale_storage_bytes_per_value", round(per_value, 3), "bytes", 5, at_most=True),
        replace(
            _result(
                "scale_read_year_p50_1m_vs_1k", round(read_all * 1000, 1), "ms p50",
                round(read_1k * 1000, 1), at_most=True,
            ),
            ratio=round(read_all / read_1k, 3), target=1.3, passed=read_all / read_1k <= 1.3,
        ),
        _result("scale_mandate_poll_p50_ms", round(page_ms, 1), "ms", 50, at_most=True),
        _result("scale_sla_month_report_seconds", round(report, 3), "s", 1.0, at_most=True),
        _result("scale_sla_late_page_seconds", round(late_page, 4), "s", 0.25, at_most=True),
        _result("scale_projected_tb_per_year", round(tb_per_year, 3), "TB", 2, at_most=True),
    ]  # fmt: skip


def _first_esp_mandates(scale: Scale) -> int:
    return scale.mandates if scale.esps == 1 else scale.mandates // 6


async def _postmaster(server_url: str) -> int | None:
    """The server's postmaster process id, when it runs on this machine and its data
    directory is readable (for the backends' peak memory); None otherwise."""
    engine = create_async_engine(server_url)
    try:
        async with engine.connect() as connection:
            directory = await connection.scalar(text("SELECT current_setting('data_directory')"))
    except DBAPIError:  # not allowed to read it: the backends' memory is not measured
        return None
    finally:
        await engine.dispose()
    try:
        return int((Path(str(directory)) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def main() -> None:
    summary = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=summary)
    parser.add_argument("--small", action="store_true", help="Small sizes: CI's smoke run.")
    parser.add_argument("--access-points", type=int, help=f"default {FULL.access_points:,}")
    parser.add_argument("--mandates", type=int, help=f"default {FULL.mandates:,}")
    parser.add_argument("--esps", type=int, help=f"default {FULL.esps}")
    parser.add_argument("--year-eans", type=int, help=f"default {FULL.year_eans:,}")
    parser.add_argument("--chunk", type=int, help=f"default {FULL.chunk:,}")
    parser.add_argument("--seed", type=int, default=FULL.seed)
    arguments = parser.parse_args()
    base = SMALL if arguments.small else FULL
    scale = replace(
        base,
        **{
            name: value
            for name in ("access_points", "mandates", "esps", "year_eans", "chunk", "seed")
            if (value := getattr(arguments, name)) is not None
        },
    )
    if not 1 <= scale.year_eans <= min(READ_SAMPLE, scale.access_points):
        parser.error(f"--year-eans must lie between 1 and {READ_SAMPLE:,} and the access points")
    if scale.mandates > scale.access_points or scale.esps < 1:
        parser.error("at most one mandate per access point, and at least one ESP")
    size = "small" if arguments.small else "full" if scale == FULL else "custom"
    print(f"machine: {machine()}  size: {size}  {scale}", flush=True)
    BENCH_DIR.mkdir(exist_ok=True)
    configured = os.environ.get("DATABASE_URL")
    embedded = None
    if configured:
        server_url = normalize_database_url(configured)
    else:
        embedded = preload_statements(
            embedded_postgres.start(BENCH_DIR / "pg", database="postgres")
        )
        server_url = embedded.url("postgres")
    run = Run()
    try:
        postmaster = asyncio.run(_postmaster(server_url))
        with PeakMemory(postmaster) as memory:
            started = time.perf_counter()
            url = asyncio.run(_fresh_database(server_url, DATABASE))
            results = asyncio.run(build_and_measure(url, BENCH_DIR / "data", scale, run, memory))
            run.stages["total"] = round(time.perf_counter() - started, 1)
        run.notes["peak_rss_mb"] = memory.report_mb()
    finally:
        if embedded is not None:
            embedded.release()
    print(table(results))
    print(json.dumps({"stages_seconds": run.stages, **run.notes}, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine(),
                "date": datetime.now(UTC).isoformat(),
                "size": size,
                "parameters": asdict(scale),
                "results": [asdict(r) for r in results],
                "stages_seconds": run.stages,
                **run.notes,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    if size != "full":
        print("not the full size: the figures are measured, not judged")


if __name__ == "__main__":
    main()
