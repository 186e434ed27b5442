"""The history export job.

**The job** (``history_exports.build``) writes one file per EAN into a run directory, zips
them when there are several, checksums the result and moves it into place atomically; only
then is the request ``ready``. A run that dies midway leaves the request ``running`` with
its run directory; the next run (the stalled-job retry, or the sweeper) starts over in a
fresh directory, so a ``ready`` request always has its whole file.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import EnergyType
from datahub_api.brussels_days import day_start, gas_day_start
from datahub_api.db import Database, ReadSession, WriteSession
from datahub_api.events.event_types import HISTORY_EXPORT_READY
from datahub_api.events.service import publish
from datahub_api.history_exports import repository, writer
from datahub_api.history_exports.models import (
    ExportFormat,
    ExportStatus,
    HistoryExport,
)
from datahub_api.history_exports.service.requests import expired, utcnow
from datahub_api.mandates.access import reads_at, released_window, why_not_reading
from datahub_api.meter_data.fluvius_csv import (
    QuarterHourCsv,
    TariffCalendar,
    exported_access_point,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.series import ReadWindow
from datahub_api.nps import repository as nps_repository
from datahub_api.nps.service import audits as nps_audits
from datahub_api.paper_mandates import service as paper_service
from datahub_api.paper_mandates.models import Hold
from datahub_api.settings import Settings

SUFFIX = {ExportFormat.csv: ".csv", ExportFormat.xlsx: ".xlsx"}

OnCommit = Callable[[WriteSession], Awaitable[None]]


@dataclass(frozen=True)
class _Planned:
    item_id: int
    ean: str
    gvm: bool
    mandate_id: int


HELD_REASON = (
    "The DSO is auditing the signed mandate of this EAN; its data is exported once the audit "
    "passes (the export is then made again)."
)
UNCHECKED_REASON = (
    "The DSO has not checked the signed mandate of this EAN yet; its data is exported once "
    "it has (the export is then made again)."
)


async def _item_window(
    session: ReadSession, planned: _Planned, export: HistoryExport, now: datetime, *, gas: bool
) -> tuple[datetime, datetime] | str:
    """What the item's mandate lets the export read (the gate's rule: readable at ``now``,
    not held, the period narrowed to the tenure of the grid user who signed it; gas in gas
    days), or why nothing."""
    paper = await paper_service.of_mandate(session, planned.mandate_id)
    if paper is not None and paper.hold is not None:
        return UNCHECKED_REASON if paper.hold is Hold.check_pending else HELD_REASON
    mandate = await nps_repository.signed_nps_mandate(session, None, planned.mandate_id)
    if mandate is None:
        return "The mandate is no longer approved (ended)."
    if not reads_at(mandate, now):
        return f"The mandate is no longer approved ({why_not_reading(mandate, now)})."
    allowed_from, allowed_to = released_window(mandate)
    starts = gas_day_start if gas else day_start
    start = max(starts(export.period_from), allowed_from)
    end = min(starts(export.period_to + timedelta(days=1)), allowed_to)
    if end <= start:
        return "The mandate releases no day of the period."
    return start, end


async def queue_again_for(
    session: WriteSession, mandate_id: int, now: datetime | None = None
) -> int | None:
    """The export with the EAN of ``mandate_id`` is made again, now that the mandate gives
    data (its EAN was left out: its paper mandate was held) or gives none any more (it is
    held: contested); its id, or None when there is nothing to make again (the EAN was
    neither left out nor in the file, the export is being made, or it is past its
    retention). Queued, the export's file cannot be downloaded until it is made again."""
    now = now or utcnow()
    export = await repository.export_to_remake(session, mandate_id)
    if export is None or export.status not in (ExportStatus.ready, ExportStatus.failed):
        return None
    if expired(export, now):
        return None
    export.status = ExportStatus.queued
    export.progress_percent = 0
    export.error = None
    await session.flush()
    return export.id


