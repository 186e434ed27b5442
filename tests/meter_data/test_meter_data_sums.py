"""The one summing rule (meter_data/sums.py) and the one block record (meter_data/blocks.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from datahub_api.meter_data.blocks import BLOCK_COLUMNS, KEY_COLUMNS, BlockKey, BlockRecord
from datahub_api.meter_data.granularity import STORED_GRANULARITIES, Granularity
from datahub_api.meter_data.models import (
    BLOCK_KEY,
    GRANULARITY_CODE,
    GRANULARITY_OF_CODE,
    Direction,
    MeterDayBlock,
    Register,
    ValidationState,
)
from datahub_api.meter_data.sums import add_reading, add_readings, worse_conversion, worst_state

VAL, READ, EST, NVAL = (
    ValidationState.VAL,
    ValidationState.READ,
    ValidationState.EST,
    ValidationState.NVAL,
)


def test_a_bucket_sums_the_values_present_and_keeps_the_worst_state() -> None:
    values: list[int | None] = [None, None]
    states: list[int | None] = [None, None]
    parts = [0, 0]
    add_readings(
        values,
        states,
        [(0, 10, VAL), (0, None, None), (0, 5, EST), (0, 1, READ), (1, 7, VAL)],
        parts,
    )
    assert values == [16, 7]
    assert states == [EST, VAL]
    assert parts == [3, 1]  # the gap adds nothing
    add_reading(values, states, 1, 0, NVAL)
    assert (values[1], states[1]) == (7, NVAL)


def test_the_worst_state_and_calorific_value() -> None:
    assert worst_state([VAL, READ, VAL]) is READ
    assert worst_state([EST, NVAL, VAL]) is NVAL
    assert worse_conversion("D", None) == "D"
    assert worse_conversion("D", "P") == "P"
    assert worse_conversion("P", "C") == "P"


def test_the_block_record_is_the_table_row() -> None:
    stored = {column.name for column in MeterDayBlock.__table__.columns}
    assert set(BLOCK_COLUMNS) == stored - {"id"}
    assert KEY_COLUMNS == BLOCK_KEY
    now = datetime(2026, 1, 2, tzinfo=UTC)
    record = BlockRecord(
        "541448820050357909", "M1", 1, 1, GRANULARITY_CODE[Granularity.PT1H], date(2026, 1, 1),
        1, 24, 24, 1, now, now, now, None, b"", b"",
    )  # fmt: skip
    assert record.key == BlockKey(
        "541448820050357909", "M1", Direction.offtake, Register.total, Granularity.PT1H,
        date(2026, 1, 1),
    )  # fmt: skip


def test_stored_granularities_have_one_code_each_and_months_none() -> None:
    assert set(GRANULARITY_CODE) == set(STORED_GRANULARITIES)
    assert [GRANULARITY_CODE[g] for g in STORED_GRANULARITIES] == [1, 2, 3]
    assert {GRANULARITY_OF_CODE[code] for code in (1, 2, 3)} == set(STORED_GRANULARITIES)
    assert Granularity.P1M not in GRANULARITY_CODE
