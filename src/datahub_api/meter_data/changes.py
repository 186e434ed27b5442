"""What changed since an ESP's cursor: every day block inserted or corrected in the
windows its mandates let it read, oldest change first.

The feed is keyed by (insert time, block id). A correction gives a block a new insert time
and version, so it comes again, later in the feed. A block carries the time its ingest
transaction wrote it, and that transaction may commit after a reader's page passed the time;
so the feed hands out only blocks stored at least a safety margin ago
(``DATAHUB_METER_DATA_CHANGES_MARGIN_SECONDS``) and its cursor never moves past that.

Which blocks: those of the EANs with an approved mandate of the ESP on the API channels
(under a contract covering the channel today), inside the mandate's window (data period,
narrowed to the consenting customer's tenure; a whole Brussels day inside it), at a stored
granularity its data service allows (``VH_dag``: daily blocks only). The window is applied
in the query, so a page is full of what the ESP may see. Blocks stored before a mandate was
approved lie behind the cursor of an ESP that already synced: they are read with the bulk
query or the per-EAN route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from datahub_api.access_log.service import record_read
from datahub_api.auth.principal import Principal
from datahub_api.brussels_days import brussels_date, day_start
from datahub_api.db import WriteSession
from datahub_api.errors import UnprocessableContent
from datahub_api.mandates.access import ReadableWindow, readable_portfolio
from datahub_api.meter_data import repository
from datahub_api.meter_data.blocks import DayBlock
from datahub_api.meter_data.channels import API_CHANNELS
from datahub_api.meter_data.granularity import STORED_GRANULARITIES, Granularity
from datahub_api.meter_data.models import GRANULARITY_CODE
from datahub_api.meter_data.repository import ChangeCursor, ReadableDays
from datahub_api.paging import decode_cursor, encode_cursor

FACE = "api-v1"


def whole_days(window: ReadableWindow) -> tuple[date, date]:
    """The Brussels days [first, end) lying wholly inside the window (maybe none)."""
    first = brussels_date(window.start)
    if day_start(first) < window.start:
        first += timedelta(days=1)
    return first, brussels_date(window.end)


def readable_days(windows: Sequence[ReadableWindow]) -> list[ReadableDays]:
    """The days of each EAN and stored granularity that ``windows`` open, overlapping
    windows merged (so no block is named twice)."""
    spans: dict[tuple[str, Granularity], list[tuple[date, date]]] = {}
    for window in windows:
        first, end = whole_days(window)
        if first >= end:
            continue
        for stored in STORED_GRANULARITIES:
            if stored in window.granularities:
                spans.setdefault((window.mandate.ean, stored), []).append((first, end))
    readable: list[ReadableDays] = []
    for (ean, stored), ranges in sorted(
        spans.items(), key=lambda span: (span[0][0], GRANULARITY_CODE[span[0][1]])
    ):
        merged: list[tuple[date, date]] = []
        for first, end in sorted(ranges):
            if merged and first <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((first, end))
        readable.extend(ReadableDays(ean, stored, first, end) for first, end in merged)
    return readable


# --- cursors -----------------------------------------------------------------------------


def encode_change_cursor(cursor: ChangeCursor | None) -> str:
    """The opaque form of a feed position; ``None`` is the beginning."""
    if cursor is None:
        return encode_cursor({"v": 1})
    return encode_cursor({"v": 1, "t": cursor.inserted_at.isoformat(), "b": cursor.block_id})


def decode_change_cursor(text: str | None) -> ChangeCursor | None:
    position = decode_cursor(text)
    if position is None:
        return None
    invalid = UnprocessableContent("after: not a cursor this feed gave out")
    if position.get("v") != 1:
        raise invalid
    if "t" not in position and "b" not in position:
        return None
    inserted_at, block_id = position.get("t"), position.get("b")
    if not isinstance(inserted_at, str) or not isinstance(block_id, int):
        raise invalid
    try:
        at = datetime.fromisoformat(inserted_at)
    except ValueError:
        raise invalid from None
    if at.tzinfo is None:
        raise invalid
    return ChangeCursor(at, block_id)


# --- the feed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangesPage:
    blocks: list[DayBlock]
    next_cursor: ChangeCursor | None
    has_more: bool


def _window_of(block: DayBlock, windows: Sequence[ReadableWindow]) -> ReadableWindow:
    granularity = block.key.granularity
    for window in windows:
        if granularity in window.granularities and window.holds_day(block.key.day):
            return window
    raise AssertionError("the query returned a block outside every window")


def _record_reads(
    session: WriteSession,
    principal: Principal,
    blocks: Sequence[DayBlock],
    windows: Sequence[ReadableWindow],
) -> None:
    """One access record per EAN, mandate and granularity of the page, over the days it
    held."""
    by_ean: dict[str, list[ReadableWindow]] = {}
    for window in windows:
        by_ean.setdefault(window.mandate.ean, []).append(window)
    read: dict[tuple[str, int, Granularity], tuple[ReadableWindow, date, date]] = {}
    for block in blocks:
        window = _window_of(block, by_ean[block.key.ean])
        key = (block.key.ean, window.mandate.id, block.key.granularity)
        day = block.key.day
        _, first, last = read.get(key, (window, day, day))
        read[key] = (window, min(first, day), max(last, day))
    for (_, _, granularity), (window, first, last) in sorted(
        read.items(), key=lambda item: (*item[0][:2], GRANULARITY_CODE[item[0][2]])
    ):
        record_read(
            session,
            principal,
            window.grant(),
            start=day_start(first),
            end=day_start(last + timedelta(days=1)),
            granularity=granularity.name,
            face=FACE,
        )


async def changes_since(
    session: WriteSession,
    principal: Principal,
    *,
    after: ChangeCursor | None,
    limit: int,
    margin: timedelta,
) -> ChangesPage:
    """The next page of the calling ESP's feed of changed blocks, with its access records
    added to the session's transaction."""
    windows = await readable_portfolio(session, principal, channels=API_CHANNELS)
    readable = readable_days(windows)
    if not readable:
        return ChangesPage([], after, False)
    until = await repository.clock(session) - margin
    blocks = await repository.readable_blocks_changed_since(
        session, readable, after=after, limit=limit + 1, until=until
    )
    more = len(blocks) > limit
    blocks = blocks[:limit]
    _record_reads(session, principal, blocks, windows)
    if not blocks:
        return ChangesPage([], after, False)
    last = blocks[-1]
    return ChangesPage(blocks, ChangeCursor(last.last_inserted_at, last.id), more)
