"""Rules of meter-data ingest: check a parsed batch against the registry, merge it into the
stored day blocks, and tell the listeners what was stored.

A batch is all or nothing: every problem is found before anything is written, and the
writes happen in the caller's transaction. Merging a reading into a stored block: a slot
without a value takes the reading (the block is *filled*); a slot with another value or
validation state takes the reading (the block is *corrected*); the same value and state
changes nothing. A block that changes gets version + 1 and the batch's insert time, and its
previous version goes to the history. Re-sending a batch therefore changes nothing.

``meter_data.available`` events are published inside the batch's transaction
(:mod:`datahub_api.meter_data.availability`), so they exist exactly when the data does.
Later features (SLA tracking) subscribe to what was stored by appending to
:data:`BLOCKS_STORED_LISTENERS` (called after the commit, so not durable).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from datahub_api.access_points import repository as access_points_repository
from datahub_api.access_points.models import EnergyType
from datahub_api.access_points.repository import MeteringRegistration
from datahub_api.capacity.corrections import peak_change_events
from datahub_api.db import Database, WriteSession
from datahub_api.errors import PayloadTooLarge, UnprocessableContent
from datahub_api.meter_data import repository
from datahub_api.meter_data.availability import publish_available
from datahub_api.meter_data.blocks import (
    GAP,
    BlockKey,
    BlockRecord,
    filled,
    pack_states,
    pack_values,
    unpack_slots,
    unpack_states,
)
from datahub_api.meter_data.ingest_parser import ParsedBatch, PendingBlock, Problem
from datahub_api.meter_data.models import (
    GRANULARITY_CODE,
    StoredUnit,
    ValidationState,
)
from datahub_api.meter_data.stored_blocks import BlockChange, StoredBlock
from datahub_api.sla import tracking as sla_tracking

logger = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 50


# --- errors ------------------------------------------------------------------------------


class ReadingsRejected(UnprocessableContent):
    """Nothing of the batch was stored; ``errors`` lists the first problems by line."""

    code, title = "readings-rejected", "Meter readings refused; nothing was stored"

    def __init__(self, problems: Sequence[Problem], *, total: int | None = None) -> None:
        ordered = sorted(problems)
        count = len(ordered) if total is None else total
        first = ordered[0]
        super().__init__(
            f"{count} problem(s) in the batch; nothing was stored. "
            f"First: line {first.line}: {first.detail}",
            extra={
                "error_count": count,
                "errors": [
                    {"line": problem.line, "detail": problem.detail}
                    for problem in ordered[:MAX_REPORTED_ERRORS]
                ],
            },
        )
        self.problems = ordered


class BatchTooLarge(PayloadTooLarge):
    code, title = "batch-too-large", "Batch too large"


# --- what was stored, and who is told ----------------------------------------------------


BlocksStoredListener = Callable[[WriteSession, Sequence[StoredBlock]], Awaitable[None]]
"""``listener(session, stored_blocks)``: called after a batch has committed, with a new
write session (committed after every listener has returned) and the blocks the batch created
or changed. Unchanged blocks are not passed. A listener that raises is logged; the batch
stays stored."""

BLOCKS_STORED_LISTENERS: list[BlocksStoredListener] = []


async def notify_blocks_stored(database: Database, stored: Sequence[StoredBlock]) -> None:
    """Call every listener of :data:`BLOCKS_STORED_LISTENERS` (after the batch committed)."""
    if not stored or not BLOCKS_STORED_LISTENERS:
        return
    async with database.write_sessions() as session:
        for listener in list(BLOCKS_STORED_LISTENERS):
            try:
                await listener(session, stored)
            except Exception:
                logger.exception("a blocks-stored listener failed (%s)", listener)
                await session.rollback()
        await session.commit()


@dataclass
class IngestOutcome:
    rows: int = 0
    blocks_created: int = 0
    blocks_filled: int = 0
    blocks_corrected: int = 0
    blocks_unchanged: int = 0
    inserted_at: datetime | None = None
    stored: list[StoredBlock] = field(default_factory=list)


# --- checking against the registry -------------------------------------------------------


@dataclass
class _Block:
    """A pending block whose meter is resolved: ready to merge."""

    key: BlockKey
    unit: StoredUnit
    slots: Sequence[int]
    states: bytearray
    first_line: int


def _meter_on(
    registration: MeteringRegistration, block: PendingBlock
) -> tuple[str | None, str | None]:
    """The meter id of a pending block, or why it cannot be stored."""
    series, day = block.series, block.day
    meters = registration.meters
    if len(meters) == 1 and meters[0].meter_id == series.meter_id and meters[0].installed_on(day):
        return series.meter_id, None  # the usual case, in short
    installed = [meter for meter in meters if meter.installed_on(day)]
    if not series.meter_id:
        if len(installed) == 1:
            return installed[0].meter_id, None
        if not installed:
            return None, f"no meter of EAN {series.ean} is installed on {day}"
        return None, (
            f"meter_id is needed: EAN {series.ean} has {len(installed)} meters installed on "
            f"{day} ({', '.join(meter.meter_id for meter in installed)})"
        )
    if not any(meter.meter_id == series.meter_id for meter in registration.meters):
        return None, f"meter_id: {series.meter_id} is not a meter of EAN {series.ean}"
    if not any(meter.meter_id == series.meter_id for meter in installed):
        return None, (
            f"meter {series.meter_id} of EAN {series.ean} is not installed on {day} "
            "(outside its installation periods)"
        )
    return series.meter_id, None


def _unit_problem(registration: MeteringRegistration, unit: StoredUnit) -> str | None:
    gas = registration.energy_type is EnergyType.gas
    if gas and unit is not StoredUnit.litre:
        return f"unit: EAN {registration.ean} is a gas access point; its readings are in m3"
    if not gas and unit is StoredUnit.litre:
        return (
            f"unit: EAN {registration.ean} is an electricity access point; m3 is for gas "
            "(use kWh or kVArh)"
        )
    return None


def resolve_blocks(
    batch: ParsedBatch, registrations: dict[str, MeteringRegistration]
) -> tuple[list[_Block], list[Problem]]:
    """The batch's blocks with their meters resolved, and the problems the registry
    reveals (unknown EAN or meter, installation periods, units, the same slot given twice
    under two spellings of the meter)."""
    problems: list[Problem] = []
    reported: set[tuple[int, str]] = set()

    def problem(line: int, detail: str) -> None:
        if (line, detail) not in reported:
            reported.add((line, detail))
            problems.append(Problem(line, detail))

    resolved: dict[BlockKey, _Block] = {}
    for block in batch.blocks.values():
        series = block.series
        registration = registrations.get(series.ean)
        if registration is None:
            problem(series.first_line, f"ean: no access point with EAN {series.ean}")
            continue
        unit_problem = _unit_problem(registration, series.unit)
        if unit_problem:
            problem(series.first_line, unit_problem)
            continue
        meter_id, meter_problem = _meter_on(registration, block)
        if meter_problem or meter_id is None:
            problem(block.first_line, meter_problem or "no meter")
            continue
        key = BlockKey(
            series.ean, meter_id, series.direction, series.register, series.granularity, block.day
        )
        earlier = resolved.get(key)
        if earlier is None:
            resolved[key] = _Block(key, series.unit, block.slots, block.states, block.first_line)
            continue
        # The same block under two spellings (meter_id empty and given): merge, refuse overlaps.
        for index, value in enumerate(block.slots):
            if value == GAP:
                continue
            if earlier.slots[index] != GAP:
                problem(
                    block.first_line,
                    f"a reading of {key.day} slot {index} is given twice in this batch "
                    f"(also in the day starting on line {earlier.first_line})",
                )
                break
            earlier.slots[index] = value  # type: ignore[index]
            earlier.states[index] = block.states[index]
    return list(resolved.values()), problems


# --- merging and writing -----------------------------------------------------------------


@dataclass
class _Writes:
    new: list[BlockRecord] = field(default_factory=list)
    changed: list[BlockRecord] = field(default_factory=list)


def _merge(
    block: _Block, stored: BlockRecord
) -> tuple[BlockChange | None, Sequence[int], bytearray]:
    """Slot-wise merge of a batch's block into the stored one: readings win."""
    slots = unpack_slots(stored.packed_values)
    states = unpack_states(stored.packed_states, slots)
    change: BlockChange | None = None
    for index, value in enumerate(block.slots):
        if value == GAP:
            continue
        old = slots[index]
        state = block.states[index]
        if old == GAP:
            change = change or BlockChange.filled
        elif old != value or states[index] != state:
            change = BlockChange.corrected
        else:
            continue
        slots[index] = value
        states[index] = state
    return change, slots, states


