"""Ingest of reading files (CSV or NDJSON, optionally gzip) of any size, for the CLI.

A file is read a MiB at a time and stored in chunks of ``chunk_rows`` readings (and at most
``ingest_max_blocks`` day blocks), each chunk in a transaction of its own: all or nothing
**per chunk**. When a chunk is refused, the chunks before it stay stored; since re-sending
identical readings changes nothing, the fixed file can simply be ingested again. Within a
chunk the same slot twice is refused; across chunks the later reading is a correction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datahub_api.db import Database
from datahub_api.meter_data import service
from datahub_api.meter_data.ingest_parser import (
    BatchBuilder,
    CsvReader,
    InputError,
    InputFormat,
    LineSplitter,
    NdjsonReader,
    Problem,
)
from datahub_api.settings import Settings

READ_BYTES = 1 << 20
NO_SIZE_LIMIT = 1 << 62


def input_format_of(path: Path) -> InputFormat | None:
    """CSV or NDJSON from the file name (``.csv``, ``.ndjson``, ``.jsonl``, each maybe
    ``.gz``)."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last == ".csv":
        return InputFormat.csv
    if last in {".ndjson", ".jsonl"}:
        return InputFormat.ndjson
    return None


@dataclass
class FileTotals:
    rows: int = 0
    chunks: int = 0
    blocks_created: int = 0
    blocks_filled: int = 0
    blocks_corrected: int = 0
    blocks_unchanged: int = 0

    def add(self, outcome: service.IngestOutcome) -> None:
        self.rows += outcome.rows
        self.chunks += 1
        self.blocks_created += outcome.blocks_created
        self.blocks_filled += outcome.blocks_filled
        self.blocks_corrected += outcome.blocks_corrected
        self.blocks_unchanged += outcome.blocks_unchanged


class ChunkRejected(Exception):
    """A chunk of the file was refused; the chunks before it (``stored``) are committed."""

    def __init__(
        self, problems: list[Problem], total: int, stored: FileTotals, first_line: int
    ) -> None:
        super().__init__(f"{total} problem(s)")
        self.problems = sorted(problems)
        self.total = total
        self.stored = stored
        self.first_line = first_line


def _new_builder(settings: Settings) -> BatchBuilder:
    return BatchBuilder(
        now=datetime.now(UTC),
        max_value_per_hour=settings.ingest_max_value_per_hour,
        # Flushed at ingest_max_blocks; one MiB of input adds far fewer than this margin.
        max_blocks=settings.ingest_max_blocks + 100_000,
    )


async def ingest_file(
    database: Database,
    path: Path,
    input_format: InputFormat,
    *,
    settings: Settings,
    chunk_rows: int,
    on_bytes: Callable[[int], None] | None = None,
) -> FileTotals:
    """Stream ``path`` into the day blocks, committing every ``chunk_rows`` readings;
    raises :class:`ChunkRejected` at the first refused chunk."""
    totals = FileTotals()
    builder = _new_builder(settings)
    reader: CsvReader | NdjsonReader = (
        CsvReader(builder) if input_format is InputFormat.csv else NdjsonReader(builder)
    )
    splitter = LineSplitter(gzip=path.suffix.lower() == ".gz", max_bytes=NO_SIZE_LIMIT)
    first_line = 1

    async def flush() -> None:
        nonlocal builder, first_line
        batch = builder.batch
        if batch.rows == 0 and not batch.problems:
            return
        try:
            async with database.write_sessions() as session:
                outcome = await service.store_batch(session, batch, track_sla=settings.sla_tracking)
                await session.commit()
        except service.ReadingsRejected as exc:
            raise ChunkRejected(exc.problems, len(exc.problems), totals, first_line) from None
        if batch.problems:  # store_batch refuses these; kept for the type checker
            raise ChunkRejected(batch.problems, batch.problem_count, totals, first_line)
        totals.add(outcome)
        await service.notify_blocks_stored(database, outcome.stored)
        builder = _new_builder(settings)
        reader.builder = builder
        first_line = reader.line + 1

    try:
        with path.open("rb") as handle:
            while data := handle.read(READ_BYTES):
                lines = splitter.feed(data)
                if on_bytes:
                    on_bytes(len(data))
                while lines:
                    room = max(chunk_rows - builder.batch.rows, 1)
                    reader.feed(lines[:room])
                    lines = lines[room:]
                    if builder.batch.problems:
                        break  # this chunk is refused anyway
                    if (
                        builder.batch.rows >= chunk_rows
                        or len(builder.batch.blocks) >= settings.ingest_max_blocks
                    ):
                        await flush()
                if builder.batch.problems:
                    break
            else:
                reader.feed(splitter.feed(b"", final=True))
    except InputError as exc:
        raise ChunkRejected([exc.problem], 1, totals, first_line) from None
    if builder.batch.problems:
        batch = builder.batch
        raise ChunkRejected(batch.problems, batch.problem_count, totals, first_line)
    if not reader.started:
        raise ChunkRejected([Problem(1, "the file is empty")], 1, totals, first_line)
    await flush()
    return totals
