"""SQL of the meter data: day blocks, their history and their yearly partitions.

Writes are set-based: new blocks go in with one ``COPY`` (asyncpg, binary) straight into
the partitioned table; changed blocks are archived and updated with one statement each,
the keys passed as arrays and expanded with ``unnest``. Reads decode the packed values
(:mod:`datahub_api.meter_data.blocks`) so callers get plain arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datahub_api.db import ReadSession, WriteSession
from datahub_api.meter_data.blocks import (
    BLOCK_COLUMNS,
    KEY_COLUMNS,
    BlockKey,
    BlockRecord,
    DayBlock,
    unpack_slots,
    unpack_states,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import (
    BLOCKS_TABLE,
    GRANULARITY_CODE,
    GRANULARITY_OF_CODE,
    HISTORY_TABLE,
    ID_SEQUENCE,
    Direction,
    Register,
    StoredUnit,
    partition_name,
)

# Every column of a stored block, as the reads select it.
_COLUMNS = ", ".join(("id", *BLOCK_COLUMNS))
_SQL_TYPES = {
    "ean": "varchar",
    "meter_id": "varchar",
    "direction": "smallint",
    "register": "smallint",
    "granularity": "smallint",
    "day": "date",
    "unit": "smallint",
    "expected_slots": "smallint",
    "filled_slots": "smallint",
    "version": "integer",
    "first_inserted_at": "timestamptz",
    "last_inserted_at": "timestamptz",
    "completed_at": "timestamptz",
    "validated_at": "timestamptz",
    "packed_values": "bytea",
    "packed_states": "bytea",
}


def _prefixed(table: str, columns: Sequence[str]) -> str:
    return ", ".join(f"{table}.{column}" for column in columns)


def _unnest(columns: Sequence[str], alias: str) -> str:
    """``unnest(...) AS alias(columns)`` over one array parameter per column (named as it)."""
    arrays = ", ".join(f"CAST(:{column} AS {_SQL_TYPES[column]}[])" for column in columns)
    return f"unnest({arrays}) AS {alias}({', '.join(columns)})"


def _arrays(records: Sequence[BlockRecord], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The records' ``columns`` as one array parameter each."""
    return {column: [getattr(record, column) for record in records] for column in columns}


def _key(row: Any) -> BlockKey:
    return BlockKey(
        row.ean,
        row.meter_id,
        Direction(row.direction),
        Register(row.register),
        GRANULARITY_OF_CODE[row.granularity],
        row.day,
    )


def _unpacked(row: Any, superseded_at: datetime | None = None) -> DayBlock:
    slots = unpack_slots(row.packed_values)
    states = unpack_states(row.packed_states, slots)
    return DayBlock(
        key=_key(row),
        id=row.id,
        unit=row.unit,
        expected_slots=row.expected_slots,
        filled_slots=row.filled_slots,
        version=row.version,
        first_inserted_at=row.first_inserted_at,
        last_inserted_at=row.last_inserted_at,
        completed_at=row.completed_at,
        values=[None if value < 0 else value for value in slots],
        states=[state or None for state in states],
        superseded_at=superseded_at,
        validated_at=row.validated_at,
    )


# --- partitions --------------------------------------------------------------------------

_PARTITION_LOCK = 0x6D657465  # advisory lock key: one partition creator at a time
_known_partitions: set[tuple[str, int]] = set()


async def ensure_partitions(engine: AsyncEngine, years: Iterable[int]) -> None:
    """Create the yearly partitions of ``meter_day_blocks`` that do not exist yet, in a short
    transaction of their own.

    Call it before the writing transaction touches the table: creating a partition locks
    the parent table, which must not stay locked for the length of an ingest."""
    url = engine.url.render_as_string(hide_password=False)
    wanted = sorted({year for year in years if (url, year) not in _known_partitions})
    if not wanted:
        return
    async with engine.connect() as connection:
        await create_partitions(connection, wanted)
        await connection.commit()
    _known_partitions.update((url, year) for year in wanted)


