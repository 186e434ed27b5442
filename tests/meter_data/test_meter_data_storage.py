"""The day-block storage: the packed layout, the queries retrieval builds on, the size on
disk per value, and the demo series."""

from __future__ import annotations

import asyncio
import random
import struct
from array import array
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from datahub_api.db import Database
from datahub_api.demo.service import DemoParameters, seed_demo_world
from datahub_api.meter_data import repository, service
from datahub_api.meter_data.blocks import (
    BIT_PACKED,
    GAP,
    MAX_STORABLE,
    BlockKey,
    pack_array,
    pack_states,
    pack_values,
    unpack_slots,
    unpack_states,
    unpack_values,
)
from datahub_api.meter_data.demo_data import (
    QUARTER,
    DemoSeries,
    Profiles,
    Timeline,
    block_rows,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import BatchBuilder, CsvReader
from datahub_api.meter_data.models import Direction, Register, StoredUnit, partition_name
from datahub_api.meter_data.repository import ChangeCursor

from ..support.environment import make_settings
from ..support.meter_data import HEADER, METER, day_rows, register

DAY = date(2026, 2, 10)


def _byte_layout(values: list[int]) -> bytes:
    """The first packed layout (byte-wide offsets), as blocks stored before the bit-packed
    one hold it."""
    present = [v for v in values if v >= 0]
    base, span = min(present), max(present) - min(present)
    width = 1 if span < 0xFF else 2 if span < 0xFFFF else 4
    gap = (1 << 8 * width) - 1
    offsets = [v - base if v >= 0 else gap for v in values]
    code = {1: "B", 2: "H", 4: "I"}[width]
    return struct.pack(f"<BI{len(values)}{code}", width, base, *offsets)


def _round_trips(values: list[int]) -> bytes:
    packed = pack_values(values)
    assert list(unpack_slots(packed)) == values
    assert unpack_values(packed) == [None if v == GAP else v for v in values]
    assert pack_array(np.array(values, dtype=np.int64)) == packed  # the numpy twin
    assert pack_values(array("q", values)) == packed
    return packed


@pytest.mark.parametrize("slots", [1, 23, 24, 25, 32, 33, 92, 96, 100])
@pytest.mark.parametrize("gaps", [False, True])
def test_every_bit_width_round_trips(slots: int, gaps: bool) -> None:
    """Hours and days (decoded with integers) and quarter-hours of normal and DST days
    (decoded with numpy), at every width from 0 to 32 bits, with and without gaps."""
    rng = random.Random(slots)
    for bits in range(33):
        top = min((1 << bits) - 1 - gaps, MAX_STORABLE)  # the span that needs all bits
        if top < 0 or (slots == 1 and (gaps or bits)):  # one slot: its value, no span
            continue
        base = min(rng.randrange(0, 5000), MAX_STORABLE - top)
        values = [base + rng.randint(0, top) for _ in range(slots)]
        values[0], values[-1] = base, base + top
        if gaps:
            values[slots // 2] = GAP
        packed = _round_trips(values)
        assert packed[0] == BIT_PACKED | gaps << 6 | bits
        assert packed[1] == slots
        assert len(packed) - 2 - len(_varint(base)) == (slots * bits + 7) // 8


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def test_the_bit_packed_layout_byte_by_byte() -> None:
    # span 880 and a gap: 10 bits (1023 is the gap), base 20 in one varint byte.
    packed = pack_values([20, 900, GAP])
    assert packed[:3] == bytes([0x80 | 0x40 | 10, 3, 20])
    assert int.from_bytes(packed[3:], "little") == 0 | 880 << 10 | 1023 << 20
    assert len(packed) == 3 + 4  # 30 bits in 4 bytes
    # A day without injection: every quarter-hour 0, no bits per slot at all.
    assert pack_values([0] * 96) == bytes([0x80, 96, 0])
    assert unpack_values(pack_values([300] * 25)) == [300] * 25
    # The largest storable value, and a base of five varint bytes.
    assert _round_trips([MAX_STORABLE, GAP]) == bytes([0xC1, 2, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 2])
    assert _round_trips([0, MAX_STORABLE, GAP] * 32)[0] == 0xC0 | 32
    with pytest.raises(ValueError, match="too large"):
        pack_values([MAX_STORABLE + 1])
    with pytest.raises(ValueError, match="too large"):
        pack_array(np.array([MAX_STORABLE + 1] * 96, dtype=np.int64))


def test_a_household_quarter_hour_day_takes_ten_bits_a_value() -> None:
    rng = random.Random(5)
    day = [rng.randint(20, 900) for _ in range(96)]
    day[0], day[1] = 20, 900
    assert len(_round_trips(day)) == 3 + 96 * 10 // 8  # was 5 + 96 * 2 in bytes
    gas = [rng.randint(0, 3000) for _ in range(24)]
    gas[0], gas[1] = 0, 3000
    assert len(_round_trips(gas)) == 3 + 24 * 12 // 8  # was 5 + 24 * 2


@pytest.mark.parametrize(
    "values",
    [
        [0, 5, 254, GAP, 3],  # span 254: one byte, 0xFF is the gap
        [1000, 1255, GAP],  # span 255: two bytes
        [0, 70_000, GAP, 12],  # four bytes
        [4_000_000_000, GAP, 4_000_000_001],
        [7],
        [0] * 96,
        [20 + (n * 37) % 880 for n in range(100)],
        [0, MAX_STORABLE, *[GAP] * 90],
    ],
)
def test_blocks_stored_in_the_byte_layout_stay_readable(values: list[int]) -> None:
    stored = _byte_layout(values)
    assert not stored[0] & BIT_PACKED
    assert list(unpack_slots(stored)) == values
    assert unpack_values(stored) == [None if v == GAP else v for v in values]


@given(
    st.lists(
        st.one_of(st.just(GAP), st.integers(0, MAX_STORABLE), st.integers(0, 1000)),
        min_size=1,
        max_size=100,
    ).filter(lambda values: any(v >= 0 for v in values))
)
@settings(max_examples=300, deadline=None)
def test_any_block_round_trips(values: list[int]) -> None:
    _round_trips(values)


def test_packed_states_are_one_byte_when_uniform() -> None:
    slots = [1, GAP, 3]
    assert pack_states(bytearray([2, 0, 2]), slots) == b"\x02"
    assert list(unpack_states(b"\x02", slots)) == [2, 0, 2]
    mixed = pack_states(bytearray([1, 0, 2]), slots)
    assert mixed == b"\x01\x00\x02"
    assert list(unpack_states(mixed, slots)) == [1, 0, 2]
    with pytest.raises(ValueError, match="at least one value"):
        pack_values([GAP, GAP])


async def _ingest(app: FastAPI, rows: list[list[str]]) -> service.IngestOutcome:
    builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e5, max_blocks=10**6)
    reader = CsvReader(builder)
    reader.feed([HEADER, *(",".join(row) for row in rows)])
    database: Database = app.state.database
    async with database.write_sessions() as session:
        outcome = await service.store_batch(session, builder.batch)
        await session.commit()
    return outcome


async def test_two_batches_for_the_same_day_at_once_both_land(app: FastAPI) -> None:
    """Writers of an EAN's blocks take turns (a row lock on the access point), so the
    second merges into what the first committed instead of failing on the key."""
    ean = await register(app)
    database: Database = app.state.database

    async def store(slots: range) -> service.IngestOutcome:
        builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e5, max_blocks=9)
        reader = CsvReader(builder)
        reader.feed([HEADER, *(",".join(row) for row in day_rows(ean, DAY, slots=slots))])
        async with database.write_sessions() as session:
            outcome = await service.store_batch(session, builder.batch)
            await asyncio.sleep(0.2)  # hold the lock a while
            await session.commit()
        return outcome

    first, second = await asyncio.gather(store(range(0, 60)), store(range(60, 96)))
    assert sorted([first.blocks_created, second.blocks_created]) == [0, 1]
    assert first.blocks_filled + second.blocks_filled == 1
    async with database.read_sessions() as session:
        [block] = await repository.read_blocks(session, ean, DAY, DAY + timedelta(1))
    assert (block.filled_slots, block.version) == (96, 2)
    assert block.values == list(range(1, 97))


