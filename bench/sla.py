"""The SLA tracker: ``sla_report_1m_seconds`` and ``sla_tracking_ingest_overhead``.

* ``sla_report_1m_seconds``: median time of ``GET /api/v1/sla/report`` (operator,
  DSO-wide, one month grouped by day; uvicorn in another process, httpx on loopback) over
  1 million EAN-days (33 334 communicating digital meters x 30 days, made in SQL, with
  random delays and some never delivered), after the roll-up. Limit 1 s.
* ``sla_tracking_ingest_overhead``: the median over :data:`INGEST_PAIRS` pairs of rounds of
  (ingest time with tracking) / (without) - 1, ingesting the same shape of CSV
  (quarter-hours, new days each round, half the days validated so both the informative and
  the validated delivery are recorded) in process with ``DATAHUB_SLA_TRACKING`` on and off,
  in the same run. A round is sized from an untimed warm-up round to last about
  ``round_seconds`` (several seconds in the full run, so that the 2-core machine's noise is
  small against it); each pair runs its two rounds in alternating order, so a drift of the
  machine's load favours neither. Limit 0.10. Also printed (not judged): the time spent in
  the tracking statement itself over the rest of the same rounds, a figure that the load of
  other processes on the machine moves far less, as it scales both sides alike.
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from datahub_api.auth import service as auth_service
from datahub_api.auth.principal import Role
from datahub_api.db import Database
from datahub_api.meter_data.files import ingest_file
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import InputFormat
from datahub_api.settings import Settings
from datahub_api.sla import repository

REPORT_DAYS = 30
REPORT_REQUESTS = 7
INGEST_PAIRS = 7  # pairs of timed rounds, one with and one without tracking


async def _ean_days(database: Database, eans: int, first: date) -> None:
    """``eans`` communicating digital meters and ``eans`` x 30 EAN-days delivered with
    random delays (2% late, 0.5% never), made in SQL."""
    async with database.write_sessions() as session:
        await session.execute(
            text(
                "INSERT INTO access_points (ean, energy_type, meter_type, metering, gvm, "
                "content_hash) SELECT '549' || lpad(n::text, 15, '0'), 'E', 'DM', "
                "'metering-on-meter', false, md5(n::text) FROM generate_series(1, :n) AS n"
            ),
            {"n": eans},
        )
        await session.execute(
            text(
                "INSERT INTO communication_periods (access_point_id, valid_from) "
                "SELECT id, DATE '2020-01-01' FROM access_points WHERE ean LIKE '549%'"
            )
        )
        await session.execute(
            text(
                """
                INSERT INTO sla_ean_days (ean, day, streams, complete_streams,
                                          first_inserted_at, delivered_at)
                SELECT '549' || lpad(n::text, 15, '0'), d::date, 1, 1, t, t
                FROM generate_series(1, :n) AS n,
                     generate_series(CAST(:first AS date), CAST(:first AS date) + 29,
                                     interval '1 day') AS d,
                     LATERAL (SELECT CASE WHEN random() < 0.005 THEN NULL
                         ELSE ((d::date + 1)::timestamp AT TIME ZONE 'Europe/Brussels')
                              + make_interval(hours => CASE WHEN random() < 0.02
                                  THEN 80 + (random() * 200)::int
                                  ELSE (random() * 12)::int END) END AS t) AS x
                """
            ),
            {"n": eans, "first": first},
        )
        await session.commit()


async def report_seconds(database: Database, base_url: str, size: int) -> tuple[float, float, int]:
    """(median report seconds, roll-up seconds, EAN-days)."""
    eans = max(1, size // REPORT_DAYS)
    first = date(2025, 6, 1)
    await _ean_days(database, eans, first)
    return await report_after_roll_up(database, base_url, first)


async def registry_ean_days(database: Database, first: date) -> None:
    """:data:`REPORT_DAYS` EAN-days from ``first`` for every access point of the registry
    with a communication period (but those the ingest tracked already), delivered with
    random delays as :func:`_ean_days` does; made in SQL (``bench/scale.py``). The rows
    come in EAN order (the access points sorted first, once each), so the primary key's
    pages are filled one after the other instead of an EAN-day at a random place each
    (the plan PostgreSQL chose before: at a million access points the index is far larger
    than the cache)."""
    async with database.write_sessions() as session:
        await session.execute(
            text(
                """
                INSERT INTO sla_ean_days (ean, day, streams, complete_streams,
                                          first_inserted_at, delivered_at)
                SELECT a.ean, d::date, 1, 1, t, t
                FROM (SELECT p.ean FROM access_points AS p
                      WHERE EXISTS (SELECT FROM communication_periods AS c
                                    WHERE c.access_point_id = p.id)
                      ORDER BY p.ean) AS a,
                     generate_series(CAST(:first AS date),
                                     CAST(:first AS date) + CAST(:last AS integer),
                                     interval '1 day') AS d,
                     LATERAL (SELECT CASE WHEN random() < 0.005 THEN NULL
                         ELSE ((d::date + 1)::timestamp AT TIME ZONE 'Europe/Brussels')
                              + make_interval(hours => CASE WHEN random() < 0.02
                                  THEN 80 + (random() * 200)::int
                                  ELSE (random() * 12)::int END) END AS t) AS x
                ON CONFLICT (ean, day) DO NOTHING
                """
            ),
            {"first": first, "last": REPORT_DAYS - 1},
        )
        await session.commit()


async def report_after_roll_up(
    database: Database, base_url: str, first: date
) -> tuple[float, float, int]:
    """Roll up :data:`REPORT_DAYS` days from ``first``, then time the operator's report over
    them: (median report seconds, roll-up seconds, EAN-days expected)."""
    days = [first + timedelta(days=n) for n in range(REPORT_DAYS)]
    started = time.perf_counter()
    async with database.write_sessions() as session:
        await repository.roll_up(session, days, datetime.now(UTC))
        await session.commit()
    roll_up_seconds = time.perf_counter() - started
    async with database.write_sessions() as session:
        created = await auth_service.create_client(
            session, name="bench operator", role=Role.operator, organisation_id=None
        )
        await session.commit()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        token = await client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": created.client.client_id,
                "client_secret": created.secret,
            },
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        params = {
            "channel": "api",
            "from": first.isoformat(),
            "to": (first + timedelta(days=REPORT_DAYS)).isoformat(),
            "group_by": "day",
        }
        timings = []
        for _ in range(REPORT_REQUESTS):
            started = time.perf_counter()
            answer = await client.get("/api/v1/sla/report", params=params, headers=headers)
            timings.append(time.perf_counter() - started)
            answer.raise_for_status()
        total = answer.json()["total"]["expected"]
    return statistics.median(timings), roll_up_seconds, int(total)


def _csv(path: Path, points: list[tuple[str, str]], first: date, days: int) -> None:
    from datahub_api.brussels_days import BRUSSELS
    from datahub_api.meter_data.blocks import expected_slots, slot_start
    from datahub_api.meter_data.ingest_parser import FIELDS

    rng = random.Random(7)
    with path.open("w") as out:
        out.write(",".join(FIELDS) + "\n")
        for n in range(days):
            day = first + timedelta(days=n)
            starts = [
                slot_start(day, Granularity.PT15M, slot).astimezone(BRUSSELS).isoformat()
                for slot in range(expected_slots(day, Granularity.PT15M))
            ]
            for ean, meter in points:
                prefix = f"{ean},{meter},offtake,total,"
                state = "VAL" if n % 2 else "READ"
                out.writelines(
                    f"{prefix}{start},PT15M,{rng.randint(20, 900) / 1000:.3f},kWh,{state}\n"
                    for start in starts
                )


async def ingest_overhead(
    database: Database,
    settings: Settings,
    points: list[tuple[str, str]],
    *,
    round_seconds: float,
    pairs: int = INGEST_PAIRS,
) -> tuple[float, float, float, int, float]:
    """(overhead, median seconds of a round with tracking, without, days per round, seconds
    in the tracking statement / the rest of the tracked rounds)."""
    from datahub_api.meter_data.repository import create_partitions
    from datahub_api.sla import tracking as sla_tracking

    record_batch = sla_tracking.record_batch
    recording = [0.0]

    async def timed_record_batch(*args: Any) -> None:
        started = time.perf_counter()
        await record_batch(*args)
        recording[0] += time.perf_counter() - started

    # The bench meters are installed from 2020; every round's days lie in the past.
    first = date(2020, 1, 6)

    async def ingest_round(scratch: Path, start: date, days: int, tracking: bool) -> float:
        path = scratch / f"{start}.csv"
        _csv(path, points, start, days)
        configured = settings.model_copy(update={"sla_tracking": tracking})
        started = time.perf_counter()
        await ingest_file(
            database, path, InputFormat.csv, settings=configured, chunk_rows=1_000_000
        )
        seconds = time.perf_counter() - started
        path.unlink()
        return seconds

    timings: dict[bool, list[float]] = {True: [], False: []}
    ratios = []
    sla_tracking.record_batch = timed_record_batch  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as scratch_dir:
            scratch = Path(scratch_dir)
            # Untimed: a warm-up round, then one that sizes the rounds (both with tracking).
            await ingest_round(scratch, first, 2, True)
            sizing_days = 16 if round_seconds >= 1 else 4  # long enough to hide fixed costs
            sizing = await ingest_round(scratch, first + timedelta(days=2), sizing_days, True)
            start = first + timedelta(days=2 + sizing_days)
            room = (date.today() - timedelta(days=2) - start).days // (2 * pairs)
            days = max(1, min(room, math.ceil(round_seconds / (sizing / sizing_days))))
            last = start + timedelta(days=2 * pairs * days)
            async with database.write_sessions() as session:
                connection = await session.connection()
                await create_partitions(connection, range(start.year, last.year + 1))
                await session.commit()
            recording[0] = 0.0
            for pair in range(pairs):
                seconds: dict[bool, float] = {}
                for tracking in (pair % 2 == 0, pair % 2 == 1):
                    seconds[tracking] = await ingest_round(scratch, start, days, tracking)
                    timings[tracking].append(seconds[tracking])
                    start += timedelta(days=days)
                ratios.append(seconds[True] / seconds[False])
                print(
                    f"    pair {pair + 1}: with tracking {seconds[True]:.2f} s, without "
                    f"{seconds[False]:.2f} s",
                    flush=True,
                )
    finally:
        sla_tracking.record_batch = record_batch
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    print(
        f"    fastest round with tracking / fastest without - 1: "
        f"{min(timings[True]) / min(timings[False]) - 1:.3f}",
        flush=True,
    )
    direct = recording[0] / (sum(timings[True]) - recording[0])
    return statistics.median(ratios) - 1, on, off, days, direct