def _clear_runs(directory: Path, export_id: int) -> None:
    """Remove what earlier runs of the export left (a run that died midway)."""
    for stale in directory.glob(f"{export_id}.run-*"):
        shutil.rmtree(stale, ignore_errors=True)


async def build(
    database: Database,
    settings: Settings,
    export_id: int,
    *,
    on_commit: OnCommit,
    clock: Callable[[], datetime] = utcnow,
) -> ExportStatus | None:
    """Run (or run again) the export; the status it ended with (None: nothing to do)."""
    # The paper mandates still waiting for their check are checked before anything is read
    # (a mismatch opens its audit now), so no data leaves on an unchecked one. In a
    # transaction of its own, before the export is locked: the check locks paper mandates
    # first and may then queue this export again (the order every other path takes).
    async with database.write_sessions() as session:
        mandate_ids = [item.mandate_id for item in await repository.items_of(session, export_id)]
        await nps_audits.check_paper_mandates(
            session,
            nps_audits.AuditRules(
                days=settings.nps_audit_days, evidence_max_bytes=settings.nps_evidence_max_bytes
            ),
            mandate_ids=mandate_ids,
            now=clock(),
            limit=len(mandate_ids) + 1,
        )
        await on_commit(session)
    async with database.write_sessions() as session:
        export = await repository.get(session, None, export_id, for_update=True)
        if export is None or export.status in (ExportStatus.ready, ExportStatus.failed):
            return None
        export.status = ExportStatus.running
        export.attempts += 1
        export.started_at = clock()
        export.heartbeat_at = export.started_at
        export.finished_at = None
        export.progress_percent = 0
        attempt, export_format = export.attempts, export.format
        plan = [
            _Planned(item.id, item.ean, item.gvm, item.mandate_id)
            for item in await repository.items_of(session, export.id)
        ]
        await session.commit()
    directory = settings.history_exports_path
    directory.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_clear_runs, directory, export_id)
    work = directory / f"{export_id}.run-{attempt}"
    work.mkdir()
    calendar = TariffCalendar.from_settings(settings)
    lines = QuarterHourCsv(calendar)
    results: dict[int, dict[str, Any]] = {}
    files: list[Path] = []
    try:
        for index, planned in enumerate(plan):
            async with database.read_sessions() as session:
                access_point = await access_points_service.get_access_point(session, planned.ean)
                gas = access_point.energy_type is EnergyType.gas
                window = await _item_window(session, planned, export, clock(), gas=gas)
                if isinstance(window, str):
                    results[planned.item_id] = {
                        "row_count": 0,
                        "read_from": None,  # not in this file
                        "read_to": None,
                        "skipped_reason": window,
                    }
                else:
                    point = exported_access_point(access_point)
                    read_window = ReadWindow(window[0], window[1], Granularity.P1D, gas=gas)
                    path = work / writer.ean_file_name(
                        point, read_window, SUFFIX[export_format], gvm=planned.gvm
                    )
                    rows = await writer.write_ean_file(
                        session,
                        path,
                        export_format,
                        point,
                        read_window,
                        calendar,
                        gvm=planned.gvm,
                        lines=lines,
                    )
                    files.append(path)
                    results[planned.item_id] = {
                        "row_count": rows,
                        "read_from": window[0],
                        "read_to": window[1],
                        "skipped_reason": None,
                    }
            async with database.write_sessions() as session:
                percent = math.floor(95 * (index + 1) / len(plan))
                await repository.set_progress(session, export_id, attempt, percent)
                await session.commit()
        if not files:
            await _withdraw_entirely(database, settings, export_id, attempt, clock(), results)
            await asyncio.to_thread(shutil.rmtree, work, True)
            return ExportStatus.failed
        partial = work / "result.partial"
        if len(files) > 1:
            await asyncio.to_thread(writer.zip_files, partial, files)
            name = f"history-export-{export_id}.{attempt}.zip"
        else:
            os.replace(files[0], partial)
            # The one EAN's own (Fluvius) name is kept for the download.
            name = f"history-export-{export_id}.{attempt}.{files[0].name}"
        sha256 = await asyncio.to_thread(writer.sha256_of, partial)
        size = partial.stat().st_size
        # Atomic: a final name only ever holds a whole file, and each run has its own, so a
        # run taken for dead that still finishes cannot replace the file another run checksummed.
        os.replace(partial, directory / name)
        await asyncio.to_thread(writer.make_durable, directory / name)
    except Exception as exc:
        await _fail(database, export_id, attempt, str(exc)[:2000], clock())
        await asyncio.to_thread(shutil.rmtree, work, True)
        return ExportStatus.failed
    await asyncio.to_thread(shutil.rmtree, work, True)
    async with database.write_sessions() as session:
        export = await repository.get(session, None, export_id, for_update=True)
        if (
            export is None
            or export.attempts != attempt
            or export.status is not ExportStatus.running
        ):
            (directory / name).unlink(missing_ok=True)
            return None  # a newer run took over
        previous = export.file_name
        now = clock()
        export.status = ExportStatus.ready
        export.progress_percent = 100
        export.finished_at = now
        export.first_ready_at = export.first_ready_at or now
        export.file_name = name
        export.size_bytes = size
        export.sha256 = sha256
        export.expires_at = now + timedelta(days=settings.history_export_retention_days)
        export.file_deleted_at = None
        export.error = None
        await repository.set_item_results(session, results)
        await publish(
            session,
            export.organisation_id,
            HISTORY_EXPORT_READY,
            {
                "history_export_id": export.id,
                "reference_number": export.reference_number,
                "sha256": sha256,
                "size_bytes": size,
                "expires_at": export.expires_at,
            },
        )
        await on_commit(session)
    if previous is not None and previous != name:
        (directory / previous).unlink(missing_ok=True)  # the file before EANs were added
    return ExportStatus.ready


