"""Telling ESPs that a correction changed a month's capacity peak: ``capacity_peak.changed``.

Peaks are computed on read (:mod:`.service`), so a corrected day block changes the peak of
its month at once. What needs telling is the change: when an ingest batch *corrects*
quarter-hour offtake blocks (a value or validation state replaced; data arriving for the
first time is ``meter_data.available``'s news), the months they lie in are computed before
and after the correction, from the current blocks and the versions the batch superseded
(the block history), in the batch's own transaction. Every ESP with a readable quarter-hour
mandate on the EAN on the API channels (the ones ``meter_data.available`` tells) whose
released window holds part of that month, and for which the peak of that part changed (its
kW, its quarter-hour or its validation state), gets one event per EAN and month. Each ESP's
peak is computed over what its mandate releases, so an event never tells of another
occupant's days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from datahub_api.brussels_days import day_start
from datahub_api.capacity import repository
from datahub_api.capacity.peaks import (
    ENERGY_REGISTERS,
    MonthPeak,
    OfftakeDay,
    month_peaks,
    month_start,
    next_month,
)
from datahub_api.capacity.repository import SupersededKey
from datahub_api.db import WriteSession
from datahub_api.events.event_types import CAPACITY_PEAK_CHANGED
from datahub_api.events.service import EventToPublish
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.access import ReadableWindow, readable_windows, utcnow
from datahub_api.meter_data.channels import API_CHANNELS
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register


class ChangedBlock(Protocol):
    """What a stored block tells (``meter_data.service.StoredBlock``)."""

    @property
    def ean(self) -> str: ...
    @property
    def meter_id(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def register(self) -> Register: ...
    @property
    def granularity(self) -> Granularity: ...
    @property
    def change(self) -> Enum: ...
    @property
    def version(self) -> int: ...


def _figures(peak: MonthPeak) -> dict[str, Any]:
    kw = peak.peak_kw
    return {
        "peak_kw": None if kw is None else float(kw),
        "at": peak.at,
        "validation_state": None if peak.state is None else peak.state.name,
        "billed_kw": None if peak.billed_kw is None else float(peak.billed_kw),
    }


def _same(before: MonthPeak, after: MonthPeak) -> bool:
    return (before.peak_wh, before.at, before.state) == (after.peak_wh, after.at, after.state)


@dataclass(frozen=True)
class _Part:
    """The instants of a month one mandate releases."""

    window: ReadableWindow
    start: datetime
    end: datetime


def _part(window: ReadableWindow, month: date) -> _Part | None:
    start = max(window.start, day_start(month))
    end = min(window.end, day_start(next_month(month)))
    return _Part(window, start, end) if start < end else None


async def peak_change_events(
    session: WriteSession, stored: Sequence[ChangedBlock]
) -> list[EventToPublish]:
    """The ``capacity_peak.changed`` events of the months whose peak a batch's corrections
    changed (call it after the blocks are written, in the batch's transaction). They are
    published with the batch's other events in one :func:`publish_many`, which locks the feed
    heads in one order (two calls could lock them in two, and deadlock two batches)."""
    corrected = [
        block
        for block in stored
        if block.change.value == "corrected"
        and block.direction is Direction.offtake
        and block.granularity is Granularity.PT15M
        and block.register in ENERGY_REGISTERS
    ]
    if not corrected:
        return []
    eans = sorted({block.ean for block in corrected})
    mandates = await mandates_repository.approved_for_reads(
        session, API_CHANNELS, utcnow(), eans=eans
    )
    windows = [
        window for window in readable_windows(mandates) if Granularity.PT15M in window.granularities
    ]
    months = sorted({(block.ean, month_start(block.day)) for block in corrected})
    # Per EAN and month, the told organisations' parts of it (the widest one per organisation).
    parts: dict[tuple[str, date], dict[int, _Part]] = {}
    for ean, month in months:
        for window in windows:
            part = _part(window, month) if window.mandate.ean == ean else None
            if part is None:
                continue
            mine = parts.setdefault((ean, month), {})
            known = mine.get(window.mandate.organisation_id)
            if known is None or part.end - part.start > known.end - known.start:
                mine[window.mandate.organisation_id] = part
    if not parts:
        return []
    current = await repository.offtake_days_of(
        session, [(ean, month, next_month(month)) for ean, month in sorted(parts)]
    )
    superseded = await repository.superseded_days(
        session,
        [
            SupersededKey(b.ean, b.meter_id, b.register, b.day, b.version - 1)
            for b in corrected
            if (b.ean, month_start(b.day)) in parts
        ],
    )
    replaced: dict[str, dict[tuple[str, Register, date], OfftakeDay]] = {}
    for key, version in superseded.items():
        replaced.setdefault(key.ean, {})[(key.meter_id, key.register, key.day)] = version
    events = []
    for (ean, month), told in sorted(parts.items()):
        now_blocks = [b for b in current.get(ean, []) if month_start(b.day) == month]
        earlier = replaced.get(ean, {})
        then_blocks = [earlier.get((b.meter_id, b.register, b.day), b) for b in now_blocks]
        for organisation_id, part in sorted(told.items()):
            [before] = month_peaks(then_blocks, [month], part.start, part.end)
            [after] = month_peaks(now_blocks, [month], part.start, part.end)
            if _same(before, after):
                continue
            mandate = part.window.mandate
            events.append(
                EventToPublish(
                    organisation_id,
                    CAPACITY_PEAK_CHANGED,
                    {
                        "ean": ean,
                        "month": f"{month:%Y-%m}",
                        "before": _figures(before),
                        "after": _figures(after),
                        "mandate_id": mandate.id,
                        "reference_number": mandate.reference_number,
                    },
                )
            )
    return events
