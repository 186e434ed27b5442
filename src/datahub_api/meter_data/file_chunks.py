"""The chunks of a reading file, in the order :mod:`.files` stores them.

A file is read a MiB at a time and cut into chunks of ``chunk_rows`` readings (and at most
``max_blocks`` day blocks); the first chunk with a problem ends it. :func:`read_chunks`
does it in the calling process. For a large file the same generator runs in a *parse
worker*, ``python -m datahub_api.meter_data.file_chunks``, which writes each piece to its
standard output as a length-prefixed pickle: the worker parses the next chunk while the
ingest stores the one before, so the two use two cores. The pipe holds the worker at most
one chunk ahead (it blocks writing the next until that is read). It is started by the
ingest itself, with this interpreter, and reads nothing but the file.

This module imports only the parser: the worker starts in well under a second.
"""

from __future__ import annotations

import gc
import pickle
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import (
    BatchBuilder,
    CsvReader,
    InputError,
    InputFormat,
    LineSplitter,
    NdjsonReader,
    ParsedBatch,
    PendingBlock,
    Problem,
    Series,
)
from datahub_api.meter_data.models import Direction, Register, StoredUnit

READ_BYTES = 1 << 20
NO_SIZE_LIMIT = 1 << 62
FRAME_HEADER = 8  # bytes of a piece's length, big-endian, before its pickle


@dataclass(frozen=True)
class ChunkLimits:
    chunk_rows: int
    max_blocks: int  # a chunk is cut at this many day blocks
    max_value_per_hour: float


@dataclass
class Chunk:
    """Readings to store in one transaction; their lines start at ``first_line``.

    Pickled flat (:func:`_flat`): the slots of all blocks as one ``bytes``, their states as
    another, and a tuple per series and per block. As an object graph, a chunk of a million
    readings took longer to unpickle than to store its day blocks' keys."""

    batch: ParsedBatch
    first_line: int

    def __reduce__(self) -> tuple[Any, ...]:
        return (_chunk, (*_flat(self.batch), self.first_line))


_SeriesRow = tuple[str, str, Direction, Register, Granularity, StoredUnit, int, int]
_BlockRow = tuple[int, int, int, int]  # series index, day ordinal, first line, slot count


def _flat(batch: ParsedBatch) -> tuple[list[_SeriesRow], list[_BlockRow], bytes, bytes, int]:
    """A batch without problems as series, blocks, all slots, all states and its rows."""
    numbers: dict[int, int] = {}  # id(series) -> its index
    series_rows: list[_SeriesRow] = []
    block_rows: list[_BlockRow] = []
    slots: array[int] = array("q")
    states = bytearray()
    for (series, day), block in batch.blocks.items():
        number = numbers.get(id(series))
        if number is None:
            number = numbers[id(series)] = len(series_rows)
            series_rows.append(
                (
                    series.ean,
                    series.meter_id,
                    series.direction,
                    series.register,
                    series.granularity,
                    series.unit,
                    series.first_line,
                    series.max_milli,
                )
            )
        block_rows.append((number, day.toordinal(), block.first_line, len(block.slots)))
        slots.extend(block.slots)
        states += block.states
    return series_rows, block_rows, slots.tobytes(), bytes(states), batch.rows


def _chunk(
    series_rows: list[_SeriesRow],
    block_rows: list[_BlockRow],
    slots: bytes,
    states: bytes,
    rows: int,
    first_line: int,
) -> Chunk:
    """The chunk :func:`_flat` flattened (one date object per day, as the parser makes)."""
    series = [
        Series(ean, meter_id, direction, register, granularity, unit, line, {}, {}, max_milli)
        for ean, meter_id, direction, register, granularity, unit, line, max_milli in series_rows
    ]
    days: dict[int, date] = {}
    blocks: dict[tuple[Series, date], PendingBlock] = {}
    at = 0
    for number, ordinal, line, count in block_rows:
        day = days.get(ordinal) or days.setdefault(ordinal, date.fromordinal(ordinal))
        block_slots: array[int] = array("q")
        block_slots.frombytes(slots[at * 8 : (at + count) * 8])
        blocks[series[number], day] = PendingBlock(
            series[number], day, line, block_slots, bytearray(states[at : at + count])
        )
        at += count
    return Chunk(ParsedBatch(blocks=blocks, rows=rows), first_line)


