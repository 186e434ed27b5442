"""The per-ESP roll-ups equal the live computation from the EAN-days and the mandates, on a
varied fixture (DST days of 92 and 100 quarter-hours, mandates starting and ending
mid-month, a finished one, two ESPs and two mandates of one ESP on the same EAN, a tenure
ending mid-month, the NPS channel's GVM headpoint, delays of many sizes), and stay equal
when mandates are written, finished, moved or deleted after their days were rolled up."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.db import Database
from datahub_api.sla import repository
from datahub_api.sla import service as sla_service
from datahub_api.sla.repository import Data, DayCounts

from ..support.meter_data import day_rows
from ..support.parties import Esp, make_esp
from ..support.sla_world import GVM_METER, days, gvm_point, ingest, put_point, vary_delays

# Around both DST changes of 2024: 31 March has 92 quarter-hours, 27 October 100.
SPRING = (date(2024, 3, 20), date(2024, 4, 10))
AUTUMN = (date(2024, 10, 15), date(2024, 11, 5))
CHANNELS: tuple[tuple[str, Data], ...] = (
    ("api", "informative"),
    ("api", "validated"),
    ("portal", "informative"),
    ("nps", "informative"),
    ("nps", "validated"),
)


async def both(
    database: Database, start: date, end: date
) -> list[tuple[str, str, list[DayCounts], list[DayCounts]]]:
    """(channel, data, rolled up, live) for every channel and data, every organisation."""
    today = today_in_brussels()
    found: list[tuple[str, str, list[DayCounts], list[DayCounts]]] = []
    async with database.read_sessions() as session:
        for channel, data in CHANNELS:
            rolled = await repository.esp_days(session, channel, start, end, today, None, data)
            live = await repository.live_esp_days(session, channel, start, end, today, None, data)
            found.append((channel, data, rolled, live))
    return found


async def assert_equal_to_live(database: Database) -> int:
    """Rolled-up and live figures are equal over both periods; returns the EAN-days seen."""
    seen = 0
    for start, end in (SPRING, AUTUMN):
        for channel, data, rolled, live in await both(database, start, end):
            assert rolled == live, (channel, data, start)
            seen += sum(counts.expected for counts in live)
    return seen


async def run_job(database: Database, app: FastAPI, now: datetime) -> None:
    async with database.write_sessions() as session:
        await sla_service.roll_up(session, app.state.settings, now)
        await session.commit()


async def mandate(
    app: FastAPI,
    esp: Esp,
    ean: str,
    start: date,
    end: date,
    channel: str = "api",
    reference: str = "first",
) -> None:
    """An approved mandate; another ``reference`` gives the ESP a second one on the EAN."""
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text(
                "INSERT INTO mandates (organisation_id, ean, access_point_id, reference_number, "
                "channel, energy_type, data_service_type, data_period_from, data_period_to, "
                "expiration_date, status, source, version) SELECT :org, ean, id, :ref, "
                ":channel, 'E', 'VH_kwartier_uur', :start, :end, :end, 'approved', 'sandbox', 1 "
                "FROM access_points WHERE ean = :ean"
            ),
            {
                "org": esp.organisation_id,
                "ean": ean,
                "ref": f"{reference}-{channel}",
                "channel": channel,
                "start": day_start(start),
                "end": day_start(end),
            },
        )
        await session.commit()


async def test_per_esp_roll_ups_equal_the_live_figures_and_follow_mandate_changes(
    app: FastAPI,
) -> None:
    database: Database = app.state.database
    esp_a = await make_esp(app, "Roll A")
    esp_b = await make_esp(app, "Roll B", channels=[Channel.api, Channel.nps])
    esp_c = await make_esp(app, "Roll C", channels=[Channel.portal])
    x, y, z, w = [await put_point(app) for _ in range(4)]
    gvm = await put_point(app, **gvm_point())
    far = date(2030, 1, 1)

    # Two ESPs on X (B from mid-March), A with two mandates on X (one ending mid-October).
    await mandate(app, esp_a, x, date(2024, 1, 1), far)
    await mandate(app, esp_a, x, date(2024, 3, 1), date(2024, 10, 20), reference="second")
    await mandate(app, esp_b, x, date(2024, 3, 27), far)
    # Y: A's mandate ends mid-spring; B's was finished (never counts).
    await mandate(app, esp_a, y, date(2024, 2, 1), date(2024, 4, 2))
    await mandate(app, esp_b, y, date(2024, 1, 1), far)
    # Z: C on the portal; A's tenure on Z ends on 29 March (the DST change inside it).
    await mandate(app, esp_c, z, date(2024, 3, 25), date(2024, 10, 28), "portal")
    await mandate(app, esp_a, z, date(2024, 1, 1), far)
    # The GVM headpoint on NPS (B), with an API mandate of A that does not make it count.
    await mandate(app, esp_b, gvm, date(2024, 3, 30), far, "nps")
    await mandate(app, esp_a, gvm, date(2024, 1, 1), far)
    async with database.write_sessions() as session:
        await session.execute(
            text("UPDATE mandates SET status = 'finished' WHERE ean = :y AND organisation_id = :b"),
            {"y": y, "b": esp_b.organisation_id},
        )
        await session.execute(
            text("UPDATE mandates SET tenure_to = :end WHERE ean = :z AND organisation_id = :a"),
            {"z": z, "a": esp_a.organisation_id, "end": day_start(date(2024, 3, 29))},
        )
        await session.commit()

    rows: list[list[str]] = []
    for start, end in (SPRING, AUTUMN):
        for n, day in enumerate(days(start, end - timedelta(days=1))):
            for k, ean in enumerate((x, y, z, w)):
                if (n + k) % 7 == 3:
                    continue  # never arrives
                if (n + k) % 5 == 1:  # arrives incomplete
                    rows += day_rows(ean, day, slots=range(10))
                    continue
                rows += day_rows(ean, day, state="VAL" if (n + k) % 2 else "READ")
            if n % 4:
                rows += day_rows(gvm, day, meter_id=GVM_METER, state="VAL" if n % 3 else "READ")
    await ingest(app, rows)
    await vary_delays(database)
    async with database.write_sessions() as session:
        for start, end in (SPRING, AUTUMN):
            await repository.roll_up(
                session, days(start, end - timedelta(days=1)), datetime.now(UTC)
            )
        await session.commit()
    # Marks of the fixture's own mandate writes (none: their days were not rolled up yet).
    await run_job(database, app, datetime(2024, 11, 5, 12, tzinfo=UTC))

    seen = await assert_equal_to_live(database)
    assert seen > 250
    spring = await both(database, *SPRING)
    dst = date(2024, 3, 31)
    rolled_api = {(c.organisation_id, c.day): c for c in spring[0][2]}
    # 31 March (92 quarter-hours): A counts X and Y (Z's tenure ended), B counts X.
    assert rolled_api[(esp_a.organisation_id, dst)].expected == 2
    assert rolled_api[(esp_b.organisation_id, dst)].expected == 1
    assert any(len(c.delays) > 1 for c in rolled_api.values())
    nps = {(c.organisation_id, c.day) for c in spring[3][2]}
    assert {org for org, _ in nps} == {esp_b.organisation_id}

    # After the roll-up: B gets W, A's mandate on X for the second reference is finished,
    # C's portal mandate moves, and A's mandate on the GVM headpoint is deleted.
    await mandate(app, esp_b, w, date(2024, 3, 22), date(2024, 10, 25))
    async with database.write_sessions() as session:
        await session.execute(
            text("UPDATE mandates SET status = 'finished' WHERE reference_number = 'second-api'")
        )
        await session.execute(
            text(
                "UPDATE mandates SET data_period_from = :start WHERE organisation_id = :c "
                "AND ean = :z"
            ),
            {"c": esp_c.organisation_id, "z": z, "start": day_start(date(2024, 4, 3))},
        )
        await session.execute(
            text("DELETE FROM mandates WHERE organisation_id = :a AND ean = :g"),
            {"a": esp_a.organisation_id, "g": gvm},
        )
        await session.commit()
    stale = [
        (channel, data)
        for start, end in (SPRING, AUTUMN)
        for channel, data, rolled, live in await both(database, start, end)
        if rolled != live
    ]
    assert ("api", "informative") in stale
    assert ("portal", "informative") in stale
    async with database.read_sessions() as session:
        marked = set(
            (
                await session.execute(text("SELECT day, organisation_id FROM sla_esp_dirty_days"))
            ).all()
        )
    assert (date(2024, 3, 22), esp_b.organisation_id) in marked
    assert (date(2024, 10, 24), esp_b.organisation_id) in marked
    assert (date(2024, 3, 26), esp_c.organisation_id) in marked

    await run_job(database, app, datetime(2024, 11, 5, 12, tzinfo=UTC))
    assert await assert_equal_to_live(database) > 250
    async with database.read_sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM sla_esp_dirty_days")) == 0

    # A write that changes nothing the figures depend on marks nothing.
    async with database.write_sessions() as session:
        await session.execute(text("UPDATE mandates SET updated_at = now(), version = version + 1"))
        await session.commit()
    async with database.read_sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM sla_esp_dirty_days")) == 0


async def test_a_mandate_committed_while_the_job_runs_keeps_its_mark(app: FastAPI) -> None:
    """The job claims the marks before it rolls up: a mandate committed after the claim is
    redone by the next run, not dropped as if the whole-day roll-up had seen it."""
    database: Database = app.state.database
    esp_a = await make_esp(app, "Race A")
    esp_b = await make_esp(app, "Race B", channels=[Channel.api])
    x = await put_point(app)
    await mandate(app, esp_a, x, date(2024, 1, 1), date(2030, 1, 1))
    spring = days(SPRING[0], SPRING[1] - timedelta(days=1))
    rows: list[list[str]] = []
    for day in spring:
        rows += day_rows(x, day)
    await ingest(app, rows)
    now = datetime(2024, 4, 20, 12, tzinfo=UTC)
    async with database.write_sessions() as job:
        marked = await repository.claim_esp_marks(job)
        await repository.roll_up(job, spring, now)
        # B's mandate commits after the whole-day roll-up, from another connection (its
        # trigger does not wait on the job's claim): the roll-up did not see it.
        await mandate(app, esp_b, x, date(2024, 1, 1), date(2030, 1, 1))
        await repository.roll_up_esp_pairs(job, marked, spring)
        await job.commit()
    async with database.read_sessions() as session:
        left = await session.scalar(
            text("SELECT count(*) FROM sla_esp_dirty_days WHERE organisation_id = :b"),
            {"b": esp_b.organisation_id},
        )
    assert left
    await run_job(database, app, now)
    assert await assert_equal_to_live(database) > 0


async def test_the_trigger_marks_at_least_the_days_the_job_looks_back_on(app: FastAPI) -> None:
    """Days the job rolls up for the first time (no totals, not dirty) are those of its
    lookback: the trigger marks recent days over a longer window."""
    async with app.state.database.read_sessions() as session:
        source = await session.scalar(
            text("SELECT prosrc FROM pg_proc WHERE proname = 'sla_mark_mandate_days'")
        )
    assert source is not None
    windows = {int(days) for days in re.findall(r"::date - (\d+)", source)}
    assert windows
    assert min(windows) > sla_service.ROLL_UP_LOOKBACK_DAYS + 1
