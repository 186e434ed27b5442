"""Day blocks in memory and on disk: slot arithmetic and the packed ``bytea`` layouts.

In memory a block's values are *slots*: a sequence of integers in the unit's milli-unit,
one per quarter-hour / hour / day of the Brussels day, with :data:`GAP` (-1) where no value
was delivered (a gap is never zero). Readings are never negative, so -1 is free.

Packed values (``meter_day_blocks.packed_values``) are bit-packed (frame of reference):

* byte 0: ``0x80 | gaps << 6 | bits``: ``bits`` (0-32) per slot, ``gaps`` set when some
  slot has no value;
* byte 1: the number of slots;
* then ``base``, the smallest value of the block, as an unsigned LEB128 varint (1-5 bytes);
* then every slot's offset from ``base`` in ``bits`` bits, slot ``i`` at bits
  ``i * bits`` to ``(i + 1) * bits`` of the rest read as one little-endian integer; when
  ``gaps`` is set the all-ones pattern is a gap.

``bits`` is the fewest that hold the block's span (plus the gap pattern), so a household's
quarter-hours (20-900 Wh) take 10 bits, gas hours (0-3000 litres) 12 and a day without any
injection none at all: 3 bytes for the whole block. Decoding is a handful of numpy calls
(:func:`numpy.unpackbits`, one product with the bit weights), as fast as the byte layout's
``struct.unpack``.

The first layout (byte 0 the width ``w`` of one slot, 1, 2 or 4 bytes; bytes 1-4 ``base``
as an unsigned 32-bit integer; then one ``w``-byte offset per slot, all bits set for a gap)
stays readable: its byte 0 is never 0x80 or more. Blocks stored that way are rewritten in
the bit-packed layout the next time a batch changes them; no migration rewrites them all.

Packed states (``packed_states``): one byte, the :class:`ValidationState` code of every
slot holding a value, when they all share it (the usual case); otherwise one code per slot,
0 for a gap.

The records of a block: :class:`BlockKey` (what identifies it), :class:`BlockRecord` (one row
of ``meter_day_blocks`` as stored, values packed; its field names are the table's columns,
so ingest, the repository and the demo loader share one column list, :data:`BLOCK_COLUMNS`)
and :class:`DayBlock` (a block read back, values unpacked).
"""

from __future__ import annotations

import functools
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

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


@functools.lru_cache(maxsize=4096)
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
    if len(slots) > _FEW_SLOTS:
        if isinstance(slots, array) and slots.typecode == "q":
            return pack_array(np.frombuffer(slots, np.int64))
        return pack_array(np.asarray(slots, dtype=np.int64))
    present = [value for value in slots if value >= 0]
    if not present:
        raise ValueError("a day block holds at least one value")
    base, top = min(present), max(present)
    if top > MAX_STORABLE:
        raise ValueError(f"{top} is too large to store")
    gaps = len(present) < len(slots)
    bits = (top - base + gaps).bit_length()
    packed = 0
    if bits:
        gap = (1 << bits) - 1
        for value in reversed(slots):
            packed = packed << bits | (value - base if value >= 0 else gap)
    return _bit_header(bits, gaps, len(slots), base) + packed.to_bytes(
        (len(slots) * bits + 7) >> 3, "little"
    )


def pack_array(values: NDArray[np.int64]) -> bytes:
    """numpy twin of :func:`pack_values` for a block's values as an array (-1 for gaps)."""
    low = int(values.min())
    gaps = low < 0
    if gaps:
        present = values >= 0
        if not present.any():
            raise ValueError("a day block holds at least one value")
        base, top = int(values[present].min()), int(values.max())
    else:
        base, top = low, int(values.max())
    if top > MAX_STORABLE:
        raise ValueError(f"{top} is too large to store")
    bits = (top - base + gaps).bit_length()
    header = _bit_header(bits, gaps, len(values), base)
    if not bits:
        return header
    offsets = values - base
    if gaps:
        offsets[~present] = (1 << bits) - 1
    slot_bits = np.unpackbits(
        offsets.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, count=bits, bitorder="little"
    )
    return header + np.packbits(slot_bits, bitorder="little").tobytes()


def _bit_header(bits: int, gaps: bool, count: int, base: int) -> bytes:
    header = bytearray((BIT_PACKED | gaps << 6 | bits, count))
    while base >= 0x80:
        header.append(base & 0x7F | 0x80)
        base >>= 7
    header.append(base)
    return bytes(header)


BIT_PACKED = 0x80
"""Byte 0 of the bit-packed layout has this bit set; that of the byte layout (1, 2, 4) not."""
# At most this many slots, decoding with Python's integers beats numpy's fixed cost.
_FEW_SLOTS = 32
# The value of each bit of a slot, for every width: the product turns bits into offsets.
_BIT_WEIGHTS = [np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64)) for bits in range(33)]


def unpack_slots(packed: bytes) -> array[int]:
    """The slots of packed values (:data:`GAP` for gaps), of either layout."""
    code = packed[0]
    if not code & BIT_PACKED:
        return _unpack_bytes(packed)
    bits, gaps, count = code & 0x3F, code & 0x40, packed[1]
    base, shift, start = 0, 0, 2
    while True:
        byte = packed[start]
        start += 1
        base |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    if not bits:
        return array("q", [base]) * count
    mask = (1 << bits) - 1
    if count <= _FEW_SLOTS:
        rest = int.from_bytes(packed[start:], "little")
        shifts = range(0, count * bits, bits)
        if gaps:
            return array(
                "q",
                [GAP if (offset := rest >> at & mask) == mask else base + offset for at in shifts],
            )
        return array("q", [base + (rest >> at & mask) for at in shifts])
    slot_bits = np.unpackbits(
        np.frombuffer(packed, np.uint8, offset=start), count=count * bits, bitorder="little"
    )
    values = slot_bits.reshape(count, bits) @ _BIT_WEIGHTS[bits]
    if gaps:
        values = np.where(values == mask, GAP, values + base)
    else:
        values += base
    return array("q", values.tobytes())


def _unpack_bytes(packed: bytes) -> array[int]:
    """The slots of the first layout: a byte width, a 32-bit base, byte-wide offsets."""
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
    if GAP not in slots:  # no gap: every state counts (a set made in C)
        codes = set(states[: len(slots)])
    else:
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
    """Slots holding a value: all but the gaps (values are never negative)."""
    return len(slots) - slots.count(GAP)
