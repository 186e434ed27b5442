"""`python -m bench.block_packing`: bytes and microseconds per day block, the byte layout
that blocks were first stored in against the bit-packed one (:mod:`datahub_api.meter_data.blocks`).

Blocks shaped like ``bench/scale.py``'s head-end files (household quarter-hours 20-900 Wh,
PV injection, a day without injection, gas hours 0-3000 litres) and a few edge cases. Each
time is the median of 7 rounds of 2,000 calls in this process; not a judged figure, a tool
for deciding the layout.
"""

from __future__ import annotations

import random
import statistics
import struct
import timeit
from array import array
from collections.abc import Callable
from typing import Any

from datahub_api.meter_data.blocks import GAP, MAX_STORABLE, pack_values, unpack_slots


def byte_layout(slots: array[int]) -> bytes:
    """The first layout: width byte, 32-bit base, then 1, 2 or 4 bytes a slot."""
    present = [value for value in slots if value >= 0]
    base, span = min(present), max(present) - min(present)
    width = 1 if span < 0xFF else 2 if span < 0xFFFF else 4
    gap = (1 << 8 * width) - 1
    offsets = [value - base if value >= 0 else gap for value in slots]
    code = {1: "B", 2: "H", 4: "I"}[width]
    return struct.pack(f"<BI{len(offsets)}{code}", width, base, *offsets)


def blocks(seed: int = 1) -> dict[str, array[int]]:
    rng = random.Random(seed)
    return {
        "QH offtake 20-900 Wh": array("q", [rng.randint(20, 900) for _ in range(96)]),
        "QH offtake, 5 gaps": array(
            "q", [GAP if 40 <= n < 45 else rng.randint(20, 900) for n in range(96)]
        ),
        "QH PV injection": array(
            "q", [rng.randint(0, 1500) if 32 <= n < 72 else 0 for n in range(96)]
        ),
        "QH no injection": array("q", [0] * 96),
        "QH DST day, 100": array("q", [rng.randint(20, 900) for _ in range(100)]),
        "gas hours 0-3000 l": array("q", [rng.randint(0, 3000) for _ in range(24)]),
        "one daily value": array("q", [123_456]),
        "largest value, gaps": array("q", [0, MAX_STORABLE, *[GAP] * 94]),
    }


def _microseconds(call: Callable[[Any], object], argument: object) -> float:
    rounds = timeit.repeat(lambda: call(argument), number=2000, repeat=7)
    return statistics.median(rounds) / 2000 * 1e6


def main() -> None:
    print(
        f"{'block':22} {'bytes: old':>10} {'new':>4} | {'pack µs: old':>12} {'new':>5} | "
        f"{'unpack µs: old':>14} {'new':>5}"
    )
    for name, slots in blocks().items():
        old, new = byte_layout(slots), pack_values(slots)
        if unpack_slots(old) != slots or unpack_slots(new) != slots:
            raise AssertionError(f"{name} does not round-trip")
        print(
            f"{name:22} {len(old):10} {len(new):4} | {_microseconds(byte_layout, slots):12.1f} "
            f"{_microseconds(pack_values, slots):5.1f} | {_microseconds(unpack_slots, old):14.1f} "
            f"{_microseconds(unpack_slots, new):5.1f}"
        )


if __name__ == "__main__":
    main()
