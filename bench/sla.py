"""The SLA tracker: ``sla_report_1m_seconds`` and ``sla_tracking_ingest_overhead``.

* ``sla_report_1m_seconds``: median time of ``GET /api/v1/sla/report`` (operator,
  DSO-wide, one month grouped by day; uvicorn in another process, httpx on loopback) over
  1 million EAN-days (33 334 communicating digital meters x 30 days, made in SQL, with
  random delays and some never delivered), after the roll-up. Limit 1 s.
* ``sla_nps_dso_wide_seconds`` and ``sla_late_page_seconds``: the reads that used to be
  computed from every EAN-day of the period, over the same EAN-days with ESPs' ``api`` and
  ``nps`` mandates and a second month with few late EAN-days (:func:`live_reads`): the
  slowest median of the NPS channel's DSO-wide month (from the mandate-day roll-ups), and of
  a late-items page of :data:`LATE_PAGE` (first or later, DSO-wide or one ESP's, many or few
  late). Limits 0.1 s and 0.25 s.
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
from datahub_api.sla import service as sla_service

REPORT_DAYS = 30
REPORT_FIRST = date(2025, 6, 1)  # the first day of the report's month
REPORT_REQUESTS = 7
INGEST_PAIRS = 7  # pairs of timed rounds, one with and one without tracking


def _delivered(row: str) -> str:
    """The delivery ``t`` of the EAN-day of ``row`` and ``d``: 0.5% never, 2% 80-280 hours
    late, else within 12 hours. The lateral subquery names the row (``WHERE {row} > 0``),
    else it is evaluated once per day and every EAN-day of a day gets the same delay."""
    return f"""
    LATERAL (SELECT CASE WHEN random() < 0.005 THEN NULL
        ELSE ((d::date + 1)::timestamp AT TIME ZONE 'Europe/Brussels')
             + make_interval(hours => CASE WHEN random() < 0.02
                 THEN 80 + (random() * 200)::int
                 ELSE (random() * 12)::int END) END AS t
             WHERE {row} > 0) AS x
"""


# EAN-days (``rows``: ``ean``, ``day``, delivery ``t``) written classified, as ingest writes
# them (the roll-up no longer classifies every EAN-day of its days).
_INSERT = f"""
    INSERT INTO sla_ean_days (ean, day, streams, complete_streams, first_inserted_at,
                              delivered_at, counted, excluded_reason, gvm_headpoint)
    SELECT ean, day, 1, 1, t, t, counted, excluded_reason, gvm_headpoint
    FROM ({repository.classified("{rows}")}) AS c
