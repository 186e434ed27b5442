"""Summing readings into buckets: the one rule every coarser view of meter data follows.

A bucket holds the sum of the values present and the *worst* validation state of its parts
(failed validation, then estimated, then read, then validated: :data:`STATE_SEVERITY`); a
gap adds nothing. Converted gas energy also keeps the worst calorific value of its parts
(predictive, then constant, then definitive: :data:`CONVERSION_SEVERITY`). The series of a
read, the summed rows of the Fluvius export, the columns of a ``/v3`` answer (several meters
of one headpoint) and the capacity peaks (several registers of one quarter-hour) all sum
with these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence

from datahub_api.meter_data.models import ValidationState

# Worst last: validated, read (not validated), estimate, failed validation.
STATE_SEVERITY: dict[int, int] = {
    ValidationState.VAL: 0,
    ValidationState.READ: 1,
    ValidationState.EST: 2,
    ValidationState.NVAL: 3,
}

# Worst last: a definitive calorific value, a standard constant, a predictive one.
CONVERSION_SEVERITY: dict[str, int] = {"D": 0, "C": 1, "P": 2}


def add_readings(
    values: MutableSequence[int | None],
    states: MutableSequence[int | None],
    readings: Iterable[tuple[int, int | None, int | None]],
    parts: MutableSequence[int] | None = None,
) -> None:
    """Add each ``(bucket, value, state)`` of ``readings`` into ``values`` and ``states``
    (a bucket: the sum of the values present, the worst state; a gap, value None, adds
    nothing), counting the values added per bucket in ``parts`` when given."""
    for bucket, value, state in readings:
        if value is None:
            continue
        stored = values[bucket]
        values[bucket] = value if stored is None else stored + value
        previous = states[bucket]
        if previous is None or (
            state is not None and STATE_SEVERITY[state] > STATE_SEVERITY[previous]
        ):
            states[bucket] = state
        if parts is not None:
            parts[bucket] += 1


def add_reading(
    values: MutableSequence[int | None],
    states: MutableSequence[int | None],
    bucket: int,
    value: int,
    state: int | None,
) -> None:
    """:func:`add_readings` of one reading."""
    add_readings(values, states, ((bucket, value, state),))


def worst_state(states: Iterable[int]) -> ValidationState:
    """The worst of the validation states of the parts of a sum (at least one)."""
    return ValidationState(max(states, key=STATE_SEVERITY.__getitem__))


def worse_conversion(code: str, previous: str | None) -> str:
    """The calorific-value code a bucket keeps when a part with ``code`` is added."""
    if previous is None or CONVERSION_SEVERITY[code] > CONVERSION_SEVERITY[previous]:
        return code
    return previous