def _stored(
    key: BlockKey,
    change: BlockChange,
    before: int,
    after: int,
    expected: int,
    completed_at: datetime | None,
    now: datetime,
    version: int,
    validated_at: datetime | None,
) -> StoredBlock:
    return StoredBlock(
        ean=key.ean,
        meter_id=key.meter_id,
        day=key.day,
        direction=key.direction,
        register=key.register,
        granularity=key.granularity,
        change=change,
        filled_before=before,
        filled_after=after,
        expected_slots=expected,
        completed_at=completed_at,
        inserted_at=now,
        version=version,
        validated_at=validated_at,
    )


_ALL_VALIDATED = bytes([ValidationState.VAL])


def all_validated(count: int, expected: int, packed_states: bytes) -> bool:
    """Whether a block holds every slot, each with a validated (``VAL``) value: complete,
    and its packed states the single byte ``VAL`` (one code for every slot holding a
    value, see :func:`~datahub_api.meter_data.blocks.pack_states`). Read (not yet
    validated), estimated and failed-validation values are not validated."""
    return count == expected and packed_states == _ALL_VALIDATED


def plan_writes(
    blocks: Sequence[_Block],
    stored: dict[BlockKey, BlockRecord],
    now: datetime,
    outcome: IngestOutcome,
) -> _Writes:
    writes = _Writes()
    for block in blocks:
        key = block.key
        expected = len(block.slots)
        old = stored.get(key)
        if old is None:
            count = filled(block.slots)
            completed = now if count == expected else None
            new_states = pack_states(block.states, block.slots)
            validated = now if all_validated(count, expected, new_states) else None
            writes.new.append(
                BlockRecord(
                    ean=key.ean,
                    meter_id=key.meter_id,
                    direction=int(key.direction),
                    register=int(key.register),
                    granularity=GRANULARITY_CODE[key.granularity],
                    day=key.day,
                    unit=int(block.unit),
                    expected_slots=expected,
                    filled_slots=count,
                    version=1,
                    first_inserted_at=now,
                    last_inserted_at=now,
                    completed_at=completed,
                    validated_at=validated,
                    packed_values=pack_values(block.slots),
                    packed_states=new_states,
                )
            )
            outcome.blocks_created += 1
            outcome.stored.append(
                _stored(key, BlockChange.created, 0, count, expected, completed, now, 1, validated)
            )
            continue
        change, slots, states = _merge(block, old)
        if change is None:
            outcome.blocks_unchanged += 1
            continue
        count = filled(slots)
        became_complete = count == expected and old.filled_slots < expected
        completed = now if became_complete else old.completed_at
        packed_states = pack_states(states, slots)
        # The first time only: a correction to an estimate and back keeps the first.
        became_validated = old.validated_at is None and all_validated(
            count, expected, packed_states
        )
        version = old.version + 1
        writes.changed.append(
            old._replace(
                filled_slots=count,
                version=version,
                last_inserted_at=now,
                completed_at=completed,
                validated_at=now if became_validated else old.validated_at,
                packed_values=pack_values(slots),
                packed_states=packed_states,
            )
        )
        if change is BlockChange.corrected:
            outcome.blocks_corrected += 1
        else:
            outcome.blocks_filled += 1
        outcome.stored.append(
            _stored(
                key,
                change,
                old.filled_slots,
                count,
                expected,
                now if became_complete else None,
                now,
                version,
                now if became_validated else None,
            )
        )
    return writes


