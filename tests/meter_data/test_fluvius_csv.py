"""The Fluvius-layout CSV, byte for byte as real Mijn Fluvius exports (2021-2025) are written,
and read back the way open-source readers of those exports read them.

What readers of real exports rely on (checked against anonymised real exports published with
such readers): a UTF-8 BOM and CRLF line ends; the EAN cell bare as ``="541..."`` (readers
split lines on ``;`` and strip ``="``/``"``); local Brussels times, with the October repeated
hour interleaved in clock order (02:00 of the first pass, 02:00 of the second, 02:15, 02:15,
..., then ``02:45-02:00`` and ``02:45-03:00``), which readers use to tell the two passes
apart; Fluvius's file names. No such reader is published as a package, so the readers below
are written here from their documented rules.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.access_points.service import get_access_point
from datahub_api.brussels_days import BRUSSELS, day_start
from datahub_api.history_exports import writer
from datahub_api.history_exports.models import ExportFormat
from datahub_api.meter_data.fluvius_csv import TariffCalendar, exported_access_point
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.series import ReadWindow

from ..support.consent_world import browser_login
from ..support.esp_portal_world import AUTUMN, SPRING, EspWorld, make_esp_world
from ..support.parties import auth_headers

QUARTER = timedelta(minutes=15)


@pytest.fixture
async def esp_world(app: FastAPI, client: httpx.AsyncClient) -> EspWorld:
    return await make_esp_world(app, client)


def naive_rows(content: bytes) -> tuple[list[str], list[list[str]]]:
    """A reader that splits each line on ``;`` (as many JavaScript and spreadsheet-macro
    readers do): no CSV quoting understood at all."""
    text = content.decode("utf-8")
    assert text.startswith("\ufeff"), "UTF-8 with a BOM"
    lines = text[1:].split("\r\n")
    assert lines[-1] == "", "every line ends with CRLF"
    assert all("\n" not in line and "\r" not in line for line in lines)
    rows = [line.split(";") for line in lines[:-1]]
    return rows[0], rows[1:]


def ean_of(cell: str) -> str:
    """What readers do with the EAN cell: strip the spreadsheet formula ``="..."``."""
    assert cell.startswith('="'), cell
    assert cell.endswith('"'), cell
    return cell[2:-1]


def utc_slots(rows: list[list[str]]) -> dict[str, list[datetime]]:
    """Local start times to UTC per register, telling the October repeated hour's two passes
    apart the way readers of real exports do: within a register, of two rows with the same
    local start next to each other the first is summer time (the first pass), the second
    winter time; a repeated local time without its twin next to it is taken as summer time."""
    by_register: dict[str, list[list[str]]] = {}
    for row in rows:
        by_register.setdefault(row[7], []).append(row)
    found: dict[str, list[datetime]] = {}
    for register, own in by_register.items():
        starts = [datetime.strptime(f"{r[0]} {r[1]}", "%d-%m-%Y %H:%M:%S") for r in own]
        instants = []
        for index, local in enumerate(starts):
            twin_before = index > 0 and starts[index - 1] == local
            instants.append(local.replace(tzinfo=BRUSSELS, fold=int(twin_before)).astimezone(UTC))
        found[register] = instants
    return found


async def portal_csv(app: FastAPI, esp_world: EspWorld, day: date) -> httpx.Response:
    staff = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    try:
        answer = await browser_login(staff, esp_world.staff_a.username, "/portal/")
        assert answer.status_code == 303, answer.text
        return await staff.get(f"/portal/esp/access-points/{esp_world.ean}/csv?span=day&date={day}")
    finally:
        await staff.aclose()


async def history_file(app: FastAPI, ean: str, day: date, tmp_path: Path) -> tuple[str, bytes]:
    """The yearly history export's file of a GVM EAN for ``day`` (its quarter-hours), as
    its job writes it."""
    window = ReadWindow(day_start(day), day_start(day + timedelta(days=1)), Granularity.P1D)
    async with app.state.database.read_sessions() as session:
        point = exported_access_point(await get_access_point(session, ean))
        name = writer.ean_file_name(point, window, ".csv", gvm=True)
        path = tmp_path / name
        await writer.write_ean_file(
            session, path, ExportFormat.csv, point, window, TariffCalendar(), gvm=True
        )
    return name, path.read_bytes()


@pytest.mark.parametrize(("day", "quarters"), [(AUTUMN, 100), (SPRING, 92)])
async def test_portal_api_and_history_export_write_the_same_real_layout(
    app: FastAPI,
    client: httpx.AsyncClient,
    esp_world: EspWorld,
    tmp_path: Path,
    day: date,
    quarters: int,
) -> None:
    ean = esp_world.ean
    api = await client.get(
        f"/api/v1/access-points/{ean}/meter-data",
        params={"from": str(day), "to": str(day + timedelta(days=1)), "format": "csv"},
        headers=await auth_headers(client, esp_world.world.esp_a),
    )
    assert api.status_code == 200, api.text
    portal = await portal_csv(app, esp_world, day)
    assert portal.status_code == 200, portal.text
    name, history = await history_file(app, ean, day, tmp_path)
    assert portal.content == api.content == history, "one layout, byte for byte, on every face"

    expected_name = f"Verbruikshistoriek_elektriciteit_{ean}_{day:%Y%m%d}_{day:%Y%m%d}_"
    assert name == expected_name + "kwartiertotalen.csv"
    for answer in (api, portal):
        assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'

    header, rows = naive_rows(api.content)
    assert header == [
        "Van (datum)", "Van (tijdstip)", "Tot (datum)", "Tot (tijdstip)", "EAN-code", "Meter",
        "Metertype", "Register", "Volume", "Eenheid", "Validatiestatus", "Omschrijving",
    ]  # fmt: skip
    assert all(len(row) == len(header) for row in rows)
    assert {row[4] for row in rows} == {f'="{ean}"'}
    assert {ean_of(row[4]) for row in rows} == {ean}
    assert f';="{ean}";'.encode() in api.content, "the EAN cell is written bare"
    assert len(rows) == 2 * quarters

    # Every row lands on its own UTC quarter-hour, in each register.
    slots = utc_slots(rows)
    instants = sorted(i for register, own in slots.items() if "Afname" in register for i in own)
    assert instants == [day_start(day) + index * QUARTER for index in range(quarters)]


async def test_the_repeated_october_hour_is_interleaved_in_clock_order(
    client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    answer = await client.get(
        f"/api/v1/access-points/{esp_world.ean}/meter-data",
        params={"from": str(AUTUMN), "to": str(AUTUMN + timedelta(days=1)), "format": "csv"},
        headers=await auth_headers(client, esp_world.world.esp_a),
    )
    _, rows = naive_rows(answer.content)
    afname = [(r[1], r[3]) for r in rows if r[7].startswith("Afname")]
    at_two = afname.index(("02:00:00", "02:15:00"))
    assert afname[at_two - 1] == ("01:45:00", "02:00:00")
    assert afname[at_two : at_two + 9] == [
        ("02:00:00", "02:15:00"),  # first pass (summer time)
        ("02:00:00", "02:15:00"),  # second pass (winter time)
        ("02:15:00", "02:30:00"),
        ("02:15:00", "02:30:00"),
        ("02:30:00", "02:45:00"),
        ("02:30:00", "02:45:00"),
        ("02:45:00", "02:00:00"),  # the first pass ends when the clock goes back
        ("02:45:00", "03:00:00"),
        ("03:00:00", "03:15:00"),
    ]
    # Within a slot, Afname then Injectie, as in real exports.
    first = rows.index(next(r for r in rows if r[1] == "02:00:00"))
    assert [r[7].split()[0] for r in rows[first : first + 4]] == [
        "Afname", "Injectie", "Afname", "Injectie",
    ]  # fmt: skip
    values = {r[11] for r in rows}
    assert values <= {"", "Onvolledig"}


async def test_the_xlsx_answer_is_named_like_the_csv(
    client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    answer = await client.get(
        f"/api/v1/access-points/{esp_world.ean}/meter-data",
        params={"from": "2026-03-01", "to": "2026-04-01", "granularity": "P1D", "format": "xlsx"},
        headers=await auth_headers(client, esp_world.world.esp_a),
    )
    assert answer.status_code == 200
    name = re.fullmatch(r'attachment; filename="(.+)"', answer.headers["content-disposition"])
    assert name is not None
    assert name.group(1) == (
        f"Verbruikshistoriek_elektriciteit_{esp_world.ean}_20260301_20260331_dagtotalen.xlsx"
    )
