"""The ESP portal's history exports page: the organisation's requests newest first with
their status, progress, times in Brussels, due date and checksum; a download link (the
API's file route, with the session cookie) for ready files still kept; nothing of another
ESP; a clear 403 page for other roles; Dutch and English."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.accounts.models import AccountRole
from datahub_api.brussels_days import BRUSSELS, today_in_brussels
from datahub_api.settings import Settings

from ..support.consent_world import Person, browser_login, make_person
from ..support.environment import make_settings
from ..support.esp_portal_world import make_staff
from ..support.history_export_world import (
    EXPORTS,
    ExportWorld,
    company_entry,
    entry,
    make_export_world,
    request_export,
    run_jobs,
)

PAGE = "/portal/esp/history-exports"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(history_export_dir=tmp_path / "exports")


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ExportWorld:
    return await make_export_world(app, client)


async def browser(app: FastAPI, person: Person) -> httpx.AsyncClient:
    opened = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    answer = await browser_login(opened, person.username, "/portal/")
    assert answer.status_code == 303, answer.text
    return opened


def row_of(page: str, export_id: int) -> str:
    found = re.search(rf'<tr data-export="{export_id}">(.*?)</tr>', page, re.S)
    assert found, f"export {export_id} not listed"
    return found.group(1)


def download_link(row: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" download=', row)
    return html.unescape(found.group(1)) if found else None


def local(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(BRUSSELS).strftime("%d-%m-%Y %H:%M")


async def test_the_page_lists_this_esps_exports_and_downloads_the_file(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    nps = world.nps
    staff_a = await make_staff(app, "anna.esp-a", nps.esp_a)
    staff_b = await make_staff(app, "bert.esp-b", nps.esp_b)
    mine = await request_export(
        client,
        world.a,
        [entry(nps.owner_ean), company_entry(nps.company_ean)],
        reference_number="A-2025",
    )
    assert mine.status_code == 201, mine.text
    theirs = await request_export(
        client, world.b, [entry(nps.owner_ean)], export_format="xlsx", reference_number="B-secret"
    )
    assert theirs.status_code == 201, theirs.text
    mine_id, theirs_id = mine.json()["id"], theirs.json()["id"]

    anna = await browser(app, staff_a)
    bert = await browser(app, staff_b)
    try:
        queued = await anna.get(PAGE)
        assert queued.status_code == 200, queued.text
        row = row_of(queued.text, mine_id)
        assert "in de wachtrij" in row
        assert "0%" in row
        assert download_link(row) is None
        assert "B-secret" not in queued.text
        assert f'data-export="{theirs_id}"' not in queued.text

        await run_jobs(app)
        status = (await client.get(f"{EXPORTS}/{mine_id}", headers=world.a)).json()
        assert status["status"] == "ready"
        page = await anna.get(PAGE)
        assert page.status_code == 200
        assert "Historiek-exports" in page.text
        assert 'href="/portal/esp/history-exports"' in page.text  # the menu entry
        assert "POST /api/v1/history-exports" in page.text  # how to ask for one
        row = row_of(page.text, mine_id)
        assert "A-2025" in row
        assert "<td>2025</td>" in row  # the year asked for
        assert "<td>CSV</td>" in row
        assert "<td>2</td>" in row  # EANs
        assert "klaar" in row
        assert status["sha256"] in row
        for instant in ("created_at", "started_at", "finished_at", "due_at", "expires_at"):
            assert local(status[instant]) in row, instant
        assert "B-secret" not in page.text
        assert f'data-export="{theirs_id}"' not in page.text

        link = download_link(row)
        assert link == f"{EXPORTS}/{mine_id}/file"
        downloaded = await anna.get(link)
        assert downloaded.status_code == 200, downloaded.text
        assert hashlib.sha256(downloaded.content).hexdigest() == status["sha256"]
        assert len(downloaded.content) == status["size_bytes"]
        by_api = await client.get(f"{EXPORTS}/{mine_id}/file", headers=world.a)
        assert downloaded.content == by_api.content

        # ESP B's staff: their own export only; ESP A's link is the not-found answer.
        other = await bert.get(PAGE)
        assert other.status_code == 200
        assert "B-secret" in other.text
        assert "XLSX" in other.text
        assert f'data-export="{mine_id}"' not in other.text
        assert "A-2025" not in other.text
        refused = await bert.get(link)
        missing = await bert.get(f"{EXPORTS}/999999/file")
        assert refused.status_code == missing.status_code == 404
        assert refused.json()["detail"] == missing.json()["detail"]
        assert status["sha256"] not in refused.text
    finally:
        await anna.aclose()
        await bert.aclose()


async def test_newest_first_expired_and_failed_have_no_link(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    nps = world.nps
    staff = await make_staff(app, "anna.esp-a", nps.esp_a)
    first = (await request_export(client, world.a, [entry(nps.owner_ean)])).json()
    await run_jobs(app)
    grant = {
        "organisation_id": nps.esp_a.organisation_id,
        "year": today_in_brussels().year,
        "reason": "second list sent by mail",
    }
    granted = await client.post(
        "/api/v1/operator/history-export-quota-exceptions", json=grant, headers=world.operator
    )
    assert granted.status_code == 201, granted.text
    second = await request_export(
        client, world.a, [company_entry(nps.company_ean)], period_from="2025-03-01",
        period_to="2025-10-31", year=None, reference_number="second",
    )  # fmt: skip
    assert second.status_code == 201, second.text
    second_id = second.json()["id"]
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE history_exports SET expires_at = :past WHERE id = :id"),
            {"past": datetime.now(UTC) - timedelta(minutes=1), "id": first["id"]},
        )
        await session.execute(
            text(
                "UPDATE history_exports SET status = 'running', progress_percent = 40, "
                "started_at = now() WHERE id = :id"
            ),
            {"id": second_id},
        )
        await session.commit()
    anna = await browser(app, staff)
    try:
        page = await anna.get(PAGE)
        assert page.status_code == 200
        assert page.text.index(f'data-export="{second_id}"') < page.text.index(
            f'data-export="{first["id"]}"'
        )
        expired = row_of(page.text, first["id"])
        assert "verlopen" in expired
        assert "status-expired" in expired
        assert download_link(expired) is None
        running = row_of(page.text, second_id)
        assert "bezig" in running
        assert "40%" in running
        assert "01-03-2025 \N{EN DASH} 31-10-2025" in running
        assert download_link(running) is None
        gone = await anna.get(f"{EXPORTS}/{first['id']}/file")
        assert gone.status_code == 410

        english = await anna.get(f"{PAGE}?lang=en")
        assert english.status_code == 200
        assert "History exports" in english.text
        assert "expired" in row_of(english.text, first["id"])
        assert "running" in row_of(english.text, second_id)
        assert "once a calendar year and free of charge" in english.text
    finally:
        await anna.aclose()


async def test_an_esp_without_exports_sees_how_to_ask(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    staff = await make_staff(app, "bert.esp-b", world.nps.esp_b)
    await request_export(client, world.a, [entry(world.nps.owner_ean)], reference_number="A-only")
    bert = await browser(app, staff)
    try:
        page = await bert.get(PAGE)
        english = await bert.get(f"{PAGE}?lang=en")
    finally:
        await bert.aclose()
    assert page.status_code == english.status_code == 200
    assert "nog geen historiek-exports" in page.text
    assert "één keer per kalenderjaar en gratis" in page.text
    assert "not asked for any history exports yet" in english.text
    assert "A-only" not in page.text + english.text


async def test_people_who_are_not_esp_staff_are_refused(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    await request_export(client, world.a, [entry(world.nps.owner_ean)], reference_number="A-ref")
    operator = await make_person(app, "oscar.operator", AccountRole.operator)
    for person in (world.nps.owner, world.nps.landlord, operator):
        opened = await browser(app, person)
        try:
            page = await opened.get(PAGE)
        finally:
            await opened.aclose()
        assert page.status_code == 403, person.username
        assert "Alleen voor dienstverleners" in page.text
        assert "A-ref" not in page.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anonymous:
        answer = await anonymous.get(PAGE)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/portal/login?next=/portal/esp/history-exports")
