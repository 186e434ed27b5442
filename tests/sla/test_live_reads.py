"""The two SLA reads that used to be computed from every EAN-day of the period: the NPS
channel's DSO-wide figures (now rolled up per day and mandate channel, equal to the live
definition, following mandate and contract changes) and the late-item pages (now read
through partial indexes of the EAN-days that can be late, equal to every late EAN-day
whatever the target)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.brussels_days import today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.db import Database
from datahub_api.sla import repository
from datahub_api.sla import service as sla_service
from datahub_api.sla.repository import Data, DayCounts
from datahub_api.sla.service import SlaChannel

from ..support.meter_data import day_rows
from ..support.parties import make_esp
from ..support.sla_world import (
    GVM_METER,
    add_mandate,
    days,
    gvm_point,
    ingest,
    put_point,
    roll_up,
    roll_up_mandate_changes,
    vary_delays,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
SPRING = (date(2024, 3, 15), date(2024, 4, 15))  # 31 March: 92 quarter-hours
DATA: tuple[Data, ...] = ("informative", "validated")


async def world(app: FastAPI, eans: list[str], gvm: str | None = None) -> None:
    """SPRING's days of ``eans`` (and of the GVM headpoint): some never arrive, some
    incomplete, half validated; delays spread; rolled up."""
    rows: list[list[str]] = []
    for n, day in enumerate(days(SPRING[0], SPRING[1] - timedelta(days=1))):
        for k, ean in enumerate(eans):
            if (n + k) % 7 == 3:
                continue
            rows += day_rows(
                ean,
                day,
                slots=range(10) if (n + k) % 5 == 1 else None,
                state="VAL" if (n + k) % 2 else "READ",
            )
        if gvm is not None and n % 4:
            rows += day_rows(gvm, day, meter_id=GVM_METER, state="VAL" if n % 3 else "READ")
    await ingest(app, rows)
    await vary_delays(app.state.database)
    await roll_up(app, days(SPRING[0], SPRING[1] - timedelta(days=1)), datetime.now(UTC))


async def nps_both(
    database: Database, data: Data, today: date
) -> tuple[list[DayCounts], list[DayCounts], list[int]]:
    """(rolled up, live, uncovered organisations) of the NPS channel's DSO-wide figures."""
    async with database.read_sessions() as session:
        rolled = await repository.mandate_days(session, "nps", *SPRING, data)
        live = await repository.live_mandate_days(session, "nps", *SPRING, today, data)
        uncovered = await repository.uncovered_organisations(session, "nps", *SPRING, today)
    return rolled, live, uncovered


async def test_mandate_day_roll_ups_equal_the_live_figures_and_follow_changes(
    app: FastAPI,
) -> None:
    database: Database = app.state.database
    today = today_in_brussels()
    esp_a = await make_esp(app, "Live A", channels=[Channel.nps])
    esp_b = await make_esp(app, "Live B", channels=[Channel.nps])
    esp_c = await make_esp(app, "Live C", channels=[Channel.api])
    x, y = await put_point(app), await put_point(app)
    gvm = await put_point(app, **gvm_point())
    far = date(2030, 1, 1)
    # The GVM headpoint under both NPS ESPs from 25 March (B alone before, until 5 April);
    # X under both all along; Y only under an API mandate (not on NPS).
    await add_mandate(app, esp_a, gvm, date(2024, 3, 25), far, "nps")
    await add_mandate(app, esp_b, gvm, date(2024, 3, 20), date(2024, 4, 5), "nps")
    await add_mandate(app, esp_a, x, date(2024, 1, 1), far, "nps")
    await add_mandate(app, esp_b, x, date(2024, 1, 1), far, "nps")
    await add_mandate(app, esp_c, y, date(2024, 1, 1), far, "api")
    await world(app, [x, y], gvm)

    for data in DATA:
        rolled, live, uncovered = await nps_both(database, data, today)
        assert rolled == live, data
        assert uncovered == []
    rolled, _, _ = await nps_both(database, "informative", today)
    expected = {counts.day: counts.expected for counts in rolled}
    assert expected[date(2024, 3, 16)] == 1  # X once (two ESPs)
    assert expected[date(2024, 3, 28)] == 2  # X and the headpoint, each once
    assert expected[date(2024, 4, 8)] == 2
    assert any(len(counts.delays) > 1 for counts in rolled)

    # A's mandate on the headpoint goes: from 5 April it is under nobody's.
    async with database.write_sessions() as session:
        await session.execute(
            text("DELETE FROM mandates WHERE organisation_id = :a AND ean = :g"),
            {"a": esp_a.organisation_id, "g": gvm},
        )
        await session.commit()
    rolled, live, _ = await nps_both(database, "informative", today)
    assert rolled != live
    await roll_up_mandate_changes(app)
    for data in DATA:
        rolled, live, uncovered = await nps_both(database, data, today)
        assert rolled == live, data
    expected = {counts.day: counts.expected for counts in rolled}
    assert expected[date(2024, 3, 28)] == 2
    assert expected[date(2024, 4, 8)] == 1

    # B's contract ends today: its days no longer count in the definition; the roll-ups
    # still hold them, so the report computes the figures live.
    async with database.write_sessions() as session:
        await session.execute(
            text("UPDATE data_access_contracts SET valid_to = :today WHERE organisation_id = :b"),
            {"b": esp_b.organisation_id, "today": today},
        )
        await session.commit()
    rolled, live, uncovered = await nps_both(database, "informative", today)
    assert uncovered == [esp_b.organisation_id]
    assert rolled != live
    async with database.read_sessions() as session:
        read = await sla_service.dso_wide_days(session, SlaChannel.nps, *SPRING, today)
    assert read == live