async def create_partitions(connection: AsyncConnection, years: Iterable[int]) -> None:
    """Create the missing yearly partitions in the connection's transaction (which then
    holds a lock on ``meter_day_blocks`` until it ends)."""
    for year in sorted(set(years)):
        name = partition_name(year)
        exists = await connection.scalar(
            text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}
        )
        if exists:
            continue
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK}
        )
        await connection.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {BLOCKS_TABLE} "
                f"FOR VALUES FROM ('{year:04d}-01-01') TO ('{year + 1:04d}-01-01')"
            )
        )


def forget_known_partitions() -> None:
    """For tests that drop databases: partitions must be looked up again."""
    _known_partitions.clear()


async def partitions(session: ReadSession) -> list[str]:
    """Names of the partitions of ``meter_day_blocks``, oldest first."""
    result = await session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass) ORDER BY c.relname"
        ),
        {"parent": BLOCKS_TABLE},
    )
    return list(result)


async def storage_bytes(session: ReadSession) -> int:
    """Bytes on disk of every partition of ``meter_day_blocks``: heap, TOAST and indexes."""
    size = await session.scalar(
        text(
            "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) "
            "FROM pg_partition_tree(CAST(:parent AS regclass)) WHERE isleaf"
        ),
        {"parent": BLOCKS_TABLE},
    )
    return int(size or 0)


# --- reads -------------------------------------------------------------------------------


def _filters(
    direction: Direction | None, register: Register | None, granularity: Granularity | None
) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    for name, value in (
        ("direction", None if direction is None else int(direction)),
        ("register", None if register is None else int(register)),
        ("granularity", None if granularity is None else GRANULARITY_CODE[granularity]),
    ):
        if value is not None:
            clauses.append(f" AND {name} = :{name}")
            params[name] = value
    return "".join(clauses), params


async def read_blocks(
    session: ReadSession,
    ean: str,
    start: date,
    end: date,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
    granularity: Granularity | None = None,
) -> list[DayBlock]:
    """The current day blocks of one EAN for the Brussels days [start, end), ordered by
    day, then meter, direction, register and granularity."""
    where, params = _filters(direction, register, granularity)
    result = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM {BLOCKS_TABLE} "  # noqa: S608  fixed column names
            f"WHERE ean = :ean AND day >= :start AND day < :end{where} "
            "ORDER BY day, meter_id, direction, register, granularity"
        ),
        {"ean": ean, "start": start, "end": end, **params},
    )
    return [_unpacked(row) for row in result]


_EANS_WITH_DATA = (
    "SELECT e.ean FROM unnest(CAST(:eans AS text[])) AS e(ean) WHERE EXISTS (SELECT 1 FROM "
    "meter_day_blocks b WHERE b.ean = e.ean AND b.day >= :start AND b.day < :end)"
)


async def eans_with_data(
    session: ReadSession, eans: Sequence[str], start: date, end: date
) -> set[str]:
    """Which of ``eans`` have at least one stored day block in the Brussels days
    [start, end)."""
    if not eans:
        return set()
    result = await session.scalars(
        text(_EANS_WITH_DATA), {"eans": list(eans), "start": start, "end": end}
    )
    return set(result.all())


async def series_shapes(
    session: ReadSession,
    ean: str,
    start: date,
    end: date,
    *,
    direction: Direction | None = None,
    register: Register | None = None,
) -> list[tuple[str, Direction, Register, Granularity, int]]:
    """Which (meter, direction, register, granularity, unit) an EAN has blocks of in the
    Brussels days [start, end): the series a long read streams, known before its first
    month is read."""
    where, params = _filters(direction, register, None)
    result = await session.execute(
        text(
            "SELECT DISTINCT meter_id, direction, register, granularity, unit "  # noqa: S608
            f"FROM {BLOCKS_TABLE} WHERE ean = :ean AND day >= :start AND day < :end{where}"
        ),
        {"ean": ean, "start": start, "end": end, **params},
    )
    return [
        (
            row.meter_id,
            Direction(row.direction),
            Register(row.register),
            GRANULARITY_OF_CODE[row.granularity],
            row.unit,
        )
        for row in result
    ]