@dataclass
class Refused:
    """The chunk from ``first_line`` has problems (the file ends there): ``total`` of
    them, the first ones kept."""

    problems: list[Problem]
    total: int
    first_line: int


Piece = Chunk | Refused | int
"""What :func:`read_chunks` yields: chunks in file order, a refusal last if any, and the
bytes read (an int after every read, for progress)."""


def _new_builder(limits: ChunkLimits) -> BatchBuilder:
    return BatchBuilder(
        now=datetime.now(UTC),
        max_value_per_hour=limits.max_value_per_hour,
        # Cut at max_blocks; one MiB of input adds far fewer than this margin.
        max_blocks=limits.max_blocks + 100_000,
    )


def read_chunks(
    handle: BinaryIO, input_format: InputFormat, *, gzip: bool, limits: ChunkLimits
) -> Iterator[Piece]:
    """The pieces of the file open in ``handle`` (binary, maybe gzip)."""
    builder = _new_builder(limits)
    reader: CsvReader | NdjsonReader = (
        CsvReader(builder) if input_format is InputFormat.csv else NdjsonReader(builder)
    )
    splitter = LineSplitter(gzip=gzip, max_bytes=NO_SIZE_LIMIT)
    first_line = 1

    def full() -> bool:
        batch = builder.batch
        return batch.rows >= limits.chunk_rows or len(batch.blocks) >= limits.max_blocks

    try:
        while data := handle.read(READ_BYTES):
            lines = splitter.feed(data)
            yield len(data)
            while lines:
                room = max(limits.chunk_rows - builder.batch.rows, 1)
                reader.feed(lines[:room])
                lines = lines[room:]
                if builder.batch.problems:
                    break  # this chunk is refused anyway
                if full() and builder.batch.rows:
                    yield Chunk(builder.batch, first_line)
                    builder = _new_builder(limits)
                    reader.builder = builder
                    first_line = reader.line + 1
            if builder.batch.problems:
                break
        else:
            reader.feed(splitter.feed(b"", final=True))
    except InputError as exc:
        yield Refused([exc.problem], 1, first_line)
        return
    batch = builder.batch
    if batch.problems:
        yield Refused(batch.problems, batch.problem_count, first_line)
    elif not reader.started:
        yield Refused([Problem(1, "the file is empty")], 1, first_line)
    elif batch.rows:
        yield Chunk(batch, first_line)


WORKER_MODULE = "datahub_api.meter_data.file_chunks"  # what ``python -m`` runs


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def worker_arguments(path: Path, input_format: InputFormat, limits: ChunkLimits) -> list[str]:
    """The command line of a parse worker for ``path``."""
    return [
        sys.executable,
        "-m",
        WORKER_MODULE,
        str(path),
        input_format.value,
        str(limits.chunk_rows),
        str(limits.max_blocks),
        repr(limits.max_value_per_hour),
    ]


def main(arguments: list[str]) -> None:
    """The parse worker: every piece of the file to standard output, framed."""
    # Parsing makes no reference cycles (each chunk is freed by reference counting once
    # sent); the cyclic collector would only walk the chunk's blocks again and again.
    gc.disable()
    path, input_format, chunk_rows, max_blocks, max_value_per_hour = arguments
    limits = ChunkLimits(int(chunk_rows), int(max_blocks), float(max_value_per_hour))
    out = sys.stdout.buffer
    with Path(path).open("rb") as handle:
        for piece in read_chunks(
            handle, InputFormat(input_format), gzip=is_gzip(Path(path)), limits=limits
        ):
            payload = pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL)
            out.write(len(payload).to_bytes(FRAME_HEADER, "big"))
            out.write(payload)
            out.flush()


if __name__ == "__main__":
    # Run from the module by its name, so its pieces unpickle as this module's classes.
    from datahub_api.meter_data import file_chunks

    file_chunks.main(sys.argv[1:])
