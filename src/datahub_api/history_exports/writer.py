"""Writing one EAN's history to a file in the Fluvius CSV layout (or the same columns as
XLSX), streaming: rows are read a Brussels month (GVM) or a year piece (KVM) at a time and
written at once, so memory stays flat however many EAN-years an export holds.

* GVM (large consumption): every quarter-hour of the window, per meter, direction and
  register (``Dag``/``Nacht`` by the tariff calendar for digital electricity meters).
* KVM (small consumption): per calendar year in the window, the year's totals per register
  (split by tariff), then the monthly totals, summed from the hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from pathlib import Path

from datahub_api.brussels_days import brussels_date
from datahub_api.db import ReadSession
from datahub_api.history_exports.models import ExportFormat
from datahub_api.meter_data.fluvius_csv import (
    ExportedAccessPoint,
    QuarterHourCsv,
    TariffCalendar,
    WholeWindow,
    XlsxExport,
    csv_text,
    export_file_name,
    export_rows,
    with_both_directions,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.reads import Release, export_row_chunks, series_by_month, series_of
from datahub_api.meter_data.series import ReadWindow

CHUNK = 1 << 20


def _released(ean: str, window: ReadWindow) -> Release:
    """The whole window is released: the job reads the window its mandate's grant releases
    (``service.build._item_window``); for gas, every calendar day its gas days span."""
    return Release(ean, window.read_days())


def _year_pieces(window: ReadWindow) -> list[ReadWindow]:
    """The window cut at Brussels new years."""
    pieces = []
    start = window.start
    while start < window.end:
        year = window.date_of(start).year
        end = min(window.end, window.day_start(date(year + 1, 1, 1)))
        pieces.append(ReadWindow(start, end, window.granularity, gas=window.gas))
        start = end
    return pieces


async def kvm_rows(
    session: ReadSession, point: ExportedAccessPoint, window: ReadWindow, calendar: TariffCalendar
) -> AsyncIterator[list[tuple[str, ...]]]:
    """Per year piece: the year's totals, then its months."""
    gas = window.gas
    for piece in _year_pieces(window):
        hourly = ReadWindow(piece.start, piece.end, Granularity.PT1H, gas=gas)
        series = with_both_directions(
            point, await series_of(session, _released(point.ean, window), hourly)
        )
        whole = WholeWindow(piece.start, piece.end, Granularity.P1M, gas=gas)
        yield list(export_rows(point, series, calendar, whole))
        months = ReadWindow(piece.start, piece.end, Granularity.P1M, gas=gas)
        yield list(export_rows(point, series, calendar, months))


def rows_of(
    session: ReadSession,
    point: ExportedAccessPoint,
    window: ReadWindow,
    calendar: TariffCalendar,
    *,
    gvm: bool,
) -> AsyncIterator[list[tuple[str, ...]]]:
    if gvm:
        quarter_hours = ReadWindow(window.start, window.end, Granularity.PT15M, gas=window.gas)
        return export_row_chunks(
            session, point, quarter_hours, _released(point.ean, window), calendar
        )
    return kvm_rows(session, point, window, calendar)


async def write_csv(
    path: Path, chunks: AsyncIterator[Sequence[Sequence[str]]], columns: Sequence[str]
) -> int:
    """The rows as a Fluvius CSV (UTF-8 with BOM, ``;``), written chunk by chunk."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(csv_text([], header=True, columns=columns))
        async for rows in chunks:
            out.write(csv_text(rows, header=False))
            count += len(rows)
    return count


async def write_xlsx(
    path: Path, chunks: AsyncIterator[Sequence[Sequence[str]]], columns: Sequence[str]
) -> int:
    """The rows as an XLSX sheet (XlsxWriter's constant-memory mode)."""
    count = 0
    with path.open("wb") as out:
        export = XlsxExport(out, columns)
        async for rows in chunks:
            export.add_rows(rows)
            count += len(rows)
        await asyncio.to_thread(export.close)
    return count


async def write_gvm_csv(
    session: ReadSession,
    path: Path,
    point: ExportedAccessPoint,
    window: ReadWindow,
    calendar: TariffCalendar,
    lines: QuarterHourCsv,
) -> int:
    """A GVM EAN's quarter-hours as CSV, a month at a time, through the fast line builder
    (the generic rows when a series is not in quarter-hours)."""
    quarter_hours = ReadWindow(window.start, window.end, Granularity.PT15M)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(csv_text([], header=True, columns=point.columns))
        async for chunk, found in series_by_month(
            session, _released(point.ean, window), quarter_hours
        ):
            series = with_both_directions(point, found)
            if QuarterHourCsv.fits(series):
                out.write(lines.lines(point, series))
                count += sum(len(one.values) for one in series)
            else:
                rows = list(export_rows(point, series, calendar, chunk))
                out.write(csv_text(rows, header=False))
                count += len(rows)
    return count


async def write_ean_file(
    session: ReadSession,
    path: Path,
    export_format: ExportFormat,
    point: ExportedAccessPoint,
    window: ReadWindow,
    calendar: TariffCalendar,
    *,
    gvm: bool,
    lines: QuarterHourCsv | None = None,
) -> int:
    """One EAN's file; the number of data rows. ``lines`` (shared by the EANs of a run)
    caches the per-instant columns of quarter-hour CSVs."""
    if gvm and export_format is ExportFormat.csv:
        return await write_gvm_csv(
            session, path, point, window, calendar, lines or QuarterHourCsv(calendar)
        )
    chunks = rows_of(session, point, window, calendar, gvm=gvm)
    if export_format is ExportFormat.csv:
        return await write_csv(path, chunks, point.columns)
    return await write_xlsx(path, chunks, point.columns)


def zip_files(target: Path, files: Sequence[Path]) -> None:
    """Several files in one ZIP (deflated), each streamed from disk."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, arcname=file.name)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def make_durable(path: Path) -> None:
    """Flush a finished file and the directory entry that names it to disk, so a row that
    says "ready" never outlives its file in a crash."""
    with path.open("rb") as written:
        os.fsync(written.fileno())
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def ean_file_name(point: ExportedAccessPoint, window: ReadWindow, suffix: str, *, gvm: bool) -> str:
    """The name of one EAN's file, as Fluvius names its exports: GVM files hold
    quarter-hours (hours for gas), KVM files yearly and monthly totals."""
    if gvm:
        step = Granularity.PT15M if point.electricity else Granularity.PT1H
    else:
        step = Granularity.P1M
    return export_file_name(point, ReadWindow(window.start, window.end, step), suffix)


def file_name(export_id: int, window_start: datetime, window_end: datetime) -> str:
    return f"history-{export_id}_{brussels_date(window_start)}_{brussels_date(window_end)}"
