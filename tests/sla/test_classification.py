"""EAN-days are classified when they are written, and again only when the registry changes:
a communication period added or ended after the roll-up, a meter type changed, a GVM meter
installed, an access point registered after its data arrived. Each is picked up by the
job's next run (its days rolled up again), on the DST days of 2024 too, and the stored
classification always equals one worked out here from the registry."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points import repository as access_points_repository
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.db import Database
from datahub_api.sla import repository
from datahub_api.sla import service as sla_service

from ..support.meter_data import day_rows
from ..support.parties import make_esp
from ..support.sla_world import GVM_METER, days, gvm_point, ingest, put_point
from ..support.waiting import until

SPRING_DST, AUTUMN_DST = date(2024, 3, 31), date(2024, 10, 27)  # 92 and 100 quarter-hours
PERIODS = (days(date(2024, 3, 28), date(2024, 4, 3)), days(date(2024, 10, 24), date(2024, 10, 30)))
ALL_DAYS = [*PERIODS[0], *PERIODS[1]]
NOW = datetime(2024, 11, 5, 12, tzinfo=UTC)  # the job's lookback covers the autumn days

Classification = tuple[bool | None, str | None, bool | None]


async def run_job(app: FastAPI) -> None:
    async with app.state.database.write_sessions() as session:
        await sla_service.roll_up(session, app.state.settings, NOW)
        await session.commit()


async def stored(database: Database) -> dict[tuple[str, date], Classification]:
    async with database.read_sessions() as session:
        rows = await session.execute(
            text("SELECT ean, day, counted, excluded_reason, gvm_headpoint FROM sla_ean_days")
        )
        return {(row[0], row[1]): (row[2], row[3], row[4]) for row in rows}


def _within(day: date, periods: list[dict[str, Any]], first: str, stop: str) -> bool:
    return any(
        date.fromisoformat(p[first]) <= day
        and (p.get(stop) is None or day < date.fromisoformat(p[stop]))
        for p in periods
    )


def expected_classification(point: dict[str, Any] | None, day: date) -> Classification:
    """The classification worked out in Python from the registry body of the point."""
    if point is None:
        return (False, "unknown_access_point", False)
    gvm = point["gvm"] and _within(day, point["physical_meters"], "installed_from", "installed_to")
    if point["meter_type"] != "DM":
        return (False, "no_digital_meter", gvm)
    if not _within(day, point["communication_periods"], "valid_from", "valid_to"):
        return (False, "not_communicating", gvm)
    return (True, None, gvm)


async def rows_of(database: Database, table: str) -> int:
    async with database.read_sessions() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def totals(database: Database, day: date) -> tuple[int, int, int, int]:
    """(expected, not communicating, no digital meter, unknown access point) of a day."""
    async with database.read_sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT expected, excluded_not_communicating, excluded_no_digital_meter, "
                    "excluded_unknown_access_point FROM sla_day_totals WHERE day = :day"
                ),
                {"day": day},
            )
        ).one()
    return (row[0], row[1], row[2], row[3])


def body(**over: Any) -> dict[str, Any]:
    """What ``put_point`` stores (the support's body with ``over``), for the expectations."""
    from ..support.access_point_data import access_point_body

    return access_point_body(since="2024-01-01", **over)


async def test_registry_changes_after_the_roll_up_reclassify_at_the_next_run(
    app: FastAPI,
) -> None:
    database: Database = app.state.database
    esp = await make_esp(app, "Classified", channels=[Channel.api])
    registry: dict[str, dict[str, Any] | None] = {}

    async def put(ean: str | None = None, **over: Any) -> str:
        ean = await put_point(app, ean, **over)
        registry[ean] = body(**over)
        return ean

    # X communicates; Y has a digital meter that does not communicate; Z is a digital meter
    # whose type changes later; G a non-digital meter that becomes a GVM headpoint whose
    # meter is removed on the autumn DST day; U is
    # deleted after its data arrived (ingest takes only registered EANs), and registered
    # again later.
    x = await put()
    y = await put(communication_periods=[])
    z = await put()
    g = await put(**{**gvm_point(), "gvm": False})
    u = await put()
    for ean in (x, y, z):
        async with database.write_sessions() as session:
            await session.execute(
                text(
                    "INSERT INTO mandates (organisation_id, ean, access_point_id, "
                    "reference_number, channel, energy_type, data_service_type, "
                    "data_period_from, data_period_to, expiration_date, status, source, "
                    "version) SELECT :org, ean, id, :ref, 'api', 'E', 'VH_kwartier_uur', "
                    ":start, :end, :end, 'approved', 'sandbox', 1 FROM access_points "
                    "WHERE ean = :ean"
                ),
                {
                    "org": esp.organisation_id,
                    "ean": ean,
                    "ref": f"classified-{ean}",
                    "start": day_start(date(2024, 1, 1)),
                    "end": day_start(date(2030, 1, 1)),
                },
            )
            await session.commit()
    rows: list[list[str]] = []
    for n, day in enumerate(ALL_DAYS):
        for ean in (x, y, z, u):
            if ean == y and day in (date(2024, 4, 1), date(2024, 10, 28)):
                continue  # never arrives: expected once Y communicates
            rows += day_rows(ean, day, state="VAL" if n % 2 else "READ")
        rows += day_rows(g, day, meter_id=GVM_METER)
    await ingest(app, rows)

    # Classified when written, before any roll-up.
    found = await stored(database)
    for (ean, day), classification in found.items():
        assert classification == expected_classification(registry[ean], day), (ean, day)
    assert found[(x, SPRING_DST)] == (True, None, False)
    assert found[(u, AUTUMN_DST)] == (True, None, False)
    async with database.write_sessions() as session:
        await session.execute(text("DELETE FROM access_points WHERE ean = :u"), {"u": u})
        await session.commit()
    registry[u] = None

    await run_job(app)
    assert (await stored(database))[(u, AUTUMN_DST)] == (False, "unknown_access_point", False)
    assert await totals(database, SPRING_DST) == (2, 1, 1, 1)  # X and Z; Y; G; U
    assert await totals(database, AUTUMN_DST) == (2, 1, 1, 1)
    # Nothing changed in the registry: a second run reclassifies nothing.
    assert await rows_of(database, "sla_classification_marks") > 0
    await run_job(app)
    await run_job(app)
    assert await rows_of(database, "sla_classification_marks") == 0
    assert await rows_of(database, "sla_dirty_days") == 0

    # After the roll-up: Y communicates from the spring DST day to the day after the autumn
    # one; X stops communicating on the spring DST day; Z's meter becomes a non-digital one;
    # G is a GVM headpoint until the autumn DST day; U is registered again.
    await put(y, communication_periods=[{"valid_from": "2024-03-31", "valid_to": "2024-10-28"}])
    await put(x, communication_periods=[{"valid_from": "2024-01-01", "valid_to": "2024-03-31"}])
    await put(z, meter_type="KM", communication_periods=[])
    meter = {"seq_number": "1", "meter_id": GVM_METER, "installed_from": "2024-01-01"}
    await put(g, **{**gvm_point(), "physical_meters": [{**meter, "installed_to": "2024-10-27"}]})
    await put(u)
    # N is registered only now, communicating since January: its EAN-days on the days
    # redone are expected (never arrived).
    await put()
    # The registry writes marked; the roll-ups are stale until the job runs.
    assert await totals(database, SPRING_DST) == (2, 1, 1, 1)

    await run_job(app)
    found = await stored(database)
    for (ean, day), classification in found.items():
        assert classification == expected_classification(registry[ean], day), (ean, day)
    # Y's day that never arrived is now expected (added, missing); the one after the end of
    # its period is not.
    assert found[(y, date(2024, 4, 1))] == (True, None, False)
    assert (y, date(2024, 10, 28)) not in found
    assert found[(x, date(2024, 3, 30))] == (True, None, False)
    assert found[(x, SPRING_DST)] == (False, "not_communicating", False)
    assert found[(z, SPRING_DST)] == (False, "no_digital_meter", False)
    assert found[(g, date(2024, 10, 26))] == (False, "no_digital_meter", True)
    assert found[(g, AUTUMN_DST)] == (False, "no_digital_meter", False)
    assert found[(u, SPRING_DST)] == (True, None, False)
    # 31 March: Y, U and N count; X does not communicate; Z has no digital meter any more.
    assert await totals(database, SPRING_DST) == (3, 1, 2, 0)
    assert await totals(database, date(2024, 3, 30)) == (3, 1, 2, 0)  # X, U, N; Y; Z, G
    assert await totals(database, AUTUMN_DST) == (3, 1, 2, 0)
    assert await totals(database, date(2024, 10, 28)) == (2, 1, 2, 0)  # U, N; X; Z, G
    # The per-ESP roll-ups of the days redone equal the live computation.
    today = today_in_brussels()
    async with database.read_sessions() as reader:
        for first, end in ((PERIODS[0][0], date(2024, 4, 4)), (PERIODS[1][0], date(2024, 10, 31))):
            rolled = await repository.esp_days(reader, "api", first, end, today, None)
            live = await repository.live_esp_days(reader, "api", first, end, today, None)
            assert rolled == live
            assert rolled

    # The marks are kept for one more run (an ingest that read the old registry may commit
    # after the first), then gone; a write that changes nothing classified marks nothing.
    await run_job(app)
    assert await rows_of(database, "sla_classification_marks") == 0
    async with database.write_sessions() as session:
        await session.execute(text("UPDATE access_points SET updated_at = now()"))
        await session.commit()
    assert await rows_of(database, "sla_classification_marks") == 0


async def test_unclassified_rows_are_classified_by_the_roll_up_of_their_day(
    app: FastAPI,
) -> None:
    """Rows written before migration 0034 (or in bulk by hand) have ``counted`` NULL: the
    roll-up of their day classifies them; ingest classifies such a row when it updates it."""
    database: Database = app.state.database
    x = await put_point(app)
    classic = await put_point(app, meter_type="KM", communication_periods=[])
    async with database.write_sessions() as session:
        await session.execute(
            text(
                "INSERT INTO sla_ean_days (ean, day, streams, complete_streams) "
                "SELECT ean, day, 1, 0 FROM unnest(CAST(:eans AS varchar[])) AS ean, "
                "unnest(CAST(:days AS date[])) AS day"
            ),
            {"eans": [x, classic], "days": [SPRING_DST, AUTUMN_DST]},
        )
        await session.commit()
    await ingest(app, day_rows(x, AUTUMN_DST))
    found = await stored(database)
    assert found[(x, AUTUMN_DST)] == (True, None, False)
    assert found[(x, SPRING_DST)] == (None, None, None)
    async with database.write_sessions() as session:
        await repository.roll_up(session, [SPRING_DST, AUTUMN_DST], NOW)
        await session.commit()
    found = await stored(database)
    assert found[(x, SPRING_DST)] == (True, None, False)
    assert found[(classic, SPRING_DST)] == (False, "no_digital_meter", False)
    assert found[(classic, AUTUMN_DST)] == (False, "no_digital_meter", False)
    assert await totals(database, SPRING_DST) == (1, 0, 1, 0)


async def test_rebuilt_ean_days_are_classified(app: FastAPI) -> None:
    database: Database = app.state.database
    x = await put_point(app, communication_periods=[{"valid_from": "2024-10-27"}])
    await ingest(app, [*day_rows(x, date(2024, 10, 26)), *day_rows(x, AUTUMN_DST)], track=False)
    async with database.write_sessions() as session:
        assert await repository.rebuild_from_blocks(session, date(2024, 10, 1), NOW.date()) == 2
        await session.commit()
    found = await stored(database)
    assert found[(x, date(2024, 10, 26))] == (False, "not_communicating", False)
    assert found[(x, AUTUMN_DST)] == (True, None, False)


async def test_a_new_access_point_makes_its_days_already_rolled_up_expected(app: FastAPI) -> None:
    """Registered after its days were rolled up, with a communication period reaching back:
    its EAN-days on those days are expected (never arrived) from the job's next run, though
    nothing else dirtied them."""
    database: Database = app.state.database
    x = await put_point(app)
    await ingest(app, [row for day in ALL_DAYS for row in day_rows(x, day)])
    await run_job(app)
    assert await totals(database, SPRING_DST) == (1, 0, 0, 0)
    await run_job(app)  # the marks' second run
    late = await put_point(app, communication_periods=[{"valid_from": "2024-03-31"}])
    await run_job(app)
    found = await stored(database)
    assert found[(late, SPRING_DST)] == (True, None, False)
    assert (late, date(2024, 3, 30)) not in found
    assert await totals(database, SPRING_DST) == (2, 0, 0, 0)
    assert await totals(database, AUTUMN_DST) == (2, 0, 0, 0)
    assert await totals(database, date(2024, 3, 30)) == (1, 0, 0, 0)


async def test_a_period_written_during_the_first_roll_up_of_its_day_is_not_lost(
    app: FastAPI,
) -> None:
    """The job's first roll-up of a day is not committed yet when a registry write adds a
    communication period covering that day: the period is marked all the same (it does not
    depend on seeing that day's roll-up), so the job's next run makes the day expect it."""
    database: Database = app.state.database
    x = await put_point(app)
    await ingest(app, [row for day in ALL_DAYS for row in day_rows(x, day)])
    async with database.write_sessions() as session:
        await sla_service.roll_up_days(session, [date(2024, 3, 28)], NOW)
        await session.commit()
    async with database.write_sessions() as first_roll_up:
        await sla_service.roll_up_days(first_roll_up, [SPRING_DST], NOW)
        late = await put_point(app, communication_periods=[{"valid_from": "2024-03-31"}])
        await first_roll_up.commit()
    assert await totals(database, SPRING_DST) == (1, 0, 0, 0)
    await run_job(app)
    assert (await stored(database))[(late, SPRING_DST)] == (True, None, False)
    assert await totals(database, SPRING_DST) == (2, 0, 0, 0)


async def test_the_job_and_an_ingest_of_a_marked_ean_lock_in_one_order(app: FastAPI) -> None:
    """An ingest holds a marked EAN's access point and its later EAN-day when the job
    starts reclassifying that EAN, then writes the earlier EAN-day. Were the job to update
    the EAN-days first (in the order it finds them), each would hold a row the other waits
    for and PostgreSQL would abort one as a deadlock; the job waits for the access point
    first, as the ingest does, and both commit."""
    database: Database = app.state.database
    first, later = date(2024, 3, 30), SPRING_DST
    x = await put_point(app)
    await ingest(app, [row for day in (first, later) for row in day_rows(x, day)])
    await put_point(app, ean=x, communication_periods=[{"valid_from": "2024-06-01"}])
    touch = text("UPDATE sla_ean_days SET streams = streams WHERE ean = :ean AND day = :day")
    async with database.write_sessions() as ingesting:
        await access_points_repository.lock_for_metering(ingesting, [x])
        await ingesting.execute(touch, {"ean": x, "day": later})
        job = asyncio.create_task(run_job(app))

        async def job_waits() -> bool:
            async with database.read_sessions() as session:
                waiting = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                    )
                )
            return bool(waiting)

        await until(job_waits, "the job waiting for the ingest's locks")
        await ingesting.execute(touch, {"ean": x, "day": first})
        await ingesting.commit()
    await asyncio.wait_for(job, 30)
    classified = await stored(database)
    assert classified[(x, first)] == classified[(x, later)] == (False, "not_communicating", False)