async def store_batch(
    session: WriteSession, batch: ParsedBatch, *, track_sla: bool = True
) -> IngestOutcome:
    """Check ``batch`` against the registry and merge it into the stored day blocks, in the
    session's transaction; raises :class:`ReadingsRejected` (422) before writing anything
    when a reading cannot be stored. The ESPs with a mandate on the EANs are told in the
    same transaction (``meter_data.available`` events, see :mod:`.availability`), and with
    ``track_sla`` the days' first delivery is recorded in it too
    (:mod:`datahub_api.sla.tracking`). Call
    :func:`notify_blocks_stored` after the commit."""
    if batch.problems:
        raise ReadingsRejected(batch.problems, total=batch.problem_count)
    if not batch.blocks:
        raise UnprocessableContent("the batch holds no readings")
    await prepare_partitions(session, {block.day.year for block in batch.blocks.values()})
    eans = sorted({block.series.ean for block in batch.blocks.values()})
    registrations = await access_points_repository.lock_for_metering(session, eans)
    blocks, problems = resolve_blocks(batch, registrations)
    if problems:
        raise ReadingsRejected(problems)
    outcome = IngestOutcome(rows=batch.rows)
    stored = {
        block.key: block
        for block in await repository.stored_blocks(session, [b.key for b in blocks])
    }
    now = await repository.clock(session)
    outcome.inserted_at = now
    writes = plan_writes(blocks, stored, now, outcome)
    await repository.copy_new_blocks(session, writes.new)
    await repository.archive_and_update(session, writes.changed, superseded_at=now)
    if track_sla:
        await sla_tracking.record_batch(session, outcome.stored, now)
    # Last: publishing holds each told ESP's feed head until the commit; with it, the
    # corrections that changed a month's capacity peak.
    peak_events = await peak_change_events(session, outcome.stored)
    await publish_available(session, outcome.stored, also=peak_events)
    return outcome