async def test_the_late_item_indexes_hold_what_the_reads_state(app: FastAPI) -> None:
    """The planner uses a partial index only for a query that states its predicate:
    ``repository.maybe_late`` and the migrated indexes say the same."""
    async with app.state.database.write_sessions() as session:
        for data, name in [
            (data, f"ix_sla_ean_days_late_{data}{suffix}")
            for data in repository.LATE_FLOOR_HOURS
            for suffix in ("", "_by_ean")
        ]:
            await session.execute(
                text(
                    "CREATE INDEX scratch_late ON sla_ean_days (day, ean) "
                    f"WHERE {repository.maybe_late(data, alias='')}"
                )
            )
            found = (
                await session.execute(
                    text(
                        "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
                        "JOIN pg_class c ON c.oid = i.indexrelid "
                        "WHERE c.relname IN ('scratch_late', :name)"
                    ),
                    {"name": name},
                )
            ).all()
            predicates = {row[0]: row[1] for row in found}
            assert predicates[name] == predicates["scratch_late"], data
            await session.execute(text("DROP INDEX scratch_late"))
        await session.rollback()


async def test_late_item_pages_hold_every_late_ean_day_whatever_the_target(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    database: Database = app.state.database
    esp = await make_esp(app, "Late A", channels=[Channel.api])
    x, y, z = [await put_point(app) for _ in range(3)]
    await add_mandate(app, esp, y, date(2024, 1, 1), date(2030, 1, 1))
    await world(app, [x, y, z])
    now = datetime(2024, 4, 20, 12, tzinfo=UTC)
    async with database.read_sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT ean, day, delivered_at, validated_at FROM sla_ean_days "
                    "WHERE counted AND day >= :start AND day < :end"
                ),
                {"start": SPRING[0], "end": SPRING[1]},
            )
        ).all()
    assert len(rows) > 80

    def late(data: Data, hours: int, ean: str | None) -> list[tuple[date, str]]:
        found = []
        for row_ean, day, delivered_at, validated_at in rows:
            at = delivered_at if data == "informative" else validated_at
            # In UTC: an aware Brussels time plus hours would add wall-clock time across DST.
            foreseen = datetime.combine(
                day + timedelta(days=1), datetime.min.time(), BRUSSELS
            ).astimezone(UTC)
            if (at or now) > foreseen + timedelta(hours=hours) and ean in (None, row_ean):
                found.append((day, row_ean))
        return sorted(found)

    async def pages(data: Data, hours: int, organisation: int | None) -> list[tuple[date, str]]:
        found: list[tuple[date, str]] = []
        after: tuple[date, str] | None = None
        async with database.read_sessions() as session:
            while True:
                page = await repository.late_items(
                    session,
                    channel="api",
                    start=SPRING[0],
                    end=SPRING[1],
                    today=now.date(),
                    now=now,
                    target_hours=hours,
                    organisation_id=organisation,
                    ean=None,
                    after=after,
                    limit=7,
                    data=data,
                )
                found += [(item.day, item.ean) for item in page]
                if len(page) < 7:
                    return found
                after = found[-1]

    # Below, at and above the informative index's floor (a day); validated data: a scan.
    for data in DATA:
        for hours in (0, 12, 24, 72, 168, 200):
            everything = late(data, hours, None)
            assert await pages(data, hours, None) == everything, (data, hours)
            assert await pages(data, hours, esp.organisation_id) == late(data, hours, y)
            if 24 <= hours < 200:  # the fixture has late days at each target
                assert everything, (data, hours)
    # The pages of an ESP with many EANs walk the period's EAN-days instead: the same items.
    monkeypatch.setattr(repository, "LATE_FROM_OWN_EANS", 0)
    for data in DATA:
        for hours in (0, 24, 72):
            assert await pages(data, hours, esp.organisation_id) == late(data, hours, y)
