"""Telling ESPs that metering data of their mandated EANs arrived: ``meter_data.available``.

When an ingest batch creates or changes day blocks, every ESP with a readable mandate on
one of those EANs on the API channels (approved, not past its expiration or the end of the
tenure, under a contract covering the channel today) gets one event per EAN and batch,
listing only the Brussels days touched that the mandate releases (its data period narrowed
to the tenure of the people who gave it): an ESP is never told that a day of another
occupant has data. The events are published in the ingest's own transaction, so they exist
exactly when the data does, and webhooks deliver them. Set-based: one query for the
mandates of all the batch's EANs (their tenure is stored on them), and a few statements to
publish, however large the batch.

An ESP whose data service is daily (``VH_dag``) is told too when only quarter-hours
changed: its daily values changed with them. ``IG`` mandates read no metering data and are
told nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from datahub_api.db import WriteSession
from datahub_api.events.event_types import METER_DATA_AVAILABLE
from datahub_api.events.service import EventToPublish, publish_many
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.access import readable_windows, utcnow
from datahub_api.meter_data.channels import API_CHANNELS
from datahub_api.meter_data.stored_blocks import BlockChange, StoredBlock

# Days listed in an event; a longer backfill names its first and last day only.
MAX_LISTED_DAYS = 366


@dataclass
class _Touched:
    days: set[date] = field(default_factory=set)
    corrected_days: set[date] = field(default_factory=set)
    inserted_at: datetime | None = None


@dataclass
class _News:
    days: set[date] = field(default_factory=set)
    corrected: bool = False
    mandates: dict[int, str] = field(default_factory=dict)  # id -> reference number


def _payload(ean: str, news: _News, inserted_at: datetime | None) -> dict[str, object]:
    days = sorted(news.days)
    return {
        "ean": ean,
        "days": [day.isoformat() for day in days] if len(days) <= MAX_LISTED_DAYS else None,
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "day_count": len(days),
        "corrected": news.corrected,
        "inserted_at": inserted_at,
        "mandate_ids": sorted(news.mandates),
        "reference_numbers": sorted(set(news.mandates.values())),
    }


async def publish_available(
    session: WriteSession, stored: Sequence[StoredBlock], *, also: Sequence[EventToPublish] = ()
) -> int:
    """Publish the ``meter_data.available`` events of a batch's stored blocks in the
    session's transaction (call it late: publishing holds each told ESP's feed head until
    the commit), with the batch's other events ``also`` (in one :func:`publish_many`, so the
    feed heads are locked in one order); how many ``meter_data.available`` events."""
    touched: dict[str, _Touched] = {}
    for block in stored:
        entry = touched.get(block.ean)
        if entry is None:  # not setdefault: it would make a _Touched per block
            entry = touched[block.ean] = _Touched()
        entry.days.add(block.day)
        if block.change is BlockChange.corrected:
            entry.corrected_days.add(block.day)
        entry.inserted_at = block.inserted_at
    if not touched:
        return 0
    mandates = await mandates_repository.approved_for_reads(
        session, API_CHANNELS, utcnow(), eans=list(touched)
    )
    if not mandates:
        await publish_many(session, also)
        return 0
    news: dict[tuple[int, str], _News] = {}
    for window in readable_windows(mandates):
        mandate = window.mandate
        entry = touched[mandate.ean]
        days = {day for day in entry.days if window.holds_day(day)}
        if not days:
            continue
        told = news.setdefault((mandate.organisation_id, mandate.ean), _News())
        told.days |= days
        told.corrected = told.corrected or bool(days & entry.corrected_days)
        told.mandates[mandate.id] = mandate.reference_number
    events = [
        EventToPublish(
            organisation_id, METER_DATA_AVAILABLE, _payload(ean, item, touched[ean].inserted_at)
        )
        for (organisation_id, ean), item in sorted(news.items())
    ]
    await publish_many(session, [*events, *also])
    return len(events)
