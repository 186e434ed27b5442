"""The demo builder's meter data, written a page of access points at a time, is the data the
builder wrote when it held every block until one COPY."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points.models import AccessPoint
from datahub_api.access_points.repository import AccessPointFilter, list_page
from datahub_api.db import Database, WriteSession
from datahub_api.demo.service import DemoParameters, seed_demo_world
from datahub_api.meter_data import repository
from datahub_api.meter_data.blocks import BLOCK_COLUMNS, BlockRecord
from datahub_api.meter_data.demo_data import (
    BAD_MONTH_DAYS_BACK,
    EST,
    HOUR,
    QUARTER,
    DemoDaysTally,
    Profiles,
    Timeline,
    _copy_blocks,
    block_rows,
    plan_series,
    write_demo_days,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import BLOCKS_TABLE, HISTORY_TABLE

from ..support.environment import make_settings

FIRST, LAST = date(2025, 9, 20), date(2025, 11, 10)  # the bad month and a DST change
NOW = datetime(2025, 11, 12, 7, 30, tzinfo=UTC)  # the last days partly delivered
SEED = 1919

_COLUMNS = ", ".join(f"b.{column}" for column in BLOCK_COLUMNS)
_DIGEST = text(
    "SELECT count(*) AS blocks, md5(string_agg(concat_ws(',', b.id - f.id, "
    f"{_COLUMNS}), '|' ORDER BY b.id)) AS digest FROM {BLOCKS_TABLE} b, "
    f"(SELECT min(id) AS id FROM {BLOCKS_TABLE}) f"
)
_HISTORY_DIGEST = text(
    "SELECT count(*) AS blocks, md5(string_agg(concat_ws(',', b.block_id - f.id, "
    f"{_COLUMNS}, b.superseded_at), '|' ORDER BY b.block_id, b.version)) AS digest "
    f"FROM {HISTORY_TABLE} b, (SELECT min(id) AS id FROM {BLOCKS_TABLE}) f"
)


async def _all_at_once(session: WriteSession) -> DemoDaysTally:
    """The builder before it streamed: every access point listed, every block generated,
    then one COPY (kept here as the reference)."""
    rng = np.random.default_rng(SEED)
    profiles = Profiles(
        rng, Timeline.build(FIRST, LAST, QUARTER), Timeline.build(FIRST, LAST, HOUR)
    )
    points: list[AccessPoint] = []
    while True:
        page = await list_page(
            session,
            after_ean=points[-1].ean if points else None,
            limit=1000,
            where=AccessPointFilter(),
        )
        points.extend(page)
        if len(page) < 1000:
            break
    bad = LAST - timedelta(days=BAD_MONTH_DAYS_BACK)
    blocks: list[BlockRecord] = []
    history: list[tuple[int, tuple[BlockRecord, datetime]]] = []
    for series in plan_series(points, profiles, rng):
        timeline = profiles.hour if series.granularity is Granularity.PT1H else profiles.quarter
        for row, superseded in block_rows(series, timeline, rng, NOW, (bad.year, bad.month)):
            blocks.append(row)
            history.extend((len(blocks) - 1, version) for version in superseded)
    connection = await session.connection()
    await repository.create_partitions(connection, range(FIRST.year, LAST.year + 1))
    await _copy_blocks(session, blocks, history)
    return DemoDaysTally(
        day_blocks=len(blocks),
        corrected_blocks=sum(1 for _, (old, _) in history if old.packed_states == EST),
        validated_blocks=sum(1 for block in blocks if block.validated_at is not None),
    )


async def _written(session: WriteSession) -> tuple[tuple[int, str], tuple[int, str]]:
    blocks = (await session.execute(_DIGEST)).one()
    history = (await session.execute(_HISTORY_DIGEST)).one()
    return (blocks.blocks, blocks.digest), (history.blocks, history.digest)


async def _empty(session: WriteSession) -> None:
    await session.execute(text(f"DELETE FROM {HISTORY_TABLE}"))
    await session.execute(text(f"DELETE FROM {BLOCKS_TABLE}"))


async def test_paged_demo_days_are_the_blocks_of_one_copy(app: FastAPI) -> None:
    database: Database = app.state.database
    async with database.write_sessions() as session:
        await seed_demo_world(session, make_settings(), DemoParameters(eans=60, days=1, seed=7))
        await _empty(session)
        reference_tally = await _all_at_once(session)
        reference = await _written(session)
        for points_per_copy in (1, 7, 2_000):
            await _empty(session)
            tally = await write_demo_days(
                session, np.random.default_rng(SEED), FIRST, LAST, NOW,
                points_per_copy=points_per_copy,
            )  # fmt: skip
            assert tally == reference_tally, points_per_copy
            assert await _written(session) == reference, points_per_copy
        await session.rollback()
    (blocks, _), (superseded, _) = reference
    assert blocks == reference_tally.day_blocks > 1_000
    assert superseded > 0
    assert reference_tally.corrected_blocks > 0
    assert 0 < reference_tally.validated_blocks < blocks