@dataclass(frozen=True)
class ChangeCursor:
    """Position in the feed of changed blocks: after (insert time, block id)."""

    inserted_at: datetime
    block_id: int


async def blocks_changed_since(
    session: ReadSession,
    eans: Sequence[str],
    *,
    after: ChangeCursor | None,
    limit: int,
    until: datetime | None = None,
) -> list[DayBlock]:
    """Blocks of ``eans`` created or changed after the cursor, oldest change first, at most
    ``limit``; continue with the cursor of the last one.

    A block's insert time is its writing transaction's clock when it wrote; a transaction
    that commits later than a reader's page may carry an earlier time. A feed that must not
    miss changes passes ``until`` a safety margin in the past (longer than the longest
    ingest transaction) and moves its cursor no further."""
    params: dict[str, Any] = {"eans": sorted(set(eans)), "limit": limit}
    where = _changed_after(after, until, params)
    result = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM {BLOCKS_TABLE} "  # noqa: S608  fixed column names
            f"WHERE ean = ANY(CAST(:eans AS varchar[])){where} "
            "ORDER BY last_inserted_at, id LIMIT :limit"
        ),
        params,
    )
    return [_unpacked(row) for row in result]


def _changed_after(
    after: ChangeCursor | None, until: datetime | None, params: dict[str, Any], table: str = ""
) -> str:
    """The conditions ``AND ...`` of a page of changes (``table``: an alias and a dot)."""
    where = ""
    if after is not None:
        where += f" AND ({table}last_inserted_at, {table}id) > (:after_at, :after_id)"
        params.update(after_at=after.inserted_at, after_id=after.block_id)
    if until is not None:
        where += f" AND {table}last_inserted_at <= :until"
        params["until"] = until
    return where


@dataclass(frozen=True)
class ReadableDays:
    """The Brussels days [first_day, end_day) of one EAN's blocks of one granularity that a
    reader may see."""

    ean: str
    granularity: Granularity
    first_day: date
    end_day: date


async def readable_blocks_changed_since(
    session: ReadSession,
    readable: Sequence[ReadableDays],
    *,
    after: ChangeCursor | None,
    limit: int,
    until: datetime | None = None,
) -> list[DayBlock]:
    """:func:`blocks_changed_since` narrowed to ``readable`` (which must not overlap: a block
    inside two of them would come twice), so a page is full of blocks the reader may see
    however much else its EANs hold (quarter-hours under a daily mandate, days before a
    tenure). Same order, cursor and ``until`` margin."""
    if not readable:
        return []
    params: dict[str, Any] = {
        "r_ean": [r.ean for r in readable],
        "r_granularity": [GRANULARITY_CODE[r.granularity] for r in readable],
        "r_first": [r.first_day for r in readable],
        "r_end": [r.end_day for r in readable],
        "limit": limit,
    }
    where = _changed_after(after, until, params, "b.")
    columns = _prefixed("b", ("id", *BLOCK_COLUMNS))
    result = await session.execute(
        text(
            f"SELECT {columns} FROM unnest(CAST(:r_ean AS varchar[]), "  # noqa: S608  fixed names
            "CAST(:r_granularity AS smallint[]), CAST(:r_first AS date[]), "
            "CAST(:r_end AS date[])) AS r(ean, granularity, first_day, end_day) "
            f"JOIN {BLOCKS_TABLE} b ON b.ean = r.ean AND b.granularity = r.granularity "
            f"AND b.day >= r.first_day AND b.day < r.end_day WHERE true{where} "
            "ORDER BY b.last_inserted_at, b.id LIMIT :limit"
        ),
        params,
    )
    return [_unpacked(row) for row in result]


