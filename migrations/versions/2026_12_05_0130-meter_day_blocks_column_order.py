"""meter data: the day blocks' columns in an order without alignment padding

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-05 01:30:00

PostgreSQL aligns a bigint or a timestamp at 8 bytes, an integer or a date at 4 and a
smallint at 2. The first order (the texts, then smallints, the date, the id, smallints, the
version, the times, the packed bytes, and ``validated_at`` added last, behind them) lost 10
to 17 bytes of every row to padding. Now the 8-byte columns come first, then the 4- and
2-byte ones, then the texts and the packed bytes, which need no alignment. On the one-year
partition of ``make bench-scale`` (1,964,351 day blocks) the heap went from 425.5 to 407.9
MB, and the day blocks from 4.02 to 3.90 bytes per value.

A column order changes only by writing the table again: a new ``meter_day_blocks`` takes
each yearly partition's rows in primary-key order (its indexes, filled in order, come out
dense), then the old partition is dropped. Ingest and reads wait meanwhile: at national size
that is hours, in a maintenance window. The downgrade keeps the new order: no revision
before this one depends on the order of the columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "_before_0038"
_KEY = "ean, meter_id, direction, register, granularity, day"
_COLUMNS = (
    "id bigint NOT NULL DEFAULT nextval('meter_day_blocks_id_seq'::regclass)",
    "first_inserted_at timestamp with time zone NOT NULL",
    "last_inserted_at timestamp with time zone NOT NULL",
    "completed_at timestamp with time zone",
    "validated_at timestamp with time zone",
    "day date NOT NULL",
    "version integer NOT NULL",
    "direction smallint NOT NULL",
    "register smallint NOT NULL",
    "granularity smallint NOT NULL",
    "unit smallint NOT NULL",
    "expected_slots smallint NOT NULL",
    "filled_slots smallint NOT NULL",
    "ean character varying(18) NOT NULL",
    "meter_id character varying(50) NOT NULL",
    "packed_values bytea NOT NULL",
    "packed_states bytea NOT NULL",
)
_NAMES = ", ".join(column.split()[0] for column in _COLUMNS)
_CHECKS = {
    "ck_meter_day_blocks_direction_code": "direction BETWEEN 1 AND 4",
    "ck_meter_day_blocks_filled_slots": "filled_slots BETWEEN 1 AND expected_slots",
    "ck_meter_day_blocks_granularity_code": "granularity BETWEEN 1 AND 3",
    "ck_meter_day_blocks_register_code": "register BETWEEN 1 AND 6",
    "ck_meter_day_blocks_unit_code": "unit BETWEEN 1 AND 3",
}


_PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = CAST(:table AS regclass) ORDER BY 1"
)
_INDEXES = (
    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = CAST(:table AS regclass) ORDER BY 1"
)


def _names(connection: sa.Connection, query: str, table: str) -> list[str]:
    """The names a catalog query finds for ``table`` (its partitions or its indexes)."""
    return list(connection.scalars(sa.text(query), {"table": table}))


def _set_aside(connection: sa.Connection, table: str) -> None:
    """Rename a table and its indexes out of the way of the new ones' names."""
    for index in _names(connection, _INDEXES, table):
        op.execute(f'ALTER INDEX "{index}" RENAME TO "{index}{_OLD}"')
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{table}{_OLD}"')


def upgrade() -> None:
    connection = op.get_bind()
    partitions = _names(connection, _PARTITIONS, "meter_day_blocks")
    for partition in partitions:
        _set_aside(connection, partition)
    _set_aside(connection, "meter_day_blocks")
    checks = "".join(f",\n    CONSTRAINT {name} CHECK ({rule})" for name, rule in _CHECKS.items())
    op.execute(
        "CREATE TABLE meter_day_blocks (\n    "
        + ",\n    ".join(_COLUMNS)
        + f",\n    CONSTRAINT pk_meter_day_blocks PRIMARY KEY ({_KEY}){checks}\n"
        ") PARTITION BY RANGE (day)"
    )
    op.execute(
        "CREATE INDEX ix_meter_day_blocks_ean_last_inserted_at "
        "ON meter_day_blocks (ean, last_inserted_at)"
    )
    for partition in partitions:
        year = int(partition.removeprefix("meter_day_blocks_y"))
        op.execute(
            f"CREATE TABLE {partition} PARTITION OF meter_day_blocks "
            f"FOR VALUES FROM ('{year:04d}-01-01') TO ('{year + 1:04d}-01-01')"
        )
        op.execute(
            f"INSERT INTO meter_day_blocks ({_NAMES}) "  # noqa: S608  fixed names
            f'SELECT {_NAMES} FROM "{partition}{_OLD}" ORDER BY {_KEY}'
        )
        op.execute(f'DROP TABLE "{partition}{_OLD}"')
    op.execute(f'DROP TABLE "meter_day_blocks{_OLD}"')
    if partitions:
        op.execute("ANALYZE meter_day_blocks")


def downgrade() -> None:
    """Nothing: the revisions before this one hold for the columns in any order."""
