"""``ingest_file``: a parse worker process gives the same chunks, outcome and refusals as
reading in the ingesting process, including the DST days (92 and 100 quarter-hours)."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from datahub_api.db import Database, create_database
from datahub_api.meter_data import repository
from datahub_api.meter_data.blocks import DayBlock
from datahub_api.meter_data.files import (
    ChunkRejected,
    FileTotals,
    ParseWorkerFailed,
    ingest_file,
)
from datahub_api.meter_data.ingest_parser import InputFormat
from datahub_api.settings import Settings

from ..support.access_point_data import fresh_ean
from ..support.meter_data import csv_body, day_rows, one, register

SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)  # 92 and 100 quarter-hours
DAYS = [SPRING, SPRING + timedelta(1), AUTUMN, AUTUMN + timedelta(1)]
BOTH = pytest.mark.parametrize("apart", [False, True], ids=["here", "apart"])


@pytest.fixture
async def database(clean_database: str, settings: Settings) -> AsyncIterator[Database]:
    database = create_database(clean_database, settings)
    yield database
    await database.dispose()


async def _blocks(database: Database, eans: list[str]) -> list[DayBlock]:
    async with database.read_sessions() as session:
        return [
            block
            for ean in eans
            for block in await repository.read_blocks(
                session, ean, DAYS[0], DAYS[-1] + timedelta(1)
            )
        ]


def _comparable(blocks: list[DayBlock]) -> list[tuple[object, ...]]:
    """What two ingests of one file must agree on (not the ids and instants)."""
    return [
        (b.key.day, b.filled_slots, b.expected_slots, b.version, b.values, b.states) for b in blocks
    ]


async def _ingest(
    database: Database, path: Path, settings: Settings, *, apart: bool, chunk_rows: int = 150
) -> tuple[FileTotals, list[int]]:
    progress: list[int] = []
    totals = await ingest_file(
        database,
        path,
        InputFormat.csv,
        settings=settings,
        chunk_rows=chunk_rows,
        on_bytes=progress.append,
        parse_apart=apart,
    )
    return totals, progress


async def test_a_parse_worker_stores_what_the_ingest_reads_itself(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    """Two EANs, four days across both clock changes, cut into chunks of 150 readings
    (days split over chunks): both ways give equal totals, progress and stored blocks."""
    outcomes = []
    for apart in (False, True):
        eans = [await register(database), await register(database)]
        rows = [row for ean in eans for day in DAYS for row in day_rows(ean, day)]
        path = tmp_path / f"readings-{apart}.csv.gz"
        path.write_bytes(gzip.compress(csv_body(rows)))
        totals, progress = await _ingest(database, path, settings, apart=apart)
        assert sum(progress) == path.stat().st_size
        blocks = await _blocks(database, eans)
        assert [b.expected_slots for b in blocks] == [92, 96, 100, 96] * 2
        assert all(b.filled_slots == b.expected_slots for b in blocks)
        outcomes.append((totals, _comparable(blocks)))
    (here, here_blocks), (apart_totals, apart_blocks) = outcomes
    assert here == apart_totals
    assert here.rows == 2 * (92 + 96 + 100 + 96)
    assert here.chunks == -(-here.rows // 150)
    assert here_blocks == apart_blocks


@BOTH
async def test_a_refused_chunk_keeps_the_chunks_before_it(
    database: Database, settings: Settings, tmp_path: Path, apart: bool
) -> None:
    """A bad start time on line 300 refuses the chunk of lines 152-301 (header on line 1):
    the first chunk stays stored, nothing after it is, and the problem names its line."""
    ean = await register(database)
    rows = [row for day in DAYS for row in day_rows(ean, day)]
    rows[298] = one(ean, "2026-10-25T00:07:00+02:00")
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_body(rows))
    with pytest.raises(ChunkRejected) as refused:
        await _ingest(database, path, settings, apart=apart)
    assert refused.value.first_line == 152
    assert refused.value.stored.rows == 150
    assert refused.value.stored.chunks == 1
    assert [problem.line for problem in refused.value.problems] == [300]
    assert "start:" in refused.value.problems[0].detail
    blocks = await _blocks(database, [ean])
    assert [(b.key.day, b.filled_slots) for b in blocks] == [
        (SPRING, 92),
        (SPRING + timedelta(1), 58),
    ]


@BOTH
async def test_an_unknown_ean_refuses_its_chunk_when_stored(
    database: Database, settings: Settings, tmp_path: Path, apart: bool
) -> None:
    """The registry refuses the second chunk (an EAN nobody registered): the worker had
    read on, yet nothing after the first chunk is stored."""
    ean, stranger = await register(database), fresh_ean()
    rows = [*day_rows(ean, SPRING), *day_rows(stranger, AUTUMN), *day_rows(ean, AUTUMN)]
    path = tmp_path / "stranger.csv"
    path.write_bytes(csv_body(rows))
    with pytest.raises(ChunkRejected) as refused:
        await _ingest(database, path, settings, apart=apart, chunk_rows=92)
    assert refused.value.first_line == 94
    assert refused.value.stored.rows == 92
    assert "no access point with EAN" in refused.value.problems[0].detail
    blocks = await _blocks(database, [ean])
    assert [(b.key.day, b.filled_slots) for b in blocks] == [(SPRING, 92)]


@BOTH
async def test_unreadable_files_are_refused_at_their_start(
    database: Database, settings: Settings, tmp_path: Path, apart: bool
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ChunkRejected) as refused:
        await _ingest(database, empty, settings, apart=apart)
    assert [(p.line, p.detail) for p in refused.value.problems] == [(1, "the file is empty")]
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(csv_body(day_rows(await register(database), SPRING)))[:-9])
    with pytest.raises(ChunkRejected) as truncated:
        await _ingest(database, broken, settings, apart=apart)
    assert "gzip" in truncated.value.problems[0].detail
    assert truncated.value.stored.rows == 0


async def test_a_parse_worker_that_dies_is_an_error_not_an_empty_file(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ParseWorkerFailed, match="ended with code 1"):
        await _ingest(database, tmp_path / "gone.csv", settings, apart=True)


@BOTH
@pytest.mark.parametrize(
    "start",
    ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:45:00+01:00"],
)
async def test_starts_at_the_edges_of_the_years_are_problems_of_their_line(
    database: Database, settings: Settings, tmp_path: Path, apart: bool, start: str
) -> None:
    """A start whose Brussels day falls before year 1 or whose slot ends after 9999 refuses
    its chunk with the line named, read here or by the worker; the chunk before it stays."""
    ean = await register(database)
    rows = [*day_rows(ean, SPRING), one(ean, start), *day_rows(ean, AUTUMN)]
    path = tmp_path / "edges.csv"
    path.write_bytes(csv_body(rows))
    with pytest.raises(ChunkRejected) as refused:
        await _ingest(database, path, settings, apart=apart, chunk_rows=92)
    assert refused.value.stored.rows == 92
    assert [problem.line for problem in refused.value.problems] == [94]
    assert refused.value.problems[0].detail.startswith("start:")
    blocks = await _blocks(database, [ean])
    assert [(b.key.day, b.filled_slots) for b in blocks] == [(SPRING, 92)]