async def blocks_inserted_between(
    session: ReadSession, ean: str, start: datetime, end: datetime, *, limit: int
) -> list[DayBlock]:
    """The current blocks of one EAN last inserted or corrected in [start, end), ordered by
    day, then meter, direction, register and granularity; at most ``limit``."""
    result = await session.execute(
        text(
            f"SELECT {_COLUMNS} FROM {BLOCKS_TABLE} "  # noqa: S608  fixed column names
            "WHERE ean = :ean AND last_inserted_at >= :start AND last_inserted_at < :end "
            "ORDER BY day, meter_id, direction, register, granularity LIMIT :limit"
        ),
        {"ean": ean, "start": start, "end": end, "limit": limit},
    )
    return [_unpacked(row) for row in result]


async def block_history(session: ReadSession, key: BlockKey) -> list[DayBlock]:
    """The superseded versions of a block, oldest first (the current one is not among
    them)."""
    result = await session.execute(
        text(
            f"SELECT {', '.join(BLOCK_COLUMNS)}, block_id AS id, superseded_at "  # noqa: S608
            f"FROM {HISTORY_TABLE} WHERE ean = :ean AND meter_id = :meter_id "
            "AND direction = :direction AND register = :register "
            "AND granularity = :granularity AND day = :day ORDER BY version"
        ),
        {column: value[0] for column, value in _key_arrays([key]).items()},
    )
    return [_unpacked(row, row.superseded_at) for row in result]


_KEYS_UNNEST = _unnest(KEY_COLUMNS, "k")
_KEYS_MATCH = " AND ".join(f"b.{column} = k.{column}" for column in KEY_COLUMNS)


def _key_arrays(keys: Sequence[BlockKey]) -> dict[str, list[Any]]:
    return {
        "ean": [key.ean for key in keys],
        "meter_id": [key.meter_id for key in keys],
        "direction": [int(key.direction) for key in keys],
        "register": [int(key.register) for key in keys],
        "granularity": [GRANULARITY_CODE[key.granularity] for key in keys],
        "day": [key.day for key in keys],
    }


async def stored_blocks(session: WriteSession, keys: Sequence[BlockKey]) -> list[BlockRecord]:
    """The stored blocks among ``keys`` (packed), for merging."""
    if not keys:
        return []
    result = await session.execute(
        text(
            f"SELECT {_prefixed('b', BLOCK_COLUMNS)} "  # noqa: S608  fixed column names
            f"FROM {_KEYS_UNNEST} JOIN {BLOCKS_TABLE} b ON {_KEYS_MATCH}"
        ),
        _key_arrays(keys),
    )
    return [BlockRecord(*row) for row in result]


async def clock(session: ReadSession) -> datetime:
    """The database's current time (the insert time of what is written next)."""
    now = await session.scalar(text("SELECT clock_timestamp()"))
    assert isinstance(now, datetime)
    return now


# --- writes ------------------------------------------------------------------------------


async def copy_new_blocks(session: WriteSession, records: Sequence[BlockRecord]) -> None:
    """``COPY`` new blocks into ``meter_day_blocks`` in the session's transaction (their
    partitions must exist; see :func:`ensure_partitions`)."""
    if not records:
        return
    connection = await (await session.connection()).get_raw_connection()
    driver = connection.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(BLOCKS_TABLE, records=records, columns=BLOCK_COLUMNS)


# What a change rewrites; the key, unit, expected slots and first insert time stay.
_CHANGED = (
    "filled_slots",
    "version",
    "last_inserted_at",
    "completed_at",
    "validated_at",
    "packed_values",
    "packed_states",
)
HISTORY_COLUMNS = ("block_id", *BLOCK_COLUMNS, "superseded_at")
"""The columns of ``meter_day_block_history``: a block's row, its id and when it was
superseded."""

_ARCHIVE = text(
    f"INSERT INTO {HISTORY_TABLE} ({', '.join(HISTORY_COLUMNS)}) "  # noqa: S608  fixed names
    f"SELECT b.id, {_prefixed('b', BLOCK_COLUMNS)}, :superseded_at "
    f"FROM {_KEYS_UNNEST} JOIN {BLOCKS_TABLE} b ON {_KEYS_MATCH}"
)

