"""Yearly history exports, the rules: the contract, every bad input of the issue (nothing
stored), the free quota and the operator's exception, the evidence (grid user only, NPS
audits), isolation between ESPs, retention (410), the operator's agreed deadline and added
EANs, and the SLA's yearly-history line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.brussels_days import today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.history_exports import tasks
from datahub_api.nps.tasks import run_paper_checks
from datahub_api.settings import Settings

from ..support.environment import make_settings
from ..support.history_export_world import (
    EXPORTS,
    YEAR,
    ExportWorld,
    company_entry,
    entry,
    evidence,
    make_export_world,
    request_export,
    run_jobs,
)
from ..support.nps_world import signed_pdf
from ..support.parties import auth_headers, make_esp

OPERATOR = "/api/v1/operator/history-exports"
QUOTA_EXCEPTIONS = "/api/v1/operator/history-export-quota-exceptions"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(history_export_dir=tmp_path / "exports", history_export_max_eans=3)


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ExportWorld:
    return await make_export_world(app, client)


async def count(app: FastAPI, table: str) -> int:
    async with app.state.database.read_sessions() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


async def test_without_an_annual_history_contract_the_request_is_forbidden(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    nps_only = await make_esp(app, "NPS only", channels=[Channel.nps])
    headers = await auth_headers(client, nps_only)
    response = await request_export(client, headers, [entry(world.nps.owner_ean)])
    problem(response, 403)
    assert await count(app, "history_exports") == 0


async def test_bad_requests_are_refused_whole_and_store_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    nps = world.nps
    mandates_before = await count(app, "mandates")
    good = entry(nps.owner_ean)
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"eans": []}, 422, None),
        ({"eans": [good, entry(nps.tenant_ean, name="Larry Landlord"), good, good]}, 413, None),
        ({"eans": [good, entry(nps.owner_ean)]}, 422, "more than once"),
        ({"eans": [good, {"ean": nps.company_ean}]}, 422, "needs its mandate evidence"),
        # (A signatory who is not the grid user is no refusal: that is checked after
        # registration, see tests/paper_mandates/test_paper_mandates.py.)
        ({"eans": [entry(nps.owner_ean, document_sha256="abc")]}, 422, "64 hex"),
        ({"eans": [entry(nps.owner_ean, signed_on="2099-01-01")]}, 422, "future"),
        ({"eans": [{"ean": "541234567890123456", "evidence": evidence()}]}, 422, "valid EAN"),
        ({"eans": [good], "year": YEAR - 1}, 422, "No metering data"),  # a year with no data
        ({"eans": [good], "year": 2999}, 422, None),
        ({"eans": [good], "year": None, "period_from": "2025-01-01"}, 422, None),
        ({"eans": [good], "period_from": "2025-01-01", "period_to": "2025-02-01"}, 422, None),
        ({"eans": [good], "format": "pdf"}, 422, None),
    ]
    for over, status, words in cases:
        rest = {key: value for key, value in over.items() if key != "eans"}
        response = await request_export(client, world.a, over["eans"], **rest)
        body = problem(response, status)
        if words is not None:
            assert words in str(body.get("errors", body)), (over, body)
    assert await count(app, "history_exports") == 0
    assert await count(app, "history_export_items") == 0
    assert await count(app, "mandates") == mandates_before
    # Every problem is listed with its position, not only the first.
    response = await request_export(
        client,
        world.a,
        [{"ean": nps.company_ean}, good, entry(nps.tenant_ean, signed_on="2099-01-01")],
    )
    assert [e["position"] for e in problem(response, 422)["errors"]] == [0, 2]


async def test_one_free_request_a_year_and_the_operators_exception(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    nps = world.nps
    first = await request_export(client, world.a, [entry(nps.owner_ean)])
    assert first.status_code == 201, first.text
    second = await request_export(client, world.a, [company_entry(nps.company_ean)])
    body = problem(second, 409)
    assert body["first_request_id"] == first.json()["id"]
    assert body["first_requested_at"] == first.json()["created_at"].replace("Z", "+00:00")
    assert str(first.json()["id"]) in body["detail"]
    # ESP B has its own quota.
    other = await request_export(client, world.b, [entry(nps.owner_ean)])
    assert other.status_code == 201, other.text
    # Only operators grant exceptions; they are recorded with their reason.
    grant = {"organisation_id": nps.esp_a.organisation_id, "year": today_in_brussels().year,
             "reason": "second list sent by mail after a merger"}  # fmt: skip
    problem(await client.post(QUOTA_EXCEPTIONS, json=grant, headers=world.a), 403)
    missing = {**grant, "organisation_id": 999999}
    problem(
        await client.post(QUOTA_EXCEPTIONS, json=missing, headers=world.operator),
        404,
    )
    granted = await client.post(QUOTA_EXCEPTIONS, json=grant, headers=world.operator)
    assert granted.status_code == 201, granted.text
    assert granted.json()["reason"] == grant["reason"]
    again = await request_export(client, world.a, [company_entry(nps.company_ean)])
    assert again.status_code == 201, again.text
    third = await request_export(client, world.a, [company_entry(nps.company_ean)])
    assert problem(third, 409)["first_request_id"] == first.json()["id"]
    async with app.state.database.read_sessions() as session:
        actions = (
            await session.scalars(
                text("SELECT action FROM audit_records WHERE action LIKE 'history_export.%'")
            )
        ).all()
    assert actions == ["history_export.quota_exception"]


async def test_another_esp_sees_nothing_of_an_export(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    created = (await request_export(client, world.a, [entry(world.nps.owner_ean)])).json()
    await run_jobs(app)
    mine = await client.get(f"{EXPORTS}/{created['id']}", headers=world.a)
    assert mine.json()["status"] == "ready"
    for suffix in ("", "/file"):
        theirs = await client.get(f"{EXPORTS}/{created['id']}{suffix}", headers=world.b)
        nothing = await client.get(f"{EXPORTS}/999999{suffix}", headers=world.b)
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.json()["detail"] == nothing.json()["detail"]
    listed = await client.get(EXPORTS, headers=world.b)
    assert listed.json()["items"] == []
    assert [e["id"] for e in (await client.get(EXPORTS, headers=world.a)).json()["items"]] == [
        created["id"]
    ]
    events = await client.get(
        "/api/v1/events", params={"types": "history_export.ready"}, headers=world.b
    )
    assert events.json()["items"] == []


async def test_the_file_is_gone_after_the_retention(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld, settings: Settings
) -> None:
    created = (await request_export(client, world.a, [entry(world.nps.owner_ean)])).json()
    await run_jobs(app)
    ready = (await client.get(f"{EXPORTS}/{created['id']}", headers=world.a)).json()
    expires = datetime.fromisoformat(ready["expires_at"])
    finished = datetime.fromisoformat(ready["finished_at"])
    assert expires - finished == timedelta(days=settings.history_export_retention_days)
    assert (await client.get(f"{EXPORTS}/{created['id']}/file", headers=world.a)).status_code == 200
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE history_exports SET expires_at = now() - interval '1 second'")
        )
        await session.commit()
    problem(await client.get(f"{EXPORTS}/{created['id']}/file", headers=world.a), 410)
    waiting, deleted = await tasks.run_sweep(app.state.jobs)
    assert (waiting, deleted) == (0, 1)
    assert not list(settings.history_exports_path.glob(f"history-export-{created['id']}.*"))
    problem(await client.get(f"{EXPORTS}/{created['id']}/file", headers=world.a), 410)


async def test_the_operator_adds_eans_sent_by_mail_and_agrees_a_deadline(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    nps = world.nps
    created = (await request_export(client, world.a, [entry(nps.owner_ean)])).json()
    await run_jobs(app)
    first = (await client.get(f"{EXPORTS}/{created['id']}", headers=world.a)).json()
    first_ready = datetime.fromisoformat(first["finished_at"])
    add = {"eans": [company_entry(nps.company_ean)], "note": "list sent by mail on 3 March"}
    problem(await client.post(f"{OPERATOR}/{created['id']}/eans", json=add, headers=world.a), 403)
    bad = {"eans": [entry(nps.owner_ean)], "note": "again"}
    answer = await client.post(f"{OPERATOR}/{created['id']}/eans", json=bad, headers=world.operator)
    assert "already" in str(problem(answer, 422)["errors"])
    added = await client.post(f"{OPERATOR}/{created['id']}/eans", json=add, headers=world.operator)
    assert added.status_code == 200, added.text
    assert added.json()["status"] == "queued"
    assert [(i["ean"], i["added_by_operator"]) for i in added.json()["items"]] == [
        (nps.owner_ean, False),
        (nps.company_ean, True),
    ]
    await run_jobs(app)
    body = (await client.get(f"{EXPORTS}/{created['id']}", headers=world.a)).json()
    assert body["status"] == "ready"
    assert body["file_name"].endswith(".zip")
    assert all(item["row_count"] for item in body["items"])
    # An agreed deadline, recorded with its reason, replaces the 10 days in the SLA.
    due = datetime.fromisoformat(created["created_at"]) - timedelta(days=1)
    late = {"due_at": due.isoformat(), "reason": "x"}
    problem(
        await client.post(
            f"{OPERATOR}/{created['id']}/deadline", json=late, headers=world.operator
        ),
        422,
    )
    naive = {"due_at": "2030-01-01T00:00:00", "reason": "no offset given"}
    problem(
        await client.post(
            f"{OPERATOR}/{created['id']}/deadline", json=naive, headers=world.operator
        ),
        422,
    )
    assert datetime.fromisoformat(body["due_at"]) - datetime.fromisoformat(
        body["created_at"]
    ) == timedelta(days=10)
    # Between the request and its first ready file, however fast the machine built it.
    requested = datetime.fromisoformat(created["created_at"])
    agreed = {"due_at": (requested + (first_ready - requested) / 2).isoformat(),
              "reason": "customer asked for a later delivery"}  # fmt: skip
    answer = await client.post(
        f"{OPERATOR}/{created['id']}/deadline", json=agreed, headers=world.operator
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["agreed_due_reason"] == agreed["reason"]
    report = await sla_report(client, world.a)
    # Delivered after the agreed deadline: late, not on time.
    assert (report["total"]["expected"], report["total"]["on_time"], report["total"]["late"]) == (
        1,
        0,
        1,
    )
    late_items = await client.get("/api/v1/sla/late-items", params=sla_params(), headers=world.a)
    assert late_items.status_code == 200, late_items.text
    assert [i["ean"] for i in late_items.json()["items"]] == [f"history-export-{created['id']}"]


def sla_params() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {
        "channel": "annual_history",
        "from": (today - timedelta(days=3)).isoformat(),
        "to": (today + timedelta(days=2)).isoformat(),
    }


async def sla_report(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/sla/report", params=sla_params(), headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_sla_line_counts_requests_delivered_in_time(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    await request_export(client, world.a, [entry(world.nps.owner_ean)])
    pending = await sla_report(client, world.a)
    assert (pending["total"]["expected"], pending["total"]["pending"]) == (1, 1)
    await run_jobs(app)
    report = await sla_report(client, world.a)
    assert (report["total"]["expected"], report["total"]["on_time"]) == (1, 1)
    assert report["total"]["median_delay_hours"] == 1  # minutes, rounded up to an hour
    assert sum(group["expected"] for group in report["groups"]) == 1
    other = await sla_report(client, world.b)
    assert other["total"]["expected"] == 0


async def test_the_evidence_is_audited_like_nps_signed_mandates(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    document = signed_pdf("Olga Owner")
    created = (await request_export(client, world.a, [entry(world.nps.owner_ean)])).json()
    mandate_id = created["items"][0]["mandate_id"]
    mandate = (await client.get(f"/api/v1/mandates/{mandate_id}", headers=world.a)).json()
    assert (mandate["channel"], mandate["status"]) == ("annual_history", "requested")
    await run_paper_checks(app.state.jobs)  # the registry check after registration
    mandate = (await client.get(f"/api/v1/mandates/{mandate_id}", headers=world.a)).json()
    assert (mandate["channel"], mandate["status"]) == ("annual_history", "approved")
    opened = await client.post(
        f"/api/v1/operator/nps/mandates/{mandate_id}/audits", headers=world.operator
    )
    assert opened.status_code == 201, opened.text
    wrong = await client.put(
        f"/api/v1/nps/mandates/{mandate_id}/evidence",
        content=signed_pdf("another document"),
        headers={**world.a, "Content-Type": "application/pdf"},
    )
    assert problem(wrong, 422)["type"].rsplit("/", 1)[1] == "hash-mismatch"
    right = await client.put(
        f"/api/v1/nps/mandates/{mandate_id}/evidence",
        content=document,
        headers={**world.a, "Content-Type": "application/pdf"},
    )
    assert right.status_code == 200, right.text
    assert right.json()["status"] == "submitted"
    # A refused audit ends the mandate: the export leaves the EAN out.
    refused = await client.post(
        f"/api/v1/operator/nps/audits/{opened.json()['id']}/decision",
        json={"decision": "refuse", "note": "not the grid user's signature"},
        headers=world.operator,
    )
    assert refused.status_code == 200, refused.text
    await run_jobs(app)
    body = (await client.get(f"{EXPORTS}/{created['id']}", headers=world.a)).json()
    assert body["status"] == "failed"


async def test_idempotency_key_replays_the_answer(
    app: FastAPI, client: httpx.AsyncClient, world: ExportWorld
) -> None:
    headers = {**world.a, "Idempotency-Key": "hx-key-1"}
    first = await request_export(client, headers, [entry(world.nps.owner_ean)])
    again = await request_export(client, headers, [entry(world.nps.owner_ean)])
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await count(app, "history_exports") == 1
