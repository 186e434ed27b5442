"""The NPS daily files: every quarter-hour value of an ESP's listed EANs that its mandates
release, stored or changed since the previous file's cut, as one CSV per ESP and day."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

from datahub_api.db import ReadSession, WriteSession
from datahub_api.events.event_types import (
    NPS_DAILY_FILE_READY,
)
from datahub_api.events.service import publish
from datahub_api.mandates.access import released_window
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.meter_data.blocks import SLOT_LENGTH, DayBlock, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import StoredUnit, ValidationState
from datahub_api.meter_data.repository import ChangeCursor
from datahub_api.nps import repository
from datahub_api.nps.models import (
    NpsDailyFile,
)
from datahub_api.spreadsheet_cells import formula_safe

DAILY_FILE_COLUMNS = (
    "ean",
    "meter_id",
    "direction",
    "register",
    "slot_start",
    "slot_end",
    "value",
    "unit",
    "validation_state",
    "block_version",
    "kind",
)
UNIT_NAMES = {StoredUnit.Wh: "kWh", StoredUnit.varh: "kVArh", StoredUnit.litre: "m3"}
CHANGES_PAGE = 5000


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _amount(milli: int) -> str:
    return f"{milli // 1000}.{milli % 1000:03d}"


@dataclass
class _EanWindows:
    mandate_id: int
    windows: list[tuple[datetime, datetime]]
    first: datetime | None = None
    last: datetime | None = None


def _kind(block: DayBlock, day: date, previous_cut: datetime | None) -> str:
    """``correction``: the block was there at the previous cut (its values may have been
    sent before); ``late``: first sent now, for a day before the file's; else ``new``."""
    if previous_cut is not None and block.first_inserted_at <= previous_cut:
        return "correction"
    return "late" if block.key.day < day else "new"


def _rows(
    block: DayBlock, allowed: _EanWindows, day: date, previous_cut: datetime | None
) -> list[list[str]]:
    kind = _kind(block, day, previous_cut)
    length = SLOT_LENGTH[Granularity.PT15M]
    meter_id = formula_safe(block.key.meter_id)  # the one registry text in a row
    rows = []
    for index, value in enumerate(block.values):
        if value is None:
            continue
        start = slot_start(block.key.day, Granularity.PT15M, index)
        if not any(low <= start and start + length <= high for low, high in allowed.windows):
            continue
        state = block.states[index]
        allowed.first = min(allowed.first or start, start)
        allowed.last = max(allowed.last or start + length, start + length)
        rows.append(
            [
                block.key.ean,
                meter_id,
                block.key.direction.name,
                block.key.register.name,
                _instant(start),
                _instant(start + length),
                _amount(value),
                UNIT_NAMES[StoredUnit(block.unit)],
                ValidationState(state).name if state else "",
                str(block.version),
                kind,
            ]
        )
    return rows


async def _allowed_windows(
    session: ReadSession, organisation_id: int, now: datetime
) -> dict[str, _EanWindows]:
    """What each listed EAN's mandates release (the gate's rule: readable at ``now``, the
    data period narrowed to the tenure of the people who gave them)."""
    allowed: dict[str, _EanWindows] = {}
    for mandate in await repository.listed_approved_mandates(session, organisation_id, now):
        if mandate.data_service_type not in (
            DataServiceType.quarter_hourly,
            DataServiceType.undetermined,
        ):
            continue
        window = released_window(mandate)
        allowed.setdefault(mandate.ean, _EanWindows(mandate.id, [])).windows.append(window)
    return allowed


async def make_daily_file(
    session: WriteSession, organisation_id: int, day: date, until: datetime, now: datetime
) -> NpsDailyFile | None:
    """The organisation's file for ``day``: every quarter-hour value of its listed EANs with
    an approved mandate that was stored or changed after the previous file's cut, up to
    ``until`` (a safety margin before now, so that a slower transaction that commits later
    with an earlier insert time is not passed over). None when it exists already."""
    if await repository.daily_file_exists(session, organisation_id, day):
        return None
    previous = await repository.last_daily_file(session, organisation_id)
    cursor = None
    if previous is not None and previous.cursor_inserted_at is not None:
        assert previous.cursor_block_id is not None
        cursor = ChangeCursor(previous.cursor_inserted_at, previous.cursor_block_id)
    previous_cut = cursor.inserted_at if cursor is not None else None
    allowed = await _allowed_windows(session, organisation_id, now)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(DAILY_FILE_COLUMNS)
    row_count = 0
    while allowed:
        blocks = await meter_data_repository.blocks_changed_since(
            session, list(allowed), after=cursor, limit=CHANGES_PAGE, until=until
        )
        for block in blocks:
            if block.key.granularity is Granularity.PT15M:
                rows = _rows(block, allowed[block.key.ean], day, previous_cut)
                writer.writerows(rows)
                row_count += len(rows)
        if blocks:
            cursor = ChangeCursor(blocks[-1].last_inserted_at, blocks[-1].id)
        if len(blocks) < CHANGES_PAGE:
            break
    content = text.getvalue().encode()
    reads = [
        {
            "ean": ean,
            "mandate_id": windows.mandate_id,
            "from": windows.first.isoformat(),
            "to": windows.last.isoformat(),
        }
        for ean, windows in sorted(allowed.items())
        if windows.first is not None and windows.last is not None
    ]
    daily_file = NpsDailyFile(
        organisation_id=organisation_id,
        day=day,
        created_at=now,
        cursor_inserted_at=cursor.inserted_at if cursor else None,
        cursor_block_id=cursor.block_id if cursor else None,
        row_count=row_count,
        ean_count=len(reads),
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        reads=reads,
        content=content,
    )
    repository.add(session, daily_file)
    await session.flush()
    await publish(
        session,
        organisation_id,
        NPS_DAILY_FILE_READY,
        {"daily_file_id": daily_file.id, "day": day, "row_count": row_count},
    )
    return daily_file


async def make_daily_files(
    session: WriteSession, *, day: date, until: datetime, now: datetime | None = None
) -> list[NpsDailyFile]:
    """The files for ``day`` of every ESP with an NPS list."""
    now = now or datetime.now(UTC)
    made = []
    for organisation_id in await repository.organisations_with_lists(session):
        daily_file = await make_daily_file(session, organisation_id, day, until, now)
        if daily_file is not None:
            made.append(daily_file)
    return made


async def daily_files_page(
    session: ReadSession, organisation_id: int, *, after_id: int | None, limit: int
) -> list[NpsDailyFile]:
    """The organisation's daily files in id order."""
    return await repository.daily_files_page(
        session, organisation_id, after_id=after_id, limit=limit
    )


async def get_daily_file(
    session: ReadSession, organisation_id: int, file_id: int, *, with_content: bool = False
) -> NpsDailyFile | None:
    return await repository.get_daily_file(
        session, organisation_id, file_id, with_content=with_content
    )