_UPDATE = text(
    f"UPDATE {BLOCKS_TABLE} b SET "  # noqa: S608  fixed names
    + ", ".join(f"{column} = n.{column}" for column in _CHANGED)
    + f" FROM {_unnest((*KEY_COLUMNS, *_CHANGED), 'n')} WHERE "
    + " AND ".join(f"b.{column} = n.{column}" for column in KEY_COLUMNS)
)


async def archive_and_update(
    session: WriteSession, records: Sequence[BlockRecord], superseded_at: datetime
) -> None:
    """Copy the stored versions of the changed blocks to the history, then store the new
    contents of ``records`` (keyed by their key columns) over them."""
    if not records:
        return
    keys = _arrays(records, KEY_COLUMNS)
    await session.execute(_ARCHIVE, {**keys, "superseded_at": superseded_at})
    await session.execute(_UPDATE, {**keys, **_arrays(records, _CHANGED)})


# --- bulk loading (demo data) ------------------------------------------------------------

BULK_BLOCK_COLUMNS = ("id", *BLOCK_COLUMNS)


async def reserve_block_ids(session: WriteSession, count: int) -> list[int]:
    """``count`` fresh block ids (for rows loaded with their ids, and their history)."""
    result = await session.scalars(
        text(f"SELECT nextval('{ID_SEQUENCE}') FROM generate_series(1, :count)"),  # noqa: S608
        {"count": count},
    )
    return list(result)


async def copy_rows(
    session: WriteSession, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
) -> None:
    """``COPY`` rows into ``table`` (``meter_day_blocks`` with :data:`BULK_BLOCK_COLUMNS`, or
    the history with :data:`HISTORY_COLUMNS`) in the session's transaction."""
    connection = await (await session.connection()).get_raw_connection()
    driver = connection.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table, records=records, columns=list(columns))


async def last_received(
    session: ReadSession, spans: Sequence[tuple[str, date, date]]
) -> list[tuple[date, datetime] | None]:
    """Per (EAN, first day, end day) span, in order: the last Brussels day of the span
    holding data and when data of the span last arrived (None: no data in it). Only days a
    reader may see are asked about, so nothing tells it of another occupant's days."""
    if not spans:
        return []
    result = await session.execute(
        text(
            "SELECT r.i, max(b.day) AS last_day, max(b.last_inserted_at) AS received "  # noqa: S608
            "FROM unnest(CAST(:eans AS varchar[]), CAST(:firsts AS date[]), "
            "CAST(:ends AS date[])) WITH ORDINALITY AS r(ean, first_day, end_day, i) "
            f"JOIN {BLOCKS_TABLE} b ON b.ean = r.ean AND b.day >= r.first_day "
            "AND b.day < r.end_day GROUP BY r.i"
        ),
        {
            "eans": [ean for ean, _, _ in spans],
            "firsts": [first for _, first, _ in spans],
            "ends": [end for _, _, end in spans],
        },
    )
    found = {int(row.i): (row.last_day, row.received) for row in result}
    return [found.get(index + 1) for index in range(len(spans))]


async def gas_block_keys(
    session: ReadSession, eans: Sequence[str], gas_days: Sequence[date]
) -> list[BlockKey]:
    """The stored gas (m3) blocks holding the hours of ``gas_days`` of ``eans``: the
    calendar days a gas day spans (hours and quarter-hours) and the gas day's own daily
    block."""
    if not eans or not gas_days:
        return []
    hour_days = sorted({d for day in gas_days for d in (day, day + timedelta(days=1))})
    result = await session.execute(
        text(
            f"SELECT {', '.join(KEY_COLUMNS)} FROM {BLOCKS_TABLE} "  # noqa: S608
            "WHERE ean = ANY(:eans) AND unit = :litre AND ("
            "(granularity <> :daily AND day = ANY(:hour_days)) "
            "OR (granularity = :daily AND day = ANY(:gas_days)))"
        ),
        {
            "eans": list(eans),
            "litre": int(StoredUnit.litre),
            "daily": GRANULARITY_CODE[Granularity.P1D],
            "hour_days": hour_days,
            "gas_days": sorted(set(gas_days)),
        },
    )
    return [_key(row) for row in result]