"""


async def _ean_days(database: Database, eans: int, first: date) -> None:
    """``eans`` communicating digital meters and ``eans`` x 30 EAN-days delivered with
    random delays (2% late, 0.5% never), made in SQL, classified as ingest writes them.
    Each EAN-day draws its own delay (see :func:`_delivered`)."""
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
        rows = f"""
            SELECT '549' || lpad(n::text, 15, '0') AS ean, d::date AS day, x.t
            FROM generate_series(1, :n) AS n,
                 generate_series(CAST(:first AS date), CAST(:first AS date) + 29,
                                 interval '1 day') AS d,
                 {_delivered("n")}
        """
        await session.execute(text(_INSERT.format(rows=rows)), {"n": eans, "first": first})
        await session.commit()


async def ean_day_bytes(database: Database) -> tuple[int, int, int]:
    """(``sla_ean_days`` with its indexes in bytes, its heap in bytes, its rows)."""
    async with database.read_sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT pg_total_relation_size('sla_ean_days'), "
                    "pg_relation_size('sla_ean_days'), (SELECT count(*) FROM sla_ean_days)"
                )
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def reclassify_seconds(database: Database, first: date) -> tuple[float, float, int]:
    """After the roll-up: a registry import rewrites the communication periods of every
    bench access point (deleted and inserted again, as the registry's upsert does; nothing
    changes), then one in a hundred ends on the month's 15th. Returns (seconds of the job's
    reclassification after the rewrite, seconds of the reclassification and roll-up of the
    days it dirtied after the ends, EAN-days reclassified by the ends)."""
    bench_points = "SELECT id FROM access_points WHERE ean LIKE '549%'"
    async with database.write_sessions() as session:
        await session.execute(
            text(
                "WITH gone AS (DELETE FROM communication_periods "
                f"WHERE access_point_id IN ({bench_points}) "
                "RETURNING access_point_id, valid_from, valid_to) "
                "INSERT INTO communication_periods (access_point_id, valid_from, valid_to) "
                "SELECT * FROM gone"
            )
        )
        await session.commit()
    started = time.perf_counter()
    async with database.write_sessions() as session:
        await sla_service.reclassify_marked(session)
        await sla_service.reclassify_marked(session)  # the marks' second run
        await session.commit()
    unchanged = time.perf_counter() - started
    async with database.write_sessions() as session:
        await session.execute(
            text(
                "UPDATE communication_periods SET valid_to = CAST(:end AS date) "
                f"WHERE access_point_id IN ({bench_points}) AND access_point_id % 100 = 0"
            ),
            {"end": first + timedelta(days=14)},
        )
        await session.commit()
    started = time.perf_counter()
    async with database.write_sessions() as session:
        changed = await sla_service.reclassify_marked(session)
        dirty = list(await session.scalars(text("SELECT day FROM sla_dirty_days ORDER BY day")))
        await repository.roll_up(session, dirty, datetime.now(UTC))
        await session.commit()
    return unchanged, time.perf_counter() - started, changed.changed


async def report_seconds(database: Database, base_url: str, size: int) -> tuple[float, float, int]:
    """(median report seconds, roll-up seconds, EAN-days)."""
    eans = max(1, size // REPORT_DAYS)
    first = REPORT_FIRST
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
        rows = f"""
            SELECT a.ean, d::date AS day, x.t
            FROM (SELECT p.id, p.ean FROM access_points AS p
                  WHERE EXISTS (SELECT FROM communication_periods AS c
                                WHERE c.access_point_id = p.id)
                  ORDER BY p.ean) AS a,
                 generate_series(CAST(:first AS date),
                                 CAST(:first AS date) + CAST(:last AS integer),
                                 interval '1 day') AS d,
                 {_delivered("a.id")}
        """
        await session.execute(
            text(_INSERT.format(rows=rows) + " ON CONFLICT (ean, day) DO NOTHING"),
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
        await sla_service.roll_up_days(session, days, datetime.now(UTC))
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


# --- the reads still computed from the EAN-days ------------------------------------------

LIVE_ESPS = 20
LATE_PAGE = 100  # the late-items list's default page
LIVE_RUNS = 3


async def mandate_world(database: Database, first: date) -> list[int]:
    """Over :func:`_ean_days`'s meters (the month from ``first``, 2.5% late or missing):
    :data:`LIVE_ESPS` ESPs with ``api`` and ``nps`` contracts; ``api`` mandates on 30% of the
    EANs (the first ESP one sixth of them), ``nps`` mandates on 5% (a fifth of those also of
    a second ESP), a tenth of each starting mid-month; and a second month from ``first`` +
    30 days delivered on time but for about ten EAN-days. Both months rolled up; returns the
    ESPs' organisation ids, the biggest first."""
    from datahub_api.contracts.models import Channel

    from .esp import add_api_esp

    async with database.write_sessions() as session:
        esps = [
            (
                await add_api_esp(
                    session, f"SLA ESP {n + 1}", 5_200_000 + n, (Channel.api, Channel.nps)
                )
            ).organisation_id
            for n in range(LIVE_ESPS)
        ]
        await session.commit()
    second = first + timedelta(days=REPORT_DAYS)
    async with database.write_sessions() as session:
        await session.execute(
            text(
                """
                INSERT INTO sla_ean_days (ean, day, streams, complete_streams,
                                          first_inserted_at, delivered_at)
                SELECT a.ean, d::date, 1, 1, t, t
                FROM access_points AS a,
                     generate_series(CAST(:second AS date), CAST(:second AS date) + 29,
                                     interval '1 day') AS d,
                     LATERAL (SELECT ((d::date + 1)::timestamp AT TIME ZONE 'Europe/Brussels')
                              + make_interval(hours => CASE WHEN random() < 0.00001
                                  THEN 80 + (random() * 200)::int
                                  ELSE (random() * 12)::int END) AS t
                              WHERE a.id > 0) AS x
                WHERE a.ean LIKE '549%'
                """
            ),
            {"second": second},
        )
        # n = the meter's number; mandates run from 200 days before the first month to 400
        # days after, but a tenth start on day 10-19 of the first month.
        await session.execute(
            text(
                """
                INSERT INTO mandates (organisation_id, ean, access_point_id, reference_number,
                    channel, energy_type, data_service_type, data_period_from, data_period_to,
                    expiration_date, status, source, version)
                SELECT (CAST(:esps AS integer[]))[o + 1], a.ean, a.id,
                       'SLA-' || k.channel || '-' || k.which || '-' || a.ean, k.channel, 'E',
                       'VH_kwartier_uur',
                       ((CAST(:first AS date) + CASE WHEN n % 10 = 9 THEN 10 + n / 10 % 10
                         ELSE -200 END)::timestamp AT TIME ZONE 'Europe/Brussels'),
                       ((CAST(:first AS date) + 400)::timestamp AT TIME ZONE 'Europe/Brussels'),
                       ((CAST(:first AS date) + 400)::timestamp AT TIME ZONE 'Europe/Brussels'),
                       'approved', 'sandbox', 1
                FROM access_points AS a,
                     LATERAL (SELECT substr(a.ean, 4)::integer AS n) AS m,
                     LATERAL (
                         SELECT 'api' AS channel, 1 AS which,
                                CASE WHEN n / 10 % 6 = 0 THEN 0
                                     ELSE 1 + n / 10 % (CAST(:count AS integer) - 1) END AS o
                         WHERE n % 10 < 3
                         UNION ALL
                         SELECT 'nps', 1, n / 20 % CAST(:count AS integer) WHERE n % 20 = 0
                         UNION ALL
                         SELECT 'nps', 2, (n / 20 + 1) % CAST(:count AS integer)
                         WHERE n % 100 = 0) AS k
                WHERE a.ean LIKE '549%'
                """
            ),
            {"esps": esps, "first": first, "count": LIVE_ESPS},
        )
        await session.execute(text("DELETE FROM sla_esp_dirty_days"))
        await session.commit()
    days = [first + timedelta(days=n) for n in range(2 * REPORT_DAYS)]
    async with database.write_sessions() as session:
        await sla_service.roll_up_days(session, days, datetime.now(UTC))
        await session.commit()
    async with database.write_sessions() as session:
        await session.execute(text("ANALYZE"))
        await session.commit()
    return esps


