"""Meter data in day blocks: one row per (EAN, meter, direction, register, granularity,
Europe/Brussels day) holding the day's values packed into ``bytea``.

Why packed ``bytea`` and not ``integer[]``: a day block is ~300-700 bytes, far below the size
(~2 kB, fixed at compile time) at which PostgreSQL compresses a row, so an ``integer[]``
costs 4 bytes a value plus a 24-byte array header; measured here with both indexes that is
7.8 bytes per quarter-hour value, too close to the 8-byte budget. The packed layout
(:mod:`datahub_api.meter_data.blocks`) stores each value as an offset from the block's
minimum in the fewest bits the block needs (10 for a household's quarter-hours, none for a
day without injection). With both indexes that measures 4.43 bytes per value on
``bench/scale.py``'s mix at 100,000 access points (5.29 with the byte-wide offsets it
replaced) and 4.71 on the demo world of ``make bench`` (5.47 before). What remains is mostly
per row: the tuple header, key, id, counters, timestamps and the two index entries take
about 283 bytes of a block whatever its values (2.9 bytes a value of a quarter-hour block,
11.8 of a gas day of 24 hours); fewer bytes from here mean fewer rows, not denser values
(docs/scaling.md).

``meter_day_blocks`` is range-partitioned by ``day``, one partition per year
(``meter_day_blocks_y2026``), created on demand by :func:`repository.ensure_partitions`; an
old year can be detached (``ALTER TABLE meter_day_blocks DETACH PARTITION
meter_day_blocks_y2019``) and archived. Every key and index starts with the EAN, so the data
can later be sharded by EAN.

Codes (small integers, stable, documented in the enums below) keep rows short.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import IntEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base
from datahub_api.meter_data.granularity import Granularity


class Direction(IntEnum):
    offtake = 1
    injection = 2
    production = 3
    auxiliary = 4


class Register(IntEnum):
    total = 1
    day = 2  # high tariff (dag)
    night = 3  # low tariff (nacht)
    reactive = 4
    inductive = 5
    capacitive = 6


class ValidationState(IntEnum):
    READ = 1  # read from the meter, not yet validated (informative)
    EST = 2  # estimated
    VAL = 3  # validated
    NVAL = 4  # validation failed


class StoredUnit(IntEnum):
    """The milli-unit the integers of a block count: Wh for kWh, varh for kVArh, litres
    (dm3) for m3."""

    Wh = 1
    varh = 2
    litre = 3


BLOCKS_TABLE = "meter_day_blocks"
HISTORY_TABLE = "meter_day_block_history"
ID_SEQUENCE = "meter_day_blocks_id_seq"
PARTITION_NAME = re.compile(r"^meter_day_blocks_y\d{4}$")
# How long one slot of a block lasts, as stored.
GRANULARITY_CODE: dict[Granularity, int] = {
    Granularity.PT15M: 1,
    Granularity.PT1H: 2,
    Granularity.P1D: 3,
}
GRANULARITY_OF_CODE = {code: granularity for granularity, code in GRANULARITY_CODE.items()}
BLOCK_KEY = ("ean", "meter_id", "direction", "register", "granularity", "day")


def partition_name(year: int) -> str:
    return f"{BLOCKS_TABLE}_y{year:04d}"


def is_partition(table_name: str) -> bool:
    """Whether a table is a yearly partition (made at run time, not by migrations)."""
    return PARTITION_NAME.match(table_name) is not None


def _code_check(column: str, enum: type[IntEnum]) -> CheckConstraint:
    return CheckConstraint(f"{column} BETWEEN {min(enum)} AND {max(enum)}", name=f"{column}_code")


class MeterDayBlock(Base):
    """The current version of one day of one register of one meter."""

    __tablename__ = BLOCKS_TABLE
    __table_args__ = (
        PrimaryKeyConstraint(*BLOCK_KEY, name="pk_meter_day_blocks"),
        # "What changed since my cursor" for a set of EANs, a keyset on (insert time, id):
        # the index finds an EAN's blocks from the cursor's insert time on, and the id only
        # breaks ties among them. Without the id, the blocks one batch wrote for one EAN
        # (both directions of a day, say) share a key, which the B-tree stores once
        # (deduplication): about half the index at national scale (revision 0037).
        Index("ix_meter_day_blocks_ean_last_inserted_at", "ean", "last_inserted_at"),
        _code_check("direction", Direction),
        _code_check("register", Register),
        CheckConstraint(
            f"granularity BETWEEN {min(GRANULARITY_OF_CODE)} AND {max(GRANULARITY_OF_CODE)}",
            name="granularity_code",
        ),
        _code_check("unit", StoredUnit),
        CheckConstraint("filled_slots BETWEEN 1 AND expected_slots", name="filled_slots"),
        {"postgresql_partition_by": "RANGE (day)"},
    )

    # In the table's order (revision 0038): 8-byte columns, then 4- and 2-byte ones, then
    # texts and bytes, so that no row loses bytes to alignment padding.
    # Unique (from a sequence; partitioned tables cannot have identity columns on PG 15).
    id: Mapped[int] = mapped_column(BigInteger, server_default=text(f"nextval('{ID_SEQUENCE}')"))
    first_inserted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_inserted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When every slot first held a value (the data became complete).
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When every slot first held a validated (VAL) value; never moves once set (a later
    # correction to an estimate and back does not make it later).
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    day: Mapped[date] = mapped_column(Date)  # Europe/Brussels day
    version: Mapped[int] = mapped_column(Integer)  # 1 when created, +1 on every change
    direction: Mapped[int] = mapped_column(SmallInteger)
    register: Mapped[int] = mapped_column(SmallInteger)
    granularity: Mapped[int] = mapped_column(SmallInteger)
    unit: Mapped[int] = mapped_column(SmallInteger)
    expected_slots: Mapped[int] = mapped_column(SmallInteger)  # 92/96/100, 23/24/25 or 1
    filled_slots: Mapped[int] = mapped_column(SmallInteger)  # slots holding a value
    ean: Mapped[str] = mapped_column(String(18))
    meter_id: Mapped[str] = mapped_column(String(50))
    packed_values: Mapped[bytes] = mapped_column(LargeBinary)
    packed_states: Mapped[bytes] = mapped_column(LargeBinary)


class MeterDayBlockVersion(Base):
    """A superseded version of a day block, kept for audit: written when a later batch
    changed the block."""

    __tablename__ = HISTORY_TABLE
    __table_args__ = (
        PrimaryKeyConstraint(*BLOCK_KEY, "version", name="pk_meter_day_block_history"),
    )

    ean: Mapped[str] = mapped_column(String(18))
    meter_id: Mapped[str] = mapped_column(String(50))
    direction: Mapped[int] = mapped_column(SmallInteger)
    register: Mapped[int] = mapped_column(SmallInteger)
    granularity: Mapped[int] = mapped_column(SmallInteger)
    day: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    block_id: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[int] = mapped_column(SmallInteger)
    expected_slots: Mapped[int] = mapped_column(SmallInteger)
    filled_slots: Mapped[int] = mapped_column(SmallInteger)
    first_inserted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_inserted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    packed_values: Mapped[bytes] = mapped_column(LargeBinary)
    packed_states: Mapped[bytes] = mapped_column(LargeBinary)
    superseded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