async def _withdraw_entirely(
    database: Database,
    settings: Settings,
    export_id: int,
    attempt: int,
    now: datetime,
    results: dict[int, dict[str, Any]],
) -> None:
    """No EAN of the export may be read any more (ended, or held while its signed mandate is
    audited): it fails, and a file made before (now withdrawn) is deleted. The items keep
    what that file held, so its download keeps answering why it is withdrawn, and say why
    each was left out; a held EAN whose audit passes makes the export again
    (:func:`queue_again_for`)."""
    async with database.write_sessions() as session:
        export = await repository.get(session, None, export_id, for_update=True)
        if export is None or export.attempts != attempt:
            return
        export.status = ExportStatus.failed
        export.error = "No EAN could be exported: each EAN's skipped_reason says why."
        export.finished_at = now
        previous = export.file_name if export.file_deleted_at is None else None
        if previous is not None:
            export.file_deleted_at = now
        await repository.set_item_results(
            session,
            {
                item: {"row_count": 0, "skipped_reason": r["skipped_reason"]}
                for item, r in results.items()
            },
        )
        await session.commit()
    if previous is not None:
        (settings.history_exports_path / previous).unlink(missing_ok=True)


async def _fail(
    database: Database,
    export_id: int,
    attempt: int,
    error: str,
    now: datetime,
) -> None:
    async with database.write_sessions() as session:
        export = await repository.get(session, None, export_id, for_update=True)
        if export is not None and export.attempts == attempt:
            # A rebuild (EANs added) that fails keeps the file the ESP already had.
            kept = export.file_name is not None and export.file_deleted_at is None
            export.status = ExportStatus.ready if kept else ExportStatus.failed
            export.error = error
            export.finished_at = now
        await session.commit()


async def delete_expired_files(
    session: WriteSession, settings: Settings, now: datetime | None = None
) -> int:
    now = now or utcnow()
    expired = await repository.expired_files(session, now)
    for export in expired:
        assert export.file_name is not None
        (settings.history_exports_path / export.file_name).unlink(missing_ok=True)
        export.file_deleted_at = now
    await session.flush()
    return len(expired)