async def _median_seconds(database: Database, read: Any) -> float:
    timings = []
    for _ in range(LIVE_RUNS):
        async with database.read_sessions() as session:
            started = time.perf_counter()
            await read(session)
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def live_read_seconds(
    database: Database, months: dict[str, date], esps: list[int]
) -> dict[str, float]:
    """Median seconds of the NPS channel's DSO-wide figures of each month (as the report
    reads them) and of late-item pages (the first and one from day 21; DSO-wide, the
    biggest ESP ``esps[0]``, a small one ``esps[1]``, and DSO-wide on NPS) of each of
    ``months`` (name: first day)."""
    now = datetime.now(UTC)
    today = now.date()
    found: dict[str, float] = {}
    for month, start in months.items():
        end = start + timedelta(days=REPORT_DAYS)

        async def nps_month(session: Any, start: date = start, end: date = end) -> None:
            await sla_service.dso_wide_days(session, sla_service.SlaChannel.nps, start, end, today)

        found[f"nps_dso_wide_{month}"] = await _median_seconds(database, nps_month)
        scopes: tuple[tuple[str, str, int | None], ...] = (
            ("dso", "api", None),
            ("big_esp", "api", esps[0]),
            ("small_esp", "api", esps[1]),
            ("dso_nps", "nps", None),
        )
        for scope, channel, organisation in scopes:
            for page, after in (("first", None), ("later", (start + timedelta(days=20), ""))):

                async def page_read(
                    session: Any,
                    channel: str = channel,
                    organisation: int | None = organisation,
                    after: tuple[date, str] | None = after,
                    start: date = start,
                    end: date = end,
                ) -> None:
                    await repository.late_items(
                        session,
                        channel=channel,
                        start=start,
                        end=end,
                        today=today,
                        now=now,
                        target_hours=(5 if channel == "nps" else 3) * 24,
                        organisation_id=organisation,
                        ean=None,
                        after=after,
                        limit=LATE_PAGE + 1,
                    )

                found[f"late_{month}_{scope}_{page}"] = await _median_seconds(database, page_read)
    return found


async def live_reads(database: Database, first: date) -> dict[str, float]:
    """:func:`mandate_world` over :func:`_ean_days`'s month from ``first``, then
    :func:`live_read_seconds` of its month with many late EAN-days and the one with few."""
    esps = await mandate_world(database, first)
    return await live_read_seconds(
        database, {"many": first, "few": first + timedelta(days=REPORT_DAYS)}, esps
    )
