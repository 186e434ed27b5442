"""Ingest of reading files (CSV or NDJSON, optionally gzip) of any size, for the CLI.

A file is read a MiB at a time and stored in chunks of ``chunk_rows`` readings (and at most
``ingest_max_blocks`` day blocks), each chunk in a transaction of its own: all or nothing
**per chunk**. When a chunk is refused, the chunks before it stay stored; since re-sending
identical readings changes nothing, the fixed file can simply be ingested again. Within a
chunk the same slot twice is refused; across chunks the later reading is a correction.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

from datahub_api.db import Database
from datahub_api.meter_data import service
from datahub_api.meter_data.file_chunks import (
    FRAME_HEADER,
    ChunkLimits,
    Piece,
    Refused,
    is_gzip,
    read_chunks,
    worker_arguments,
)
from datahub_api.meter_data.ingest_parser import InputFormat, Problem
from datahub_api.settings import Settings

PARSE_APART_FROM_BYTES = 16 << 20
"""From this file size on, a parse worker reads the file (:mod:`.file_chunks`): below it,
starting one costs more than it saves."""


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


async def ingest_file(
    database: Database,
    path: Path,
    input_format: InputFormat,
    *,
    settings: Settings,
    chunk_rows: int,
    on_bytes: Callable[[int], None] | None = None,
    parse_apart: bool | None = None,
) -> FileTotals:
    """Stream ``path`` into the day blocks, committing every ``chunk_rows`` readings;
    raises :class:`ChunkRejected` at the first refused chunk. With ``parse_apart`` (by
    default for files of :data:`PARSE_APART_FROM_BYTES` or more) a parse worker reads the
    file while the chunks are stored; the outcome is the same."""
    limits = ChunkLimits(
        chunk_rows=chunk_rows,
        max_blocks=settings.ingest_max_blocks,
        max_value_per_hour=settings.ingest_max_value_per_hour,
    )
    if parse_apart is None:
        parse_apart = path.stat().st_size >= PARSE_APART_FROM_BYTES  # noqa: ASYNC240  one stat
    if parse_apart:
        async with aclosing(_worker_pieces(path, input_format, limits)) as pieces:
            return await _store_pieces(database, pieces, settings, on_bytes)
    with path.open("rb") as handle:
        here = read_chunks(handle, input_format, gzip=is_gzip(path), limits=limits)
        return await _store_pieces(database, _aiter(here), settings, on_bytes)


async def _aiter(pieces: Iterator[Piece]) -> AsyncGenerator[Piece]:
    for piece in pieces:
        yield piece


async def _worker_pieces(
    path: Path, input_format: InputFormat, limits: ChunkLimits
) -> AsyncGenerator[Piece]:
    """The pieces a parse worker reads from ``path``, as it sends them."""
    worker = await asyncio.create_subprocess_exec(
        *worker_arguments(path, input_format, limits), stdout=asyncio.subprocess.PIPE
    )
    assert worker.stdout is not None
    try:
        while True:
            try:
                header = await worker.stdout.readexactly(FRAME_HEADER)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                break
            payload = await worker.stdout.readexactly(int.from_bytes(header, "big"))
            yield pickle.loads(payload)  # noqa: S301  our own worker, started just above
        if code := await worker.wait():
            raise ParseWorkerFailed(f"the parse worker of {path} ended with code {code}")
    except asyncio.IncompleteReadError:
        await worker.wait()
        raise ParseWorkerFailed(
            f"the parse worker of {path} stopped mid-message (code {worker.returncode})"
        ) from None
    finally:
        if worker.returncode is None:  # the ingest stopped early: so does the worker
            worker.kill()
            await worker.wait()


class ParseWorkerFailed(RuntimeError):
    """The parse worker process died (its error is on standard error)."""


async def _store_pieces(
    database: Database,
    pieces: AsyncIterator[Piece],
    settings: Settings,
    on_bytes: Callable[[int], None] | None,
) -> FileTotals:
    totals = FileTotals()
    async for piece in pieces:
        if isinstance(piece, int):
            if on_bytes:
                on_bytes(piece)
        elif isinstance(piece, Refused):
            raise ChunkRejected(piece.problems, piece.total, totals, piece.first_line)
        else:
            try:
                async with database.write_sessions() as session:
                    outcome = await service.store_batch(
                        session, piece.batch, track_sla=settings.sla_tracking
                    )
                    await session.commit()
            except service.ReadingsRejected as exc:
                raise ChunkRejected(
                    exc.problems, len(exc.problems), totals, piece.first_line
                ) from None
            totals.add(outcome)
            await service.notify_blocks_stored(database, outcome.stored)
    return totals
