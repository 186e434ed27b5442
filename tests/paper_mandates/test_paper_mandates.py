"""Signed paper mandates (NPS signed evidence, yearly history export EANs) are no lookup
oracle and never go unseen:

* the oracle check: a right and a wrong signatory name get the same status, body and
  per-EAN answer, and the request runs the same SQL statements (no per-EAN registry lookup
  whose cost depends on the name), on both NPS and history-export registration;
* the check after registration: a mismatch opens an audit at once (``registry_check``) and
  holds the EAN's data on every face and channel until the audit passes;
* the grid user and the customers see every paper mandate at once (API and portal, with who
  registered it) and contest it (portal form with CSRF, API): data stops at once, an audit
  opens, the operator sees it;
* registrations per ESP and day are bounded, refused attempts included.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text

from datahub_api.accounts.models import AccountRole
from datahub_api.brussels_days import day_start
from datahub_api.jobs import commit
from datahub_api.nps.service import daily_files as nps_daily_files

from ..support.consent_world import Person, field, log_in, make_person, put_access_point
from ..support.environment import make_settings
from ..support.history_export_world import (
    EXPORTS,
    ExportWorld,
    company_entry,
    entry,
    make_export_world,
    request_export,
    run_jobs,
)
from ..support.meter_data import day_rows
from ..support.nps_world import (
    NpsWorld,
    gvm_body,
    ingest,
    make_nps_world,
    signed,
    signed_pdf,
    submit,
)
from ..support.portal import portal_browser, post_form

DAY = date(2026, 10, 25)  # the autumn DST day (100 quarter-hours), inside the data period
NEXT = date(2026, 10, 26)
ZERO_MARGIN = make_settings(meter_data_changes_margin_seconds=0)
DOCUMENT = signed_pdf("the signed mandate")


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs (text only, no parameters).

    Left out: the signing-key stamp (each node asks it at most once a second, whatever the
    request) and the caller's rate budget (taken in leases sized to the caller's pace):
    whether they fall inside the block depends on the clock and the caller, not the name."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split())
        if not re.search(r"\b(FROM signing_keys|throttle_counters)\b", text):
            sent.append(text)

    engine = app.state.database.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def without_ids(value: Any) -> Any:
    """The answer with what differs between two requests by design left out: ids,
    instants, the EAN named and the reference."""
    if isinstance(value, dict):
        return {
            key: without_ids(item)
            for key, item in value.items()
            if key
            not in {
                "id",
                "mandate_id",
                "ean",
                "created_at",
                "due_at",
                "reference_number",
                "position",
            }
        }
    if isinstance(value, list):
        return [without_ids(item) for item in value]
    return value


async def gvm_point(client: httpx.AsyncClient, world: NpsWorld, person: Person) -> str:
    """A fresh large-consumption access point whose grid user and customer is ``person``."""
    from ..support.access_point_data import fresh_ean

    ean = fresh_ean()
    await put_access_point(
        client, world.operator, ean, grid_user=person.id, customer_ids=(person.id,), **gvm_body()
    )
    return ean


async def audits(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/nps/audits", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def mandate_of(client: httpx.AsyncClient, world: NpsWorld, mandate_id: int) -> Any:
    return (await client.get(f"/api/v1/mandates/{mandate_id}", headers=world.a)).json()


async def make_file(app: FastAPI, day: date) -> int:
    async with app.state.database.write_sessions() as session:
        made = await nps_daily_files.make_daily_files(session, day=day, until=datetime.now(UTC))
        await commit(session, app.state.jobs)
    assert len(made) == 1
    return made[0].id


async def file_eans(client: httpx.AsyncClient, world: NpsWorld, file_id: int) -> set[str]:
    response = await client.get(f"/api/v1/nps/daily-files/{file_id}", headers=world.a)
    assert response.status_code == 200, response.text
    return {row["ean"] for row in csv.DictReader(io.StringIO(response.text))}


async def data_flows(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld, ean: str, file_day: date
) -> dict[str, bool]:
    """Whether ESP A gets ``ean``'s data of :data:`DAY` on each face and channel a paper
    NPS mandate serves: the native read, Fluvius's /v3 energy, the bulk query, the change
    feed, and the NPS daily file (one made for ``file_day``, after new data of ``ean``
    arrived)."""
    await ingest(client, world, day_rows(ean, DAY, slots=range(4), value=f"{file_day.day}.5"))
    native = await client.get(
        f"/api/v1/access-points/{ean}/meter-data",
        params={"from": DAY.isoformat(), "to": NEXT.isoformat(), "granularity": "PT15M"},
        headers=world.a,
    )
    v3 = await client.get(
        "/v3/api/mandate/energy",
        params={
            "ean": ean,
            "periodType": "readTime",
            "granularity": "hourly_quarterhourly",
            "from": z(day_start(DAY)),
            "to": z(day_start(NEXT)),
        },
        headers=world.a,
    )
    query = await client.post(
        "/api/v1/meter-data/query",
        json={"eans": [ean], "from": DAY.isoformat(), "to": NEXT.isoformat(), "granularity": "P1D"},
        headers=world.a,
    )
    assert query.status_code == 200, query.text
    line = json.loads(query.content.splitlines()[0])
    changes = await client.get("/api/v1/meter-data/changes", headers=world.a)
    assert changes.status_code == 200, changes.text
    return {
        "native": native.status_code == 200,
        "v3": v3.status_code == 200,
        "query": "error" not in line,
        "changes": ean in {item["ean"] for item in changes.json()["items"]},
        "daily_file": ean in await file_eans(client, world, await make_file(app, file_day)),
    }


FLOWING = dict.fromkeys(("native", "v3", "query", "changes", "daily_file"), True)
HELD = dict.fromkeys(FLOWING, False)


async def upload_and_accept(
    client: httpx.AsyncClient,
    world: NpsWorld,
    headers: dict[str, str],
    mandate_id: int,
    document: bytes | None = None,
) -> None:
    """The ESP uploads the document it registered (:data:`DOCUMENT` by default); the
    operator accepts it."""
    [audit] = [a for a in await audits(client, headers) if a["mandate_id"] == mandate_id]
    uploaded = await client.put(
        f"/api/v1/nps/mandates/{mandate_id}/evidence",
        content=document or DOCUMENT,
        headers={**headers, "Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 200, uploaded.text
    decided = await client.post(
        f"/api/v1/operator/nps/audits/{audit['id']}/decision",
        json={"decision": "accept", "note": "the grid user's signature"},
        headers=world.operator,
    )
    assert decided.status_code == 200, decided.text


# --- the oracle check ------------------------------------------------------------------------


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> NpsWorld:
    return await make_nps_world(app, client)


async def test_nps_registration_answers_the_same_for_a_right_and_a_wrong_name(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    right_person = await make_person(app, "ria.right", AccountRole.grid_user)
    wrong_person = await make_person(app, "walt.wrong", AccountRole.grid_user)
    right_ean = await gvm_point(client, world, right_person)
    wrong_ean = await gvm_point(client, world, wrong_person)
    # Warm every cache a first request fills (token, grants, prepared statements).
    await submit(client, world.a, {"ean": world.small_ean, "evidence": signed()}, reference="w")
    answers = {}
    sql = {}
    for name, ean, signatory in (
        ("right", right_ean, "Ria Right"),
        ("wrong", wrong_ean, "Somebody Else"),
    ):
        with statements(app) as sent:
            answers[name] = await submit(
                client,
                world.a,
                {"ean": ean, "evidence": signed(signatory, document=signed_pdf("same"))},
                reference="oracle",
            )
        sql[name] = sent
    right, wrong = answers["right"], answers["wrong"]
    assert right.status_code == wrong.status_code == 201
    assert right.headers["content-type"] == wrong.headers["content-type"]
    assert without_ids(right.json()) == without_ids(wrong.json())
    [right_item], [wrong_item] = right.json()["items"], wrong.json()["items"]
    assert (right_item["outcome"], right_item["mandate_status"], right_item["detail"]) == (
        "accepted",
        "requested",
        None,
    )
    # The same statements, in the same order: no lookup of the name, no cost that differs.
    assert len(sql["right"]) > 10  # the listener saw the request's SQL
    assert sql["right"] == sql["wrong"]
    assert not [s for s in sql["right"] if re.search(r"\bFROM accounts\b", s)]
    # Polling shows the same until the check runs after registration.
    for item in (right_item, wrong_item):
        mandate = await mandate_of(client, world, item["mandate_id"])
        assert (mandate["status"], mandate["waiting_for_grid_user"]) == ("requested", False)
    assert await audits(client, world.a) == []

    await world.run_jobs()
    assert (await mandate_of(client, world, right_item["mandate_id"]))["status"] == "approved"
    held = await mandate_of(client, world, wrong_item["mandate_id"])
    assert held["status"] == "requested"
    # The mismatch opened an audit at once: the ESP must show the registered document.
    [audit] = await audits(client, world.a)
    assert (audit["mandate_id"], audit["opened_by"], audit["status"], audit["data_held"]) == (
        wrong_item["mandate_id"],
        "registry_check",
        "open",
        True,
    )
    asked = await client.get(
        "/api/v1/events", params={"types": "nps.audit_requested"}, headers=world.a
    )
    assert [e["data"]["opened_by"] for e in asked.json()["items"]] == ["registry_check"]


async def test_history_export_registration_answers_the_same_for_a_right_and_a_wrong_name(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    export_world: ExportWorld = await make_export_world(app, client)
    nps = export_world.nps
    for headers in (nps.a, nps.b):  # warm the caches of each ESP's first requests
        assert (await client.get(EXPORTS, headers=headers)).status_code == 200
    answers = {}
    sql = {}
    for name, headers, signatory in (
        ("right", nps.a, "Olga Owner"),
        ("wrong", nps.b, "Somebody Else"),
    ):
        with statements(app) as sent:
            answers[name] = await request_export(
                client, headers, [entry(nps.owner_ean, name=signatory)]
            )
        sql[name] = sent
    right, wrong = answers["right"], answers["wrong"]
    assert right.status_code == wrong.status_code == 201, (right.text, wrong.text)
    assert without_ids(right.json()) == without_ids(wrong.json())
    assert len(sql["right"]) > 10  # the listener saw the request's SQL
    assert sql["right"] == sql["wrong"]
    assert not [s for s in sql["right"] if re.search(r"\bFROM accounts\b", s)]

    await run_jobs(app)
    made_right = (await client.get(f"{EXPORTS}/{right.json()['id']}", headers=nps.a)).json()
    made_wrong = (await client.get(f"{EXPORTS}/{wrong.json()['id']}", headers=nps.b)).json()
    assert made_right["status"] == "ready"
    assert made_right["items"][0]["row_count"] > 0
    # The wrong name: an audit at once, and nothing of the EAN leaves until it passes.
    assert made_wrong["status"] == "failed"
    assert made_wrong["items"][0]["row_count"] == 0
    assert "auditing" in made_wrong["items"][0]["skipped_reason"]
    [audit] = await audits(client, nps.b)
    assert (audit["opened_by"], audit["data_held"]) == ("registry_check", True)
    assert await audits(client, nps.a) == []
    file = await client.get(f"{EXPORTS}/{wrong.json()['id']}/file", headers=nps.b)
    assert file.status_code == 409
    # The audit passes: the export is made again with the EAN.
    mandate_id = made_wrong["items"][0]["mandate_id"]
    await upload_and_accept(client, nps, nps.b, mandate_id, signed_pdf("Somebody Else"))
    await run_jobs(app)
    again = (await client.get(f"{EXPORTS}/{wrong.json()['id']}", headers=nps.b)).json()
    assert again["status"] == "ready", again
    assert (again["items"][0]["row_count"], again["items"][0]["skipped_reason"]) == (
        made_right["items"][0]["row_count"],
        None,
    )


# --- data held on every face until the audit passes --------------------------------------


@pytest.mark.parametrize("settings", [ZERO_MARGIN])
async def test_a_mismatch_holds_the_data_on_every_face_until_the_audit_passes(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    listed = await submit(
        client,
        world.a,
        {
            "ean": world.owner_ean,
            "evidence": signed("O. Ovner", document=DOCUMENT),
        },
    )
    mandate_id = listed.json()["items"][0]["mandate_id"]
    await world.run_jobs()
    assert await data_flows(app, client, world, world.owner_ean, date(2026, 11, 1)) == HELD
    await upload_and_accept(client, world, world.a, mandate_id)
    assert (await mandate_of(client, world, mandate_id))["status"] == "approved"
    assert await data_flows(app, client, world, world.owner_ean, date(2026, 11, 2)) == FLOWING


@pytest.mark.parametrize("settings", [ZERO_MARGIN])
async def test_before_the_check_has_run_no_data_flows(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    """Even a right name gives nothing until the check ran; then everything flows."""
    await submit(client, world.a, {"ean": world.owner_ean, "evidence": signed(document=DOCUMENT)})
    async with app.state.database.read_sessions() as session:
        queued = await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs "
                "WHERE task_name = 'nps.paper_mandate_checks' AND status = 'todo'"
            )
        )
    assert queued == 1  # queued when the registration committed
    # The file is made before the job: nothing of the unchecked EAN.
    assert await file_eans(client, world, await make_file(app, date(2026, 11, 1))) == set()
    await world.run_jobs()
    assert await data_flows(app, client, world, world.owner_ean, date(2026, 11, 2)) == FLOWING


async def test_the_periodic_sweep_checks_what_a_lost_job_left(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    """A process that died between commit and queueing: the every-minute run checks it."""
    from datahub_api.nps.tasks import run_paper_checks

    listed = await submit(client, world.a, {"ean": world.owner_ean, "evidence": signed()})
    async with app.state.database.write_sessions() as session:
        await session.execute(text("DELETE FROM procrastinate_jobs"))
        await session.commit()
    assert await run_paper_checks(app.state.jobs) == 1
    mandate = await mandate_of(client, world, listed.json()["items"][0]["mandate_id"])
    assert mandate["status"] == "approved"
    assert await run_paper_checks(app.state.jobs) == 0  # safe twice


# --- the people of the access point see it and contest it --------------------------------


@pytest.mark.parametrize("settings", [ZERO_MARGIN])
async def test_the_grid_user_sees_it_at_once_and_contests_it_in_the_portal(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    listed = await submit(
        client, world.a, {"ean": world.owner_ean, "evidence": signed(document=DOCUMENT)}
    )
    mandate_id = listed.json()["items"][0]["mandate_id"]
    owner = await portal_browser(app, world.owner.username)
    try:
        # At once, before any check: in the inbox and in the consent list, with who.
        for page_path in ("/portal/co-consents", "/portal/mandates"):
            page = await owner.get(page_path)
            assert page.status_code == 200, page.text
            assert "ESP A" in page.text, page_path
            assert world.owner_ean in page.text, page_path
            assert f"/portal/paper-mandates/{mandate_id}/contest" in page.text
        await world.run_jobs()
        assert await data_flows(app, client, world, world.owner_ean, date(2026, 11, 1)) == FLOWING
        action = f"/portal/paper-mandates/{mandate_id}/contest"
        forged = await owner.post(action, data={"reason": "not me", "back": "/portal/mandates"})
        assert forged.status_code == 403  # no CSRF token
        assert (await mandate_of(client, world, mandate_id))["status"] == "approved"
        contested = await post_form(
            owner,
            "/portal/co-consents",
            action,
            reason="I never signed this.",
            back="/portal/co-consents",
        )
        assert contested.status_code == 303, contested.text
        assert contested.headers["location"].startswith("/portal/co-consents?paper=contested")
        page = await owner.get(contested.headers["location"])
        assert "contest" in page.text.lower()
        again = await post_form(owner, "/portal/mandates", action, reason="twice")
        assert again.status_code == 409
    finally:
        await owner.aclose()
    # Data stops at once, on every face; the mandate is requested again on both faces.
    assert await data_flows(app, client, world, world.owner_ean, date(2026, 11, 2)) == HELD
    assert (await mandate_of(client, world, mandate_id))["status"] == "requested"
    v3 = await client.get("/v3/api/mandate", params={"eanNumber": world.owner_ean}, headers=world.a)
    assert v3.json()["data"]["mandates"][0]["status"] == "Requested"
    [audit] = await audits(client, world.a)
    assert (audit["opened_by"], audit["data_held"], audit["contest_reason"]) == (
        "contest",
        True,
        None,  # the person's words are for the DSO
    )
    # The operator sees it on the NPS audits page, with the reason.
    operator = await make_person(app, "oscar.operator", AccountRole.operator)
    browser = await portal_browser(app, operator.username)
    try:
        page = await browser.get("/portal/operator/nps-audits")
        assert page.status_code == 200
        assert "I never signed this." in page.text
        assert world.owner_ean in page.text
    finally:
        await browser.aclose()
    # The audit passes: the data flows again.
    await upload_and_accept(client, world, world.a, mandate_id)
    assert (await mandate_of(client, world, mandate_id))["status"] == "approved"
    assert await data_flows(app, client, world, world.owner_ean, date(2026, 11, 3)) == FLOWING


@pytest.mark.parametrize("settings", [ZERO_MARGIN])
async def test_a_customer_sees_and_contests_through_the_api_and_the_hold_outlasts_co_consent(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    listed = await submit(
        client, world.a, {"ean": world.tenant_ean, "evidence": signed("Tina Tenant", "customer")}
    )
    mandate_id = listed.json()["items"][0]["mandate_id"]
    tenant = await log_in(app, world.tenant)
    try:
        seen = await tenant.get("/api/v1/paper-mandates")
        assert seen.status_code == 200, seen.text
        [paper] = seen.json()
        assert (paper["mandate_id"], paper["ean"], paper["registered_by"]["name"]) == (
            mandate_id,
            world.tenant_ean,
            "ESP A",
        )
        assert (paper["name_check"], paper["data_held"], paper["can_contest"]) == (
            "pending",
            "check_pending",
            True,
        )
        await world.run_jobs()
        one = (await tenant.get(f"/api/v1/paper-mandates/{mandate_id}")).json()
        assert (one["name_check"], one["data_held"]) == ("not_applicable", None)
        empty = await tenant.post(
            f"/api/v1/paper-mandates/{mandate_id}/contest", json={"reason": ""}
        )
        assert empty.status_code == 422
        contested = await tenant.post(
            f"/api/v1/paper-mandates/{mandate_id}/contest", json={"reason": "Not my signature"}
        )
        assert contested.status_code == 200, contested.text
        assert (contested.json()["data_held"], contested.json()["can_contest"]) == (
            "contested",
            False,
        )
        twice = await tenant.post(
            f"/api/v1/paper-mandates/{mandate_id}/contest", json={"reason": "again"}
        )
        assert twice.status_code == 409
        assert twice.headers["content-type"].startswith("application/problem+json")
    finally:
        await tenant.aclose()
    # Another person: the same answer as for a mandate that does not exist.
    owner = await log_in(app, world.owner)
    try:
        theirs = await owner.get(f"/api/v1/paper-mandates/{mandate_id}")
        none = await owner.get("/api/v1/paper-mandates/999999")
        assert theirs.status_code == none.status_code == 404
        assert theirs.json()["detail"] == none.json()["detail"]
        refused = await owner.post(
            f"/api/v1/paper-mandates/{mandate_id}/contest", json={"reason": "x"}
        )
        assert refused.status_code == 404
        assert (await owner.get("/api/v1/paper-mandates")).json() == []
    finally:
        await owner.aclose()
    # ESPs have no access to people's routes.
    assert (await client.get("/api/v1/paper-mandates", headers=world.a)).status_code == 403
    # The landlord co-consents: the mandate is approved, yet no data flows while contested.
    landlord = await log_in(app, world.landlord)
    try:
        [task] = (await landlord.get("/api/v1/co-consents")).json()
        decided = await landlord.post(
            f"/api/v1/co-consents/{task['id']}/decision", json={"decision": "approve"}
        )
        assert decided.status_code == 200, decided.text
        # The grid user sees it too, and that it is contested.
        [paper] = (await landlord.get("/api/v1/paper-mandates")).json()
        assert paper["data_held"] == "contested"
    finally:
        await landlord.aclose()
    assert (await mandate_of(client, world, mandate_id))["status"] == "approved"
    assert await data_flows(app, client, world, world.tenant_ean, date(2026, 11, 1)) == HELD
    [audit] = await audits(client, world.a)
    assert audit["opened_by"] == "contest"
    operator_view = await client.get("/api/v1/operator/nps/audits", headers=world.operator)
    assert operator_view.json()["items"][0]["contest_reason"] == "Not my signature"


async def test_a_new_occupant_sees_live_paper_mandates_but_not_a_previous_occupants_ended_ones(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    ended = await submit(
        client, world.a, {"ean": world.tenant_ean, "evidence": signed("Tina Tenant", "customer")}
    )
    ended_id = ended.json()["items"][0]["mandate_id"]
    terminated = await client.post(f"/api/v1/mandates/{ended_id}/terminate", headers=world.a)
    assert terminated.status_code == 200, terminated.text
    live = await submit(
        client,
        world.b,
        {"ean": world.tenant_ean, "evidence": signed("Larry Landlord")},
    )
    live_id = live.json()["items"][0]["mandate_id"]
    async with app.state.database.write_sessions() as session:  # both a month old
        await session.execute(
            text("UPDATE paper_mandates SET registered_at = now() - interval '30 days'")
        )
        await session.commit()
    # The tenant moves out yesterday and a new one moves in; the landlord stays.
    newcomer = await make_person(app, "nina.new", AccountRole.customer)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    await put_access_point(
        client,
        world.operator,
        world.tenant_ean,
        grid_user=world.landlord.id,
        **gvm_body(
            customers=[
                {"account_id": world.tenant.id, "valid_from": "2024-01-01", "valid_to": yesterday},
                {"account_id": newcomer.id, "valid_from": yesterday},
            ]
        ),
    )
    nina = await log_in(app, newcomer)
    try:
        seen = [p["mandate_id"] for p in (await nina.get("/api/v1/paper-mandates")).json()]
    finally:
        await nina.aclose()
    assert seen == [live_id]


async def test_a_contest_after_the_history_file_was_made_takes_the_ean_out_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    export_world: ExportWorld = await make_export_world(app, client)
    nps = export_world.nps
    made = await request_export(
        client, nps.a, [entry(nps.owner_ean), company_entry(nps.company_ean)]
    )
    export_id = made.json()["id"]
    owner_mandate = made.json()["items"][0]["mandate_id"]
    await run_jobs(app)
    file_url = f"{EXPORTS}/{export_id}/file"
    first = await client.get(file_url, headers=nps.a)
    assert first.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(first.content)).namelist()
    assert len(names) == 2
    for ean in (nps.owner_ean, nps.company_ean):
        assert sum(f"_{ean}_" in name for name in names) == 1, names
    owner = await log_in(app, nps.owner)
    try:
        contested = await owner.post(
            f"/api/v1/paper-mandates/{owner_mandate}/contest", json={"reason": "not signed"}
        )
        assert contested.status_code == 200, contested.text
    finally:
        await owner.aclose()
    # At once: the file with the owner's rows is withdrawn, saying why.
    withdrawn = await client.get(file_url, headers=nps.a)
    assert withdrawn.status_code == 410, withdrawn.text
    assert withdrawn.json()["withdrawn"] == [
        {"ean": nps.owner_ean, "mandate_id": owner_mandate, "reason": "held_for_audit"}
    ]
    assert withdrawn.json()["remade"] is True
    await run_jobs(app)
    remade = (await client.get(f"{EXPORTS}/{export_id}", headers=nps.a)).json()
    assert remade["status"] == "ready"
    assert [(i["ean"], bool(i["row_count"])) for i in remade["items"]] == [
        (nps.owner_ean, False),
        (nps.company_ean, True),
    ]
    assert "auditing" in remade["items"][0]["skipped_reason"]
    second = await client.get(file_url, headers=nps.a)
    assert second.status_code == 200
    assert nps.owner_ean not in second.text
    assert nps.company_ean in second.text  # the one EAN left: its CSV itself
    # The audit passes: the owner's EAN is back.
    await upload_and_accept(client, nps, nps.a, owner_mandate, signed_pdf("Olga Owner"))
    await run_jobs(app)
    third = await client.get(file_url, headers=nps.a)
    assert third.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(third.content)).namelist()
    assert len(names) == 2
    for ean in (nps.owner_ean, nps.company_ean):
        assert sum(f"_{ean}_" in name for name in names) == 1, names


# --- the daily bound ---------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [make_settings(paper_mandates_per_day=3)])
async def test_registrations_per_day_are_bounded_refusals_included(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    first = await submit(
        client,
        world.a,
        {"ean": world.owner_ean, "evidence": signed()},
        {"ean": world.company_ean, "evidence": signed(document_sha256="not-a-hash")},
    )
    assert [i["outcome"] for i in first.json()["items"]] == ["accepted", "invalid_evidence"]
    # The refused one counted too: 2 of 3 used, so two more are one too many.
    over = await submit(
        client,
        world.a,
        {"ean": world.tenant_ean, "evidence": signed("Tina Tenant", "customer")},
        {"ean": world.small_ean, "evidence": signed()},
    )
    assert over.status_code == 429, over.text
    assert over.headers["content-type"].startswith("application/problem+json")
    problem = over.json()
    assert problem["type"].endswith("/paper-mandates-per-day")
    assert (problem["limit"], problem["used"], problem["asked"]) == (3, 2, 2)
    assert 0 < int(over.headers["retry-after"]) <= 25 * 3600
    async with app.state.database.read_sessions() as session:
        requests = await session.scalar(text("SELECT count(*) FROM nps_requests"))
    assert requests == 1  # nothing stored
    # A replay of an answered request is not an attempt; ESP B has its own bound.
    headers = {**world.a, "Idempotency-Key": "k"}
    one = await submit(
        client, headers, {"ean": world.tenant_ean, "evidence": signed("T", "customer")}
    )
    assert one.status_code == 201
    assert (
        await submit(
            client, headers, {"ean": world.tenant_ean, "evidence": signed("T", "customer")}
        )
    ).status_code == 201
    assert (
        await submit(client, world.a, {"ean": world.small_ean, "evidence": signed()})
    ).status_code == 429
    assert (
        await submit(client, world.b, {"ean": world.owner_ean, "evidence": signed()})
    ).status_code == 201
    # A history export's EANs count against the same bound, a refused (422) request too.
    export = await request_export(client, world.b, [entry(world.owner_ean), entry("54123")])
    assert export.status_code == 422
    refused = await request_export(client, world.b, [entry(world.owner_ean)])
    assert refused.status_code == 429
    assert refused.json()["used"] == 3


async def test_the_portal_contest_page_refuses_other_roles_and_unknown_mandates(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    owner = await portal_browser(app, world.owner.username)
    try:
        page = await owner.get("/portal/mandates")
        token = field(page.text, "csrf_token")
        for number in ("999999", "abc"):
            missing = await owner.post(
                f"/portal/paper-mandates/{number}/contest",
                data={"csrf_token": token, "reason": "x", "back": "https://evil.example/"},
            )
            assert missing.status_code == 404
            assert 'href="/portal/co-consents"' in missing.text  # never an outside link
    finally:
        await owner.aclose()


# --- the migration keeps what was registered before ------------------------------------------

BEFORE_PAPER_MANDATES = [
    "INSERT INTO organisations (id, name, enterprise_number, contact_email, status) "
    "VALUES (1, 'ESP A', '0100000466', 'a@example.com', 'active')",
    "INSERT INTO accounts (id, username, password_hash, display_name, role) "
    "VALUES (1, 'olga', 'x', 'Olga Owner', 'grid_user')",
    "INSERT INTO access_points (id, ean, energy_type, meter_type, metering, gvm, content_hash) "
    "VALUES (1, '541448800000000007', 'E', 'KM', 'metering-on-headpoint', true, 'h')",
    "INSERT INTO mandates (id, organisation_id, ean, access_point_id, reference_number, channel, "
    "energy_type, data_service_type, data_period_from, data_period_to, expiration_date, status, "
    "source, grid_user_account_id, given_by_account_id) VALUES "
    "(1, 1, '541448800000000007', 1, 'nps-1', 'nps', 'E', 'VH_kwartier_uur', "
    "'2026-01-01', '2027-01-01', '2027-01-01', 'approved', 'signed', 1, 1), "
    "(2, 1, '541448800000000007', 1, 'history-export-1', 'annual_history', 'E', "
    "'VH_kwartier_uur', '2025-01-01', '2026-01-01', '2027-01-01', 'approved', 'signed', 1, 1)",
    "INSERT INTO nps_requests (id, organisation_id, reference_number, submitted_by, item_count, "
    "accepted_count) VALUES (1, 1, 'nps-1', 'client-a', 1, 1)",
    "INSERT INTO nps_request_items (request_id, organisation_id, position, ean, outcome, source, "
    "mandate_id, signatory_name, signatory_capacity, signed_on, data_period_from, "
    "data_period_to, document_sha256) VALUES (1, 1, 0, '541448800000000007', 'accepted', "
    "'signed', 1, 'Olga Owner', 'grid_user', '2026-01-15', '2026-01-01', '2026-12-31', "
    "repeat('a', 64))",
    "INSERT INTO history_exports (id, organisation_id, quota_year, reference_number, "
    "requested_by, period_from, period_to, format, status, created_at) VALUES "
    "(1, 1, 2026, 'hx', 'client-a', '2025-01-01', '2025-12-31', 'csv', 'ready', now())",
    "INSERT INTO history_export_items (export_id, position, ean, gvm, mandate_id, "
    "signatory_name, signed_on, document_sha256) VALUES "
    "(1, 0, '541448800000000007', true, 2, 'Olga Owner', '2026-01-15', repeat('b', 64))",
]


async def test_the_migration_records_the_paper_mandates_registered_before_it(
    server_url: str,
) -> None:
    import asyncio

    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from datahub_api.schema_migrations import alembic_config, upgrade_to_head

    from ..support.database import create_scratch_database

    url = await create_scratch_database(server_url, "paper_backfill")
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0015")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in BEFORE_PAPER_MANDATES:
                await connection.execute(text(statement))
        await asyncio.to_thread(upgrade_to_head, url)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT mandate_id, channel, registered_by, signed_by_grid_user, "
                        "document_sha256, name_check, hold FROM paper_mandates "
                        "ORDER BY mandate_id"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [
        (1, "nps", "client-a", True, "a" * 64, "matched", None),
        (2, "annual_history", "client-a", True, "b" * 64, "matched", None),
    ]