async def test_a_block_stored_in_the_byte_layout_is_read_and_rewritten_bit_packed(
    app: FastAPI,
) -> None:
    ean = await register(app)
    await _ingest(app, day_rows(ean, DAY, slots=range(0, 60)))
    database: Database = app.state.database
    first = list(range(1, 61)) + [GAP] * 36
    async with database.write_sessions() as session:
        await session.execute(
            text("UPDATE meter_day_blocks SET packed_values = :packed WHERE ean = :ean"),
            {"packed": _byte_layout(first), "ean": ean},
        )
        await session.commit()
    async with database.read_sessions() as session:
        [block] = await repository.read_blocks(session, ean, DAY, DAY + timedelta(1))
    assert block.values == list(range(1, 61)) + [None] * 36
    await _ingest(app, day_rows(ean, DAY, slots=range(60, 96)))
    async with database.read_sessions() as session:
        [block] = await repository.read_blocks(session, ean, DAY, DAY + timedelta(1))
        stored = await session.scalar(
            text("SELECT packed_values FROM meter_day_blocks WHERE ean = :ean"), {"ean": ean}
        )
    assert (block.values, block.version) == (list(range(1, 97)), 2)
    assert stored == pack_values(list(range(1, 97)))
    assert stored[0] & BIT_PACKED


