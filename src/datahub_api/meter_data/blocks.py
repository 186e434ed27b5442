"""Day blocks in memory and on disk: slot arithmetic and the packed ``bytea`` layouts.

In memory a block's values are *slots*: a sequence of integers in the unit's milli-unit,
one per quarter-hour / hour / day of the Brussels day, with :data:`GAP` (-1) where no value
was delivered (a gap is never zero). Readings are never negative, so -1 is free.

Packed values (``meter_day_blocks.packed_values``), little-endian:

* byte 0: the width ``w`` of one slot, 1, 2 or 4 bytes;
* bytes 1-4: ``base``, the smallest value of the block (unsigned 32 bits);
* then one ``w``-byte unsigned offset from ``base`` per slot, all bits set for a gap.

``w`` is the narrowest width whose all-ones pattern is larger than every offset, so
household quarter-hours (0-3000 Wh) take 2 bytes and quiet days 1 byte.

Packed states (``packed_states``): one byte, the :class:`ValidationState` code of every
slot holding a value, when they all share it (the usual case); otherwise one code per slot,
0 for a gap.

The records of a block: :class:`BlockKey` (what identifies it), :class:`BlockRecord` (one row
of ``meter_day_blocks`` as stored, values packed; its field names are the table's columns,
so ingest, the repository and the demo loader share one column list, :data:`BLOCK_COLUMNS`)
and :class:`DayBlock` (a block read back, values unpacked).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from datahub_api.brussels_days import day_length, day_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import GRANULARITY_OF_CODE, Direction, Register

GAP = -1
MAX_STORABLE = 0xFFFF_FFFE  # the largest value the packed layout can hold

SLOT_LENGTH = {
    Granularity.PT15M: timedelta(minutes=15),
    Granularity.PT1H: timedelta(hours=1),
    Granularity.P1D: timedelta(days=1),
}


@dataclass(frozen=True)
class BlockKey:
    """What identifies a day block; always starts with the EAN."""

    ean: str
    meter_id: str
    direction: Direction
    register: Register
    granularity: Granularity
    day: date


class BlockRecord(NamedTuple):
    """One row of ``meter_day_blocks`` without its id: what ingest writes (``COPY`` takes it
    as it is), what it merges into, and what the demo loader generates. Codes are the stored
    integers (see :attr:`key` for the enums)."""

    ean: str
    meter_id: str
    direction: int
    register: int
    granularity: int
    day: date
    unit: int
    expected_slots: int
    filled_slots: int
    version: int
    first_inserted_at: datetime
    last_inserted_at: datetime
    completed_at: datetime | None
    # When every slot first held a validated (VAL) value.
    validated_at: datetime | None
    packed_values: bytes
    packed_states: bytes

    @property
    def key(self) -> BlockKey:
        return BlockKey(
            self.ean,
            self.meter_id,
            Direction(self.direction),
            Register(self.register),
            GRANULARITY_OF_CODE[self.granularity],
            self.day,
        )


BLOCK_COLUMNS: tuple[str, ...] = BlockRecord._fields
"""The columns of ``meter_day_blocks`` besides ``id``, in :class:`BlockRecord` order."""
KEY_COLUMNS = BLOCK_COLUMNS[:6]
"""The columns of a :class:`BlockKey`, in its order."""


@dataclass(frozen=True)
class DayBlock:
    """A day block (or a superseded version of one) with its values unpacked.

    ``values`` are integers in the unit's milli-unit (``unit``: Wh, varh or litres), None
    for a gap; ``states`` the :class:`~datahub_api.meter_data.models.ValidationState` code
    of each slot (None for a gap). Slot ``i`` starts at :func:`slot_start`
    ``(day, granularity, i)``.
    """

    key: BlockKey
    id: int
    unit: int
    expected_slots: int
    filled_slots: int
    version: int
    first_inserted_at: datetime
    last_inserted_at: datetime
    completed_at: datetime | None
    values: list[int | None]
    states: list[int | None]
    superseded_at: datetime | None = None  # set on versions read from the history
    validated_at: datetime | None = None  # when every slot first held a validated value


_WIDTH_FORMAT = {1: "B", 2: "H", 4: "I"}
_ALL_ONES = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF}
_HEADER = struct.Struct("<BI")


def expected_slots(day: date, granularity: Granularity) -> int:
    """Slots of a complete Brussels day: 96 (92/100 on DST days) quarter-hours, 24 (23/25)
    hours, or 1 day."""
    if granularity is Granularity.P1D:
        return 1
    return int(day_length(day) / SLOT_LENGTH[granularity])


def slot_start(day: date, granularity: Granularity, slot: int) -> datetime:
    """The UTC instant at which slot ``slot`` of the Brussels ``day`` starts."""
    if granularity is Granularity.P1D:
        return day_start(day)
    return day_start(day) + slot * SLOT_LENGTH[granularity]


def empty_slots(count: int) -> array[int]:
    return array("q", [GAP]) * count


def pack_values(slots: Sequence[int]) -> bytes:
    """The packed form of a block's slots (at least one slot must hold a value)."""
    present = [value for value in slots if value >= 0]
    if not present:
        raise ValueError("a day block holds at least one value")
    base, top = min(present), max(present)
    if top > MAX_STORABLE:
        raise ValueError(f"{top} is too large to store")
    span = top - base
    width = 1 if span < 0xFF else 2 if span < 0xFFFF else 4
    gap = _ALL_ONES[width]
    offsets = [value - base if value >= 0 else gap for value in slots]
    return _HEADER.pack(width, base) + struct.pack(
        f"<{len(offsets)}{_WIDTH_FORMAT[width]}", *offsets
    )


def unpack_slots(packed: bytes) -> array[int]:
    """The slots of packed values (:data:`GAP` for gaps)."""
    width, base = _HEADER.unpack_from(packed)
    count = (len(packed) - _HEADER.size) // width
    gap = _ALL_ONES[width]
    offsets = struct.unpack_from(f"<{count}{_WIDTH_FORMAT[width]}", packed, _HEADER.size)
    return array("q", [GAP if offset == gap else base + offset for offset in offsets])


def unpack_values(packed: bytes) -> list[int | None]:
    """The values of packed slots, None for gaps."""
    return [None if value == GAP else value for value in unpack_slots(packed)]


def pack_states(states: bytes | bytearray, slots: Sequence[int]) -> bytes:
    """One byte when every slot holding a value has the same state, else a byte per slot
    (0 where the slot is a gap)."""
    codes = {states[index] for index, value in enumerate(slots) if value >= 0}
    if len(codes) == 1:
        return bytes(codes)
    return bytes(state if value >= 0 else 0 for state, value in zip(states, slots, strict=True))


def unpack_states(packed: bytes, slots: Sequence[int]) -> bytearray:
    """A state code per slot (0 for gaps)."""
    if len(packed) == 1:
        code = packed[0]
        return bytearray(code if value >= 0 else 0 for value in slots)
    return bytearray(packed)


def filled(slots: Sequence[int]) -> int:
    return sum(1 for value in slots if value >= 0)
