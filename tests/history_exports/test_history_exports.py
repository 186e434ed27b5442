"""Yearly history exports, the files: every value of the produced CSV (csv module) and
XLSX (openpyxl) files checked against the stored day blocks for a sample of EANs, both DST
days included; KVM yearly and monthly totals; the zip, the checksum, the ready event; and a
worker that dies in the middle of an export."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points.service import get_access_point
from datahub_api.brussels_days import day_start
from datahub_api.history_exports import tasks, writer
from datahub_api.mandates import service as mandates_service
from datahub_api.meter_data.fluvius_csv import (
    QuarterHourCsv,
    TariffCalendar,
    csv_text,
    export_rows,
    exported_access_point,
    with_both_directions,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.reads import Release, series_by_month
from datahub_api.meter_data.series import ReadWindow
from datahub_api.settings import Settings

from ..support.environment import make_settings
from ..support.history_export_world import (
    DAYS,
    EXPORTS,
    LONG_DAY,
    SHORT_DAY,
    YEAR,
    ExportWorld,
    company_entry,
    entry,
    local_start,
    make_export_world,
    request_export,
    run_jobs,
    stored_quarter_hours,
    volume,
)

HEADER = [
    "Van (datum)",
    "Van (tijdstip)",
    "Tot (datum)",
    "Tot (tijdstip)",
    "EAN-code",
    "Meter",
    "Metertype",
    "Register",
    "Volume",
    "Eenheid",
    "Validatiestatus",
    "Omschrijving",
]
QUARTER_HOURS_2025 = 365 * 96  # the two DST days (92 + 100) make up for each other
DIRECTIONS = {"offtake": "Afname", "injection": "Injectie"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(history_export_dir=tmp_path / "exports")


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ExportWorld:
    return await make_export_world(app, client)


async def ready_export(
    app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str], export_id: int
) -> dict[str, Any]:
    await run_jobs(app)
    status = await client.get(f"{EXPORTS}/{export_id}", headers=headers)
    assert status.status_code == 200, status.text
    body = dict(status.json())
    assert body["status"] == "ready", body
    assert body["progress_percent"] == 100
    assert body["started_at"]
    assert body["finished_at"]
    return body


async def download(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> bytes:
    response = await client.get(f"{EXPORTS}/{body['id']}/file", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{body["file_name"]}"'
    )
    content = response.content
    digest = hashlib.sha256(content).hexdigest()
    assert digest == body["sha256"] == response.headers["x-content-sha256"]
    assert len(content) == body["size_bytes"]
    return content


def csv_rows(content: bytes) -> list[list[str]]:
    text_ = content.decode("utf-8")
    assert text_.startswith("\ufeff"), "UTF-8 with a BOM, as Fluvius writes it"
    rows = list(csv.reader(io.StringIO(text_[1:]), delimiter=";"))
    assert rows[0] == HEADER
    return rows[1:]


def by_day(rows: list[list[str]], prefix: str) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for row in rows:
        if row[7].startswith(prefix + " "):
            found.setdefault(row[0], []).append(row)
    return found


def check_quarter_hours(
    rows: list[list[str]], ean: str, stored: dict[tuple[str, date], list[int | None]]
) -> None:
    """Every quarter-hour row of the year against the stored blocks: the values of the
    stored days in order (92 and 100 on the DST days), empty volumes everywhere else."""
    assert {row[4] for row in rows} == {f'="{ean}"'}
    for direction, label in DIRECTIONS.items():
        days = by_day(rows, label)
        assert sum(len(day_rows) for day_rows in days.values()) == QUARTER_HOURS_2025
        for day in DAYS:
            key = day.strftime("%d-%m-%Y")
            values = stored.get((direction, day))
            if values is None:
                assert {row[8] for row in days[key]} == {""}
                continue
            # Rows are in clock order: the October repeated hour interleaved (02:00 of the
            # first pass, 02:00 of the second, 02:15, 02:15, ...), as Fluvius writes it.
            order = sorted(range(len(values)), key=lambda slot: clock_order(day, slot))
            assert [row[8] for row in days[key]] == [volume(values[i]) for i in order]
            assert [(row[0], row[1]) for row in days[key]] == [
                local_start(day, slot) for slot in order
            ]
            for row, value in zip(days[key], [values[i] for i in order], strict=True):
                assert row[10] == ("Uitgelezen" if value is not None else "Geen verbruik")
        assert len(days[SHORT_DAY.strftime("%d-%m-%Y")]) == 92
        assert len(days[LONG_DAY.strftime("%d-%m-%Y")]) == 100
        stored_days = {day.strftime("%d-%m-%Y") for (d, day) in stored if d == direction}
        for key, day_rows in days.items():
            if key not in stored_days:
                assert {row[8] for row in day_rows} == {""}, key


def clock_order(day: date, slot: int) -> tuple[str, int]:
    return local_start(day, slot)[1], slot


def member(ean: str, kind: str = "kwartiertotalen") -> str:
    """The name of an EAN's file in the export: Fluvius's, for the whole year 2025."""
    return f"Verbruikshistoriek_elektriciteit_{ean}_20250101_20251231_{kind}.csv"


def wh(text_: str) -> int:
    whole, _, milli = text_.partition(",")
    return int(whole) * 1000 + int(milli)


def check_kvm(rows: list[list[str]], stored: dict[tuple[str, date], list[int | None]]) -> None:
    """The year's totals, then the months, per direction and tariff (Dag + Nacht = the sum
    of the stored quarter-hours of that year or month)."""
    year_rows = [r for r in rows if (r[0], r[2]) == (f"01-01-{YEAR}", f"01-01-{YEAR + 1}")]
    assert sorted(r[7] for r in year_rows) == [
        "Afname Dag",
        "Afname Nacht",
        "Injectie Dag",
        "Injectie Nacht",
    ]
    assert rows[: len(year_rows)] == year_rows, "the yearly totals come first"
    month_rows = rows[len(year_rows) :]
    assert len(month_rows) == 12 * 4
    for direction, label in DIRECTIONS.items():
        total = sum(v or 0 for (d, _), vs in stored.items() if d == direction for v in vs)
        assert sum(wh(r[8]) for r in year_rows if r[7].startswith(label) and r[8]) == total
        for month in range(1, 13):
            first = f"01-{month:02d}-{YEAR}"
            parts = [r for r in month_rows if r[0] == first and r[7].startswith(label)]
            assert len(parts) == 2
            expected = sum(
                v or 0
                for (d, day), vs in stored.items()
                if d == direction and day.month == month
                for v in vs
            )
            if expected:
                assert sum(wh(r[8]) for r in parts if r[8]) == expected
            else:
                assert {r[8] for r in parts} == {""}
                assert {r[10] for r in parts} == {"Geen verbruik"}
    # 1 January misses its last quarter-hour: its month and year are marked incomplete.
    january = [r for r in month_rows if r[0] == f"01-01-{YEAR}" and r[7].startswith("Afname")]
    assert "Onvolledig" in {r[11] for r in january}


async def test_csv_export_holds_every_stored_value(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    nps = world.nps
    sample = [nps.owner_ean, world.digital_gvm_ean, nps.small_ean, nps.company_ean]
    response = await request_export(
        client,
        world.a,
        [entry(nps.owner_ean), entry(world.digital_gvm_ean), entry(nps.small_ean),
         company_entry(nps.company_ean)],
    )  # fmt: skip
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "queued"
    assert created["progress_percent"] == 0
    assert [i["ean"] for i in created["items"]] == sample
    assert [i["kind"] for i in created["items"]] == ["gvm", "gvm", "kvm", "gvm"]
    body = await ready_export(app, client, world.a, created["id"])
    assert body["file_name"].endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(await download(client, world.a, body)))
    kinds = dict.fromkeys(sample, "kwartiertotalen") | {nps.small_ean: "maandtotalen"}
    assert sorted(archive.namelist()) == sorted(member(ean, kinds[ean]) for ean in sample)
    for ean in sample:
        rows = csv_rows(archive.read(member(ean, kinds[ean])))
        stored = await stored_quarter_hours(app, ean)
        assert stored[("offtake", SHORT_DAY)]
        assert len(stored[("offtake", SHORT_DAY)]) == 92
        assert len(stored[("injection", LONG_DAY)]) == 100
        if ean == nps.small_ean:
            check_kvm(rows, stored)
        else:
            check_quarter_hours(rows, ean, stored)
    digital = csv_rows(archive.read(member(world.digital_gvm_ean)))
    registers = {(r[0], r[1]): r[7] for r in digital if r[7].startswith("Afname")}
    assert registers[("16-06-2025", "10:00:00")] == "Afname Dag"  # a Monday
    assert registers[("16-06-2025", "23:00:00")] == "Afname Nacht"
    owner = csv_rows(archive.read(member(nps.owner_ean)))
    assert {r[7] for r in owner} == {"Afname Actief", "Injectie Actief"}  # an AMR meter
    assert [i["row_count"] for i in body["items"]] == [
        2 * QUARTER_HOURS_2025,
        2 * QUARTER_HOURS_2025,
        4 + 12 * 4,
        2 * QUARTER_HOURS_2025,
    ]
    events = await client.get(
        "/api/v1/events", params={"types": "history_export.ready"}, headers=world.a
    )
    assert [e["data"]["history_export_id"] for e in events.json()["items"]] == [body["id"]]
    assert events.json()["items"][0]["data"]["sha256"] == body["sha256"]
    # The download is in each EAN's access log (the customer sees who read the data).
    async with app.state.database.read_sessions() as session:
        logged = (
            await session.execute(
                text("SELECT ean FROM data_read_records WHERE face = 'history-export' ORDER BY ean")
            )
        ).all()
    assert sorted(row[0] for row in logged) == sorted(sample)


async def test_xlsx_export_of_one_ean_is_the_sheet_itself(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    ean = world.digital_gvm_ean
    response = await request_export(client, world.a, [entry(ean)], export_format="xlsx")
    assert response.status_code == 201, response.text
    body = await ready_export(app, client, world.a, response.json()["id"])
    # One EAN: the file itself, under the name Fluvius gives it.
    assert body["file_name"] == member(ean).replace(".csv", ".xlsx")
    content = await download(client, world.a, body)
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    sheet = workbook.worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER
    stored = await stored_quarter_hours(app, ean)
    as_csv = [
        [
            *(str(cell) for cell in row[:8]),
            "" if row[8] is None else f"{row[8]:.3f}".replace(".", ","),
            *("" if cell is None else str(cell) for cell in row[9:]),
        ]
        for row in rows[1:]
    ]
    assert {row[4] for row in rows[1:]} == {ean}, "the EAN is a text cell"
    assert all(isinstance(row[8], float) for row in rows[1:] if row[8] is not None)
    for row in as_csv:
        row[4] = f'="{row[4]}"'
    check_quarter_hours(as_csv, ean, stored)


async def test_a_worker_dying_midway_never_leaves_a_ready_partial_file(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ExportWorld,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nps = world.nps
    response = await request_export(
        client, world.a, [entry(nps.owner_ean), entry(world.digital_gvm_ean)]
    )
    export_id = response.json()["id"]

    class Killed(BaseException):
        """The process dies (not an error the job could catch)."""

    real = writer.write_ean_file
    calls = 0

    async def dying(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            path: Path = args[1]
            path.write_bytes(b"half a file")  # noqa: ASYNC240
            raise Killed
        return await real(*args, **kwargs)

    monkeypatch.setattr(writer, "write_ean_file", dying)
    with pytest.raises(Killed):
        await tasks.run_build(app.state.jobs, export_id)
    status = (await client.get(f"{EXPORTS}/{export_id}", headers=world.a)).json()
    assert status["status"] == "running"
    assert 0 < status["progress_percent"] < 100
    assert status["sha256"] is None
    assert not list((settings.history_exports_path).glob("history-export-*"))
    refused = await client.get(f"{EXPORTS}/{export_id}/file", headers=world.a)
    assert refused.status_code == 409, refused.text
    # The sweeper finds the silent run (its worker died; procrastinate's stalled-job retry
    # would too) and queues it again: it starts over, whole.
    monkeypatch.setattr(writer, "write_ean_file", real)
    assert await tasks.run_sweep(app.state.jobs) == (0, 0), "not silent long enough yet"
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE history_exports SET heartbeat_at = now() - interval '16 minutes'")
        )
        await session.commit()
    assert await tasks.run_sweep(app.state.jobs) == (1, 0)
    body = await ready_export(app, client, world.a, export_id)
    assert body["file_name"] == f"history-export-{export_id}.zip"
    assert [p.name for p in settings.history_exports_path.iterdir()] == [
        f"history-export-{export_id}.2.zip"
    ], "the dead run's directory is gone"
    archive = zipfile.ZipFile(io.BytesIO(await download(client, world.a, body)))
    for ean in (nps.owner_ean, world.digital_gvm_ean):
        check_quarter_hours(
            csv_rows(archive.read(member(ean))), ean, await stored_quarter_hours(app, ean)
        )
    async with app.state.database.read_sessions() as session:
        attempts = await session.scalar(
            text("SELECT attempts FROM history_exports WHERE id = :id"), {"id": export_id}
        )
    assert attempts == 2


async def test_an_export_whose_mandates_all_ended_fails(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    response = await request_export(client, world.a, [entry(world.nps.owner_ean)])
    created = response.json()
    async with app.state.database.write_sessions() as session:
        await mandates_service.finish(
            session, created["items"][0]["mandate_id"], actor="test", reason="audit_failed"
        )
        await session.commit()
    await run_jobs(app)
    body = (await client.get(f"{EXPORTS}/{created['id']}", headers=world.a)).json()
    assert body["status"] == "failed"
    assert "No EAN could be exported" in body["error"]
    # Why each EAN was left out is kept on a run that exported none.
    assert "no longer approved (audit_failed)" in body["items"][0]["skipped_reason"]
    refused = await client.get(f"{EXPORTS}/{created['id']}/file", headers=world.a)
    assert refused.status_code == 409


async def test_the_fast_quarter_hour_lines_are_the_generic_rows_byte_for_byte(
    app: FastAPI, world: ExportWorld
) -> None:
    """The export job's quarter-hour CSV builder against the portal export's generic rows,
    over the months with both DST days, a gap, tariffs (digital) and none (AMR)."""
    calendar = TariffCalendar()
    lines = QuarterHourCsv(calendar)
    async with app.state.database.read_sessions() as session:
        for ean in (world.digital_gvm_ean, world.nps.owner_ean):
            point = exported_access_point(await get_access_point(session, ean))
            for first, last in (
                (date(2025, 1, 1), date(2025, 4, 1)),
                (LONG_DAY, date(2025, 11, 1)),
            ):
                window = ReadWindow(day_start(first), day_start(last), Granularity.PT15M)
                async for chunk, found in series_by_month(
                    session, Release(ean, (window.first_day, window.end_day)), window
                ):
                    series = with_both_directions(point, found)
                    assert QuarterHourCsv.fits(series)
                    generic = csv_text(export_rows(point, series, calendar, chunk), header=False)
                    assert lines.lines(point, series) == generic
