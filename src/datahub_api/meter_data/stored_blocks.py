"""What an ingest stored: one record per day block a batch created or changed, handed to
everything that reacts to a batch (delivery tracking and ``meter_data.available`` in the
batch's transaction, the after-commit listeners of ``meter_data.service``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register


class BlockChange(StrEnum):
    created = "created"
    filled = "filled"  # only slots without a value got one
    corrected = "corrected"  # a stored value or validation state was replaced


@dataclass(frozen=True)
class StoredBlock:
    """One day block a committed batch created or changed."""

    ean: str
    meter_id: str
    day: date
    direction: Direction
    register: Register
    granularity: Granularity
    change: BlockChange
    filled_before: int  # slots with a value before the batch (0 when created)
    filled_after: int
    expected_slots: int
    completed_at: datetime | None  # set when the block became complete with this batch
    inserted_at: datetime
    version: int
    # Set when every slot first held a validated (VAL) value with this batch.
    validated_at: datetime | None = None
