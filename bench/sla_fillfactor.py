"""The fillfactor of ``sla_ean_days`` once EAN-days are written classified (migration 0034):
``python -m bench.sla_fillfactor [FILLFACTOR ...] [--vacuum-daily]``.

A table shaped as ``sla_ean_days`` (same columns and indexes) in the bench's own embedded
server gets :data:`EANS` x :data:`DAYS` EAN-days (1 M, as ``bench/sla.py``): each day's
rows inserted classified (ingest's insert), and each row updated once :data:`LAG` days
later with ingest's ``ON CONFLICT`` update (the validated data arriving after the
informative), a day's rows in one statement, as one ingest batch of a day's file. Printed
per fillfactor: µs per insert and per later update, how many updates were heap-only (HOT),
bytes per EAN-day (heap and indexes) and a roll-up-like scan of the month. With
``--vacuum-daily`` a ``VACUUM`` runs after each day, as if autovacuum kept up (by default it
does not: at tens of millions of rows its threshold is millions of dead rows).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import date, timedelta

import asyncpg

from bench.__main__ import BENCH_DIR
from datahub_api import embedded_postgres

EANS, DAYS, LAG = 33_334, 30, 10

_TABLE = """
DROP TABLE IF EXISTS ff_ean_days;
CREATE TABLE ff_ean_days (
    ean varchar(18) NOT NULL, day date NOT NULL,
    streams smallint NOT NULL DEFAULT 0, complete_streams smallint NOT NULL DEFAULT 0,
    first_inserted_at timestamptz, delivered_at timestamptz,
    validated_streams smallint NOT NULL DEFAULT 0, validated_at timestamptz,
    counted boolean, excluded_reason varchar(30), gvm_headpoint boolean,
    CONSTRAINT pk_ff_ean_days PRIMARY KEY (ean, day)
) WITH (fillfactor = {fillfactor});
CREATE INDEX ix_ff_ean_days_day_ean ON ff_ean_days (day, ean);
CREATE INDEX ix_ff_ean_days_unclassified ON ff_ean_days (day) WHERE counted IS NULL;
"""
_INSERT = """
INSERT INTO ff_ean_days (ean, day, streams, complete_streams, first_inserted_at,
                         delivered_at, counted, excluded_reason, gvm_headpoint)
SELECT '549' || lpad(n::text, 15, '0'), $1::date, 1, 1, now(), now(), true, NULL, false
FROM generate_series(1, $2) AS n
"""
# ``repository._RECORD``'s update when a day's streams become validated.
_VALIDATED = """
INSERT INTO ff_ean_days AS s (ean, day, streams, complete_streams, validated_streams,
                              first_inserted_at, counted, excluded_reason, gvm_headpoint)
SELECT '549' || lpad(n::text, 15, '0'), $1::date, 0, 0, 1, now(), true, NULL, false
FROM generate_series(1, $2) AS n
ON CONFLICT (ean, day) DO UPDATE SET
    validated_streams = s.validated_streams + excluded.validated_streams,
    validated_at = coalesce(s.validated_at, excluded.first_inserted_at),
    counted = coalesce(s.counted, excluded.counted),
    excluded_reason = CASE WHEN s.counted IS NULL THEN excluded.excluded_reason
                           ELSE s.excluded_reason END,
    gvm_headpoint = coalesce(s.gvm_headpoint, excluded.gvm_headpoint)
"""
_SIZES = """
SELECT pg_relation_size('ff_ean_days'), pg_indexes_size('ff_ean_days'),
       (SELECT count(*) FROM ff_ean_days)
"""
_SCAN = """
SELECT day, count(*) FILTER (WHERE counted), count(*) FILTER (WHERE delivered_at IS NOT NULL)
FROM ff_ean_days WHERE day = ANY($1::date[]) GROUP BY day
"""


async def measure(connection: asyncpg.Connection, fillfactor: int, vacuum_daily: bool) -> str:
    await connection.execute(_TABLE.format(fillfactor=fillfactor))
    first = date(2025, 6, 1)
    days = [first + timedelta(days=n) for n in range(DAYS)]
    inserting = updating = 0.0
    for n in range(DAYS + LAG):
        if n < DAYS:
            started = time.perf_counter()
            await connection.execute(_INSERT, days[n], EANS)
            inserting += time.perf_counter() - started
        if n >= LAG:
            started = time.perf_counter()
            await connection.execute(_VALIDATED, days[n - LAG], EANS)
            updating += time.perf_counter() - started
        if vacuum_daily:
            await connection.execute("VACUUM ff_ean_days")
    await asyncio.sleep(1)  # the statistics of the updates reach pg_stat_user_tables
    updates, hot = await connection.fetchrow(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'ff_ean_days'"
    )
    heap, indexes, rows = await connection.fetchrow(_SIZES)
    scans = []
    for _ in range(5):
        started = time.perf_counter()
        await connection.fetch(_SCAN, days)
        scans.append(time.perf_counter() - started)
    return (
        f"fillfactor {fillfactor}{' (VACUUM daily)' if vacuum_daily else ''}: insert "
        f"{inserting / rows * 1e6:.1f} µs, later update {updating / rows * 1e6:.1f} µs per "
        f"EAN-day, {hot:,} of {updates:,} updates HOT; {(heap + indexes) / rows:.0f} bytes "
        f"per EAN-day (heap {heap / rows:.0f}, indexes {indexes / rows:.0f}); month scan "
        f"{sorted(scans)[2] * 1000:.0f} ms"
    )


async def run(fillfactors: list[int], vacuum_daily: bool) -> None:
    embedded = embedded_postgres.start(BENCH_DIR / "pg", database="datahub_fillfactor")
    try:
        connection = await asyncpg.connect(embedded.libpq_url("datahub_fillfactor"))
        try:
            for fillfactor in fillfactors:
                print(await measure(connection, fillfactor, vacuum_daily), flush=True)
            await connection.execute("DROP TABLE ff_ean_days")
        finally:
            await connection.close()
    finally:
        embedded.release()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sla_fillfactor")
    parser.add_argument("fillfactors", type=int, nargs="*", default=[50, 100])
    parser.add_argument("--vacuum-daily", action="store_true")
    arguments = parser.parse_args()
    asyncio.run(run(arguments.fillfactors, arguments.vacuum_daily))


if __name__ == "__main__":
    main()