async def test_read_blocks_by_date_range_and_filters(app: FastAPI) -> None:
    ean = await register(app)
    other = await register(app)
    rows = [row for n in range(4) for row in day_rows(ean, DAY + timedelta(days=n))]
    rows += day_rows(ean, DAY, direction="injection", value="0.1")
    rows += day_rows(ean, DAY, granularity=Granularity.P1D, register="night", value="7")
    rows += day_rows(other, DAY)
    await _ingest(app, rows)
    database: Database = app.state.database
    async with database.read_sessions() as session:
        middle = await repository.read_blocks(
            session, ean, DAY + timedelta(days=1), DAY + timedelta(days=3)
        )
        first_day = await repository.read_blocks(session, ean, DAY, DAY + timedelta(days=1))
        injection = await repository.read_blocks(
            session, ean, DAY, DAY + timedelta(days=9), direction=Direction.injection
        )
        daily = await repository.read_blocks(
            session,
            ean,
            DAY,
            DAY + timedelta(days=9),
            register=Register.night,
            granularity=Granularity.P1D,
        )
    assert [b.key.day for b in middle] == [DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert {b.key.ean for b in middle} == {ean}
    assert [(b.key.direction, b.key.register, b.key.granularity) for b in first_day] == [
        (Direction.offtake, Register.total, Granularity.PT15M),
        (Direction.offtake, Register.night, Granularity.P1D),
        (Direction.injection, Register.total, Granularity.PT15M),
    ]
    assert [b.values[0] for b in injection] == [100]
    assert [b.values for b in daily] == [[7000]]


async def test_changed_since_pages_by_insert_time_and_id(app: FastAPI) -> None:
    eans = [await register(app) for _ in range(3)]
    for n in range(3):  # three batches: EAN 0 days 0-1, EAN 1 days 0-1, EAN 2 days 0-1
        await _ingest(app, [r for d in range(2) for r in day_rows(eans[n], DAY + timedelta(d))])
    # A correction moves EAN 0's first day to the end of the feed.
    await _ingest(app, day_rows(eans[0], DAY, value="0.9"))
    database: Database = app.state.database
    seen: list[tuple[str, date, int]] = []
    cursor: ChangeCursor | None = None
    async with database.read_sessions() as session:
        while True:
            page = await repository.blocks_changed_since(
                session, [*eans[:2], "541448800000000000"], after=cursor, limit=3
            )
            seen.extend((b.key.ean, b.key.day, b.version) for b in page)
            if len(page) < 3:
                break
            cursor = ChangeCursor(page[-1].last_inserted_at, page[-1].id)
        everything = await repository.blocks_changed_since(session, eans, after=None, limit=99)
        early = await repository.blocks_changed_since(
            session, eans, after=None, limit=99, until=everything[0].last_inserted_at
        )
    assert seen == [
        (eans[0], DAY + timedelta(1), 1),
        (eans[1], DAY, 1),
        (eans[1], DAY + timedelta(1), 1),
        (eans[0], DAY, 2),
    ]
    assert len(everything) == 6
    assert [(b.key.ean, b.key.day) for b in early] == [(eans[0], DAY + timedelta(1))]


async def test_history_lists_every_superseded_version(app: FastAPI) -> None:
    ean = await register(app)
    for value in ("0.1", "0.2", "0.3"):
        await _ingest(app, day_rows(ean, DAY, value=value))
    key = BlockKey(ean, METER, Direction.offtake, Register.total, Granularity.PT15M, DAY)
    database: Database = app.state.database
    async with database.read_sessions() as session:
        versions = await repository.block_history(session, key)
        [current] = await repository.read_blocks(session, ean, DAY, DAY + timedelta(1))
    assert [(v.version, v.values[0]) for v in versions] == [(1, 100), (2, 200)]
    assert (current.version, current.values[0]) == (3, 300)
    assert versions[1].superseded_at == current.last_inserted_at
    assert all(v.id == current.id for v in versions)


async def test_a_realistic_sample_stays_under_5_bytes_per_value(app: FastAPI) -> None:
    """20 households x 60 days of quarter-hours, ingested through the service. Measured on
    the sample's own yearly partition: the empty partitions other tests leave behind (their
    index metapages) would otherwise count against its 115,200 values."""
    first = date(2026, 1, 5)
    timeline = Timeline.build(first, first + timedelta(days=59), QUARTER)
    profiles = Profiles(np.random.default_rng(3), timeline, timeline)
    rng = random.Random(3)
    for _ in range(20):
        ean = await register(app)
        series = profiles.household(heat_pump=rng.random() < 0.2)
        rows = []
        for index, day in enumerate(timeline.days):
            values = series[timeline.bounds[index] : timeline.bounds[index + 1]]
            for slot, row in enumerate(day_rows(ean, day)):
                row[6] = f"{values[slot] / 1000:.3f}"
                rows.append(row)
        await _ingest(app, rows)
    database: Database = app.state.database
    async with database.read_sessions() as session:
        size = await session.scalar(
            text("SELECT pg_total_relation_size(CAST(:partition AS regclass))"),
            {"partition": partition_name(first.year)},
        )
        values = await session.scalar(text("SELECT sum(filled_slots) FROM meter_day_blocks"))
    assert values == 20 * 60 * 96
    assert size / values < 5, f"{size / values:.2f} bytes per value"


async def test_the_demo_world_has_meter_data_with_dst_days_versions_and_late_days(
    app: FastAPI,
) -> None:
    database: Database = app.state.database
    settings = make_settings()
    async with database.write_sessions() as session:
        # 371 days hold both clock changes whatever day it is (365 miss one some years).
        credentials = await seed_demo_world(
            session, settings, DemoParameters(eans=40, days=371, seed=5)
        )
        await session.commit()
    # The days the world was built for (a Brussels midnight may have passed since).
    first, yesterday = map(date.fromisoformat, credentials["meter_data"]["days"].split(".."))
    async with database.read_sessions() as session:
        facts = (
            await session.execute(
                text(
                    "SELECT count(*) AS blocks, count(DISTINCT ean) AS eans, max(day) AS last, "
                    "min(day) AS first, max(version) AS top_version, "
                    "count(*) FILTER (WHERE filled_slots < expected_slots) AS gappy, "
                    "count(*) FILTER (WHERE first_inserted_at > day + 3) AS late, "
                    "count(validated_at) AS validated, "
                    "count(*) FILTER (WHERE validated_at IS NOT NULL AND (validated_at "
                    "<> last_inserted_at OR packed_states <> decode('03', 'hex') "
                    "OR filled_slots < expected_slots)) AS wrongly_validated, "
                    "count(*) FILTER (WHERE validated_at > day + 16) AS validated_late, "
                    "max(day) FILTER (WHERE validated_at IS NULL "
                    "AND filled_slots = expected_slots) AS last_unvalidated, "
                    "array_agg(DISTINCT expected_slots) AS lengths FROM meter_day_blocks"
                )
            )
        ).one()
        history = await session.scalar(text("SELECT count(*) FROM meter_day_block_history"))
    assert facts.eans >= 10
    assert facts.last <= yesterday
    assert facts.first == first == yesterday - timedelta(days=370)
    assert facts.top_version == 3  # estimated, read, validated
    assert facts.gappy > 0
    assert facts.late > 0
    # Complete days are validated later (the NPS historical-data level), some too late; the
    # last days are not validated yet.
    assert facts.validated > facts.blocks * 0.8
    assert facts.wrongly_validated == 0
    assert facts.validated_late > 0
    assert facts.last_unvalidated >= yesterday - timedelta(days=2)
    assert history
    assert {92, 96, 100, 23, 24, 25} <= set(facts.lengths)


def test_the_demo_series_are_deterministic() -> None:
    first = date(2026, 3, 20)
    timeline = Timeline.build(first, first + timedelta(days=20), QUARTER)
    one = Profiles(np.random.default_rng(9), timeline, timeline)
    two = Profiles(np.random.default_rng(9), timeline, timeline)
    assert np.array_equal(one.household(False), two.household(False))
    assert np.array_equal(one.solar(), two.solar())
    solar = Profiles(np.random.default_rng(1), timeline, timeline).solar()
    assert solar.min() == 0  # nights
    assert solar.max() > 0


def test_the_demo_blocks_do_not_depend_on_the_time_of_day_they_are_built() -> None:
    """Built just before or hours after the last day's data arrives, every block delivered by
    then is the same: a day not yet delivered takes its random draws all the same, so the
    next series sees the same stream (a seed-demo run at night gave another world a minute
    later)."""
    first, last = date(2026, 3, 1), date(2026, 3, 31)
    timeline = Timeline.build(first, last, QUARTER)
    profiles = Profiles(np.random.default_rng(4), timeline, timeline)
    series = [
        DemoSeries(
            ean=f"54144880000000{number:04d}",
            meter_id=f"1SAG11000{number:05d}",
            direction=Direction.offtake,
            granularity=Granularity.PT15M,
            unit=StoredUnit.Wh,
            values=profiles.household(heat_pump=False),
            days=[True] * len(timeline.days),
        )
        for number in range(3)
    ]

    def built_at(now: datetime) -> list[tuple[Any, ...]]:
        rng = np.random.default_rng(11)  # one stream through every series, as the seeder
        return [row for one in series for row, _ in block_rows(one, timeline, rng, now)]

    early = built_at(datetime(2026, 3, 31, 22, 59, tzinfo=UTC))  # before 31 March arrives
    later = built_at(datetime(2026, 4, 1, 5, 0, tzinfo=UTC))  # after it arrived
    assert len(later) > len(early) > 60
    arrived_early = [row for row in later if row[10] <= datetime(2026, 3, 31, 22, 59, tzinfo=UTC)]
    # The same days, values and delivery times (key, first inserted, packed values).
    assert [(row[:9], row[10]) for row in early] == [(row[:9], row[10]) for row in arrived_early]