async def prepare_partitions(session: WriteSession, years: set[int]) -> None:
    """Make sure the yearly partitions exist, outside the session's transaction."""
    bind = session.bind
    assert isinstance(bind, AsyncEngine)
    await repository.ensure_partitions(bind, years)


async def resend_gas_blocks(
    session: WriteSession, eans: Sequence[str], gas_days: Sequence[date]
) -> int:
    """Re-send the gas blocks of ``gas_days`` of ``eans`` as corrections: their energy in
    kWh changed with a new calorific value (a definitive one replacing the predictive). Each
    gets a new version and insert time (the previous version goes to the history), so it
    comes again on the changes feed and in ``insertTime`` queries, and the ESPs with a
    mandate get ``meter_data.available`` (corrected). The number of blocks re-sent."""
    keys = await repository.gas_block_keys(session, eans, gas_days)
    if not keys:
        return 0
    stored = await repository.stored_blocks(session, keys)
    now = await repository.clock(session)
    await repository.archive_and_update(
        session,
        [block._replace(version=block.version + 1, last_inserted_at=now) for block in stored],
        superseded_at=now,
    )
    await publish_available(
        session,
        [
            _stored(
                block.key,
                BlockChange.corrected,
                block.filled_slots,
                block.filled_slots,
                block.expected_slots,
                None,
                now,
                block.version + 1,
                None,
            )
            for block in stored
        ],
    )
    return len(stored)
