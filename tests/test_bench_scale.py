"""The synthetic DSO of ``bench/scale.py``: its rented access points and its readings are
drawn per seed."""

from __future__ import annotations

import random
from dataclasses import replace

from bench.scale import RENTED_SHARE, SMALL, drawn_values, landlords


def test_about_three_tenths_are_rented_the_same_for_a_seed_and_the_kinds_stay() -> None:
    scale = replace(SMALL, access_points=20_000)
    rented = landlords(scale)
    assert rented == landlords(scale)
    assert rented != landlords(replace(scale, seed=scale.seed + 1))
    share = sum(1 for landlord in rented if landlord >= 0) / scale.access_points
    assert abs(share - RENTED_SHARE) < 0.02
    per_landlord: dict[int, int] = {}
    for landlord in rented:
        if landlord >= 0:
            per_landlord[landlord] = per_landlord.get(landlord, 0) + 1
    assert 2.5 < sum(per_landlord.values()) / len(per_landlord) < 3.5
    assert max(per_landlord.values()) >= 8  # some landlords rent out many


def test_drawn_values_are_randints_formatted_as_the_head_end_writes_them() -> None:
    for low, high in ((20, 900), (0, 1500), (0, 3000)):
        drawn = drawn_values(random.Random(low + high), low, high, 500)
        reference = random.Random(low + high)
        assert drawn == tuple(f"{reference.randint(low, high) / 1000:.3f}" for _ in range(500))
