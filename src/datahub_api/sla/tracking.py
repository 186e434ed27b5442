"""Recording delivery as day blocks land: called by ingest inside its own transaction, so a
batch and the record of when its days were delivered commit together (nothing is lost if
the process dies after the commit), in one set-based statement per batch.

Each interval stream (a PT15M or PT1H block: one meter, direction and register) of an
EAN-day counts once when it first appears, once when it first becomes complete and once when
it first holds a validated (``VAL``) value in every slot (the block's ``validated_at``); the
EAN-day is delivered (informative data) when all its streams are complete, and validated when
all are validated. Later corrections change neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from datahub_api.db import WriteSession
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.stored_blocks import StoredBlock
from datahub_api.sla import repository

TRACKED_GRANULARITIES = frozenset({Granularity.PT15M, Granularity.PT1H})


def deltas_of(stored: Sequence[StoredBlock]) -> repository.DeliveryDeltas:
    """Per EAN-day, the streams a batch added, completed and first fully validated."""
    counts: dict[tuple[str, date], list[int]] = {}
    for block in stored:
        if block.granularity not in TRACKED_GRANULARITIES:
            continue
        new_stream = 1 if block.change == "created" else 0
        completed = 1 if block.completed_at is not None else 0
        validated = 1 if block.validated_at is not None else 0
        if not new_stream and not completed and not validated:
            continue
        entry = counts.setdefault((block.ean, block.day), [0, 0, 0])
        entry[0] += new_stream
        entry[1] += completed
        entry[2] += validated
    keys = sorted(counts)
    return repository.DeliveryDeltas(
        ean=[ean for ean, _ in keys],
        day=[day for _, day in keys],
        streams=[counts[key][0] for key in keys],
        complete=[counts[key][1] for key in keys],
        validated=[counts[key][2] for key in keys],
    )


async def record_batch(
    session: WriteSession, stored: Sequence[StoredBlock], inserted_at: datetime
) -> None:
    await repository.record_deliveries(session, deltas_of(stored), inserted_at)
