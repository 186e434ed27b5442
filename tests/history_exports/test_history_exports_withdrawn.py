"""A yearly-history file is not downloadable once a mandate behind it has ended (issue 15,
item 3): its download answers 410 `history-export-withdrawn` naming the EANs and why, at
once (whether or not a job ran); the sweep makes it again without them; with none left it
stays withdrawn for good."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.history_exports import tasks
from datahub_api.jobs import JobQueue
from datahub_api.settings import Settings

from ..support.consent_world import PASSWORD, log_in
from ..support.environment import make_settings
from ..support.history_export_world import (
    EXPORTS,
    ExportWorld,
    entry,
    make_export_world,
    request_export,
    run_jobs,
)
from ..support.portal import portal_browser


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(history_export_dir=tmp_path / "exports")


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ExportWorld:
    return await make_export_world(app, client)


async def ready(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld, eans: list[str]
) -> dict[str, object]:
    made = await request_export(client, world.a, [entry(ean) for ean in eans])
    assert made.status_code == 201, made.text
    await run_jobs(app)
    status = await client.get(f"{EXPORTS}/{made.json()['id']}", headers=world.a)
    assert status.json()["status"] == "ready", status.text
    return dict(status.json())


async def test_a_revoked_mandate_withdraws_the_file_until_it_is_made_again_without_it(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    eans = [world.nps.owner_ean, world.digital_gvm_ean]
    export = await ready(app, client, world, eans)
    export_id = export["id"]
    items = {item["ean"]: item for item in export["items"]}  # type: ignore[attr-defined]
    file = f"{EXPORTS}/{export_id}/file"
    assert (await client.get(file, headers=world.a)).status_code == 200
    # The grid user takes one EAN's mandate back.
    owner = await log_in(app, world.nps.owner)
    try:
        revoked = await owner.post(f"/api/v1/mandates/{items[eans[0]]['mandate_id']}/revoke")
        assert revoked.status_code == 200, revoked.text
    finally:
        await owner.aclose()
    gone = await client.get(file, headers=world.a)
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"
    problem = gone.json()
    assert problem["type"].endswith("/history-export-withdrawn")
    assert problem["withdrawn"] == [
        {
            "ean": eans[0],
            "mandate_id": items[eans[0]]["mandate_id"],
            "reason": "revoked_by_customer",
        }
    ]
    assert problem["remade"] is True
    assert eans[0] in problem["detail"]
    status = (await client.get(f"{EXPORTS}/{export_id}", headers=world.a)).json()
    assert (status["withdrawn"], status["download_url"]) == (True, None)
    listed = (await client.get(EXPORTS, headers=world.a)).json()["items"]
    assert [(e["id"], e["withdrawn"]) for e in listed] == [(export_id, True)]
    # The sweep makes it again without the revoked EAN.
    queue: JobQueue = app.state.jobs
    assert await tasks.run_sweep(queue) == (1, 0)
    await queue.run_until_idle()
    again = (await client.get(f"{EXPORTS}/{export_id}", headers=world.a)).json()
    assert (again["status"], again["withdrawn"]) == ("ready", False)
    skipped = {item["ean"]: item["skipped_reason"] for item in again["items"]}
    assert "revoked_by_customer" in skipped[eans[0]]
    assert skipped[eans[1]] is None
    answer = await client.get(file, headers=world.a)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-content-sha256"] == again["sha256"] != export["sha256"]
    # One EAN is left: its CSV alone, no zip, nothing of the revoked EAN.
    assert not zipfile.is_zipfile(io.BytesIO(answer.content))
    assert eans[0].encode() not in answer.content
    assert eans[1].encode() in answer.content
    # Nothing more to make again.
    assert await tasks.run_sweep(queue) == (0, 0)


async def test_an_expired_mandate_withdraws_the_file_for_good_when_none_is_left(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    export = await ready(app, client, world, [world.nps.owner_ean])
    items = export["items"]
    assert isinstance(items, list)
    [item] = items
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text(
                "UPDATE mandates SET expiration_date = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": item["mandate_id"]},
        )
        await session.commit()
    file = f"{EXPORTS}/{export['id']}/file"
    gone = await client.get(file, headers=world.a)
    assert gone.status_code == 410
    assert gone.json()["withdrawn"][0]["reason"] == "expired"  # before the daily job ran
    queue: JobQueue = app.state.jobs
    await tasks.run_sweep(queue)
    await queue.run_until_idle()
    status = (await client.get(f"{EXPORTS}/{export['id']}", headers=world.a)).json()
    assert (status["status"], status["withdrawn"]) == ("failed", True)
    still = await client.get(file, headers=world.a)
    assert still.status_code == 410
    assert still.json()["remade"] is False
    assert "will not be made again" in still.json()["detail"]
    assert await tasks.run_sweep(queue) == (0, 0)  # no loop


async def test_the_portal_shows_a_withdrawn_export_without_its_link(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    export = await ready(app, client, world, [world.nps.owner_ean])
    items = export["items"]
    assert isinstance(items, list)
    [item] = items
    async with app.state.database.write_sessions() as session:
        session.add(
            Account(
                username="erik.esp",
                password_hash=hash_password(PASSWORD),
                display_name="Erik",
                role=AccountRole.esp_user,
                organisation_id=world.nps.esp_a.organisation_id,
            )
        )
        await session.execute(
            text(
                "UPDATE mandates SET status = 'finished', finished_reason = 'audit_failed' "
                "WHERE id = :id"
            ),
            {"id": item["mandate_id"]},
        )
        await session.commit()
    browser = await portal_browser(app, "erik.esp")
    try:
        page = await browser.get("/portal/esp/history-exports")
    finally:
        await browser.aclose()
    assert page.status_code == 200
    assert "status-withdrawn" in page.text
    assert f"/api/v1/history-exports/{export['id']}/file" not in page.text
