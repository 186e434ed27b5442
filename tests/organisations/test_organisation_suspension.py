"""Suspending an organisation (issue 15 item 4): the operator's action on every face (API,
CLI, portal), and while suspended (or closed, or under a terminated contract) the
organisation's clients and staff read nothing and change nothing, on every face."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from datahub_api.accounts.models import AccountRole
from datahub_api.app import create_app
from datahub_api.audit.models import AuditRecord
from datahub_api.settings import Settings

from ..support.cli import run_cli
from ..support.consent_world import ConsentWorld, field, make_consent_world, make_person
from ..support.database import create_scratch_database
from ..support.environment import make_settings
from ..support.esp_portal_world import make_staff
from ..support.history_export_world import entry, make_export_world, request_export, run_jobs
from ..support.parties import auth_headers, reload_grants
from ..support.portal import portal_browser, post_form
from ..support.reading_world import mandate
from ..support.route_table import PORTAL_PAGES, portal_operations

ESP_ROUTES = [operation for operation, kind in PORTAL_PAGES.items() if kind == "esp"]
SUSPEND = "/api/v1/operator/organisations/{}/suspend"
RESUME = "/api/v1/operator/organisations/{}/resume"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(history_export_dir=tmp_path / "exports")


async def _suspend(
    client: httpx.AsyncClient, world: ConsentWorld, reason: str = "unpaid invoices"
) -> httpx.Response:
    return await client.post(
        SUSPEND.format(world.esp_a.enterprise_number),
        json={"reason": reason},
        headers=world.operator_headers,
    )


# --- the machine faces: /v3, /api/v1, NPS, history exports ------------------------------

# What ESP A's backend may do before and after, and is refused in between.
PROBES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/organisation", None),
    ("GET", "/api/v1/mandates", None),
    ("GET", "/api/v1/contracts", None),
    ("GET", "/api/v1/events", None),
    ("GET", "/api/v1/nps/daily-files", None),
    ("GET", "/api/v1/nps/requests", None),
    ("GET", "/api/v1/history-exports", None),
    ("GET", "/v3/api/mandate", None),
]


async def test_suspension_refuses_every_face_and_resumption_restores(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await make_consent_world(app, client)
    await mandate(app, client, world.esp_a, world.owner, world.owner_ean)
    headers_a = await auth_headers(client, world.esp_a)  # a token from before
    headers_b = await auth_headers(client, world.esp_b)
    for method, path, body in PROBES:
        before = await client.request(method, path, headers=headers_a, json=body)
        assert before.status_code in (200, 404), (path, before.text)  # v3: 404 = none found

    # Only an operator may suspend; a reason is required; unknown numbers are 404.
    by_esp = await client.post(
        SUSPEND.format(world.esp_a.enterprise_number), json={"reason": "x"}, headers=headers_b
    )
    assert by_esp.status_code == 403
    assert by_esp.headers["content-type"].startswith("application/problem+json")
    no_reason = await _suspend(client, world, reason="   ")
    assert no_reason.status_code == 422
    unknown = await client.post(
        SUSPEND.format("0403170701"), json={"reason": "x"}, headers=world.operator_headers
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")

    suspended = await _suspend(client, world)
    assert suspended.status_code == 200, suspended.text
    body = suspended.json()
    assert body["status"] == "suspended"
    change = body["last_status_change"]
    assert change["reason"] == "unpaid invoices"
    assert change["from_status"] == "active"
    assert change["to_status"] == "suspended"
    assert change["by"]
    assert change["at"]
    again = await _suspend(client, world)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")

    for method, path, body_ in PROBES:
        refused = await client.request(method, path, headers=headers_a, json=body_)
        assert refused.status_code == 401, (path, refused.text)
    # Nothing changes either: a new client, the organisation's settings.
    created = await client.post("/api/v1/clients", json={"name": "sneaky"}, headers=headers_a)
    assert created.status_code == 401
    patched = await client.patch(
        "/api/v1/organisation", json={"contact_email": "new@esp.example"}, headers=headers_a
    )
    assert patched.status_code == 401
    # A fresh token carries no scope; ESP B is untouched.
    fresh = await client.post(
        "/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": world.esp_a.client_id,
            "client_secret": world.esp_a.client_secret,
        },
    )
    if fresh.status_code == 200:
        assert fresh.json()["scope"] == ""
        fresh_headers = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
        assert (await client.get("/api/v1/mandates", headers=fresh_headers)).status_code == 401
    assert (await client.get("/api/v1/mandates", headers=headers_b)).status_code == 200

    listed = await client.get("/api/v1/operator/organisations", headers=world.operator_headers)
    mine = [o for o in listed.json() if o["enterprise_number"] == world.esp_a.enterprise_number]
    assert mine[0]["status"] == "suspended"
    assert mine[0]["last_status_change"]["reason"] == "unpaid invoices"

    resumed = await client.post(
        RESUME.format(world.esp_a.enterprise_number),
        json={"reason": "paid"},
        headers=world.operator_headers,
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "active"
    twice = await client.post(
        RESUME.format(world.esp_a.enterprise_number), headers=world.operator_headers
    )
    assert twice.status_code == 409
    for method, path, body_ in PROBES:
        after = await client.request(method, path, headers=headers_a, json=body_)
        assert after.status_code in (200, 404), (path, after.text)
    organisation = await client.get("/api/v1/organisation", headers=headers_a)
    assert organisation.json()["contact_email"] != "new@esp.example"

    # Told to the organisation (its feed, readable again), audited with the reason.
    events = await client.get(
        "/api/v1/events",
        params={"types": "organisation.suspended,organisation.resumed"},
        headers=headers_a,
    )
    assert events.status_code == 200, events.text
    items = events.json()["items"]
    assert [e["type"] for e in items] == ["organisation.suspended", "organisation.resumed"]
    assert items[0]["data"]["reason"] == "unpaid invoices"
    async with app.state.database.read_sessions() as session:
        records = list(
            (
                await session.scalars(
                    select(AuditRecord)
                    .where(AuditRecord.action.in_(["organisation.suspend", "organisation.resume"]))
                    .order_by(AuditRecord.id)
                )
            ).all()
        )
    assert [(r.action, r.target, r.outcome) for r in records] == [
        ("organisation.suspend", world.esp_a.enterprise_number, "ok"),
        ("organisation.resume", world.esp_a.enterprise_number, "ok"),
    ]
    assert records[0].detail == {"reason": "unpaid invoices"}
    assert records[0].actor == change["by"]


async def test_a_ready_history_export_is_not_downloadable_while_suspended(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await make_export_world(app, client)
    nps = world.nps
    created = await request_export(client, nps.a, [entry(nps.owner_ean)])
    assert created.status_code == 201, created.text
    await run_jobs(app)
    file_path = f"/api/v1/history-exports/{created.json()['id']}/file"
    assert (await client.get(file_path, headers=nps.a)).status_code == 200
    suspended = await client.post(
        SUSPEND.format(nps.esp_a.enterprise_number),
        json={"reason": "audit"},
        headers=nps.operator,
    )
    assert suspended.status_code == 200, suspended.text
    assert (await client.get(file_path, headers=nps.a)).status_code == 401
    assert (await client.get("/api/v1/nps/daily-files", headers=nps.a)).status_code == 401
    staff = await make_staff(app, "sam.esp-a", nps.esp_a)
    browser = await portal_browser(app, staff.username)
    try:
        by_cookie = await browser.get(file_path)
        assert by_cookie.status_code == 403
        assert by_cookie.headers["content-type"].startswith("application/problem+json")
        assert (await browser.get("/portal/esp/history-exports")).status_code == 403
    finally:
        await browser.aclose()
    resumed = await client.post(RESUME.format(nps.esp_a.enterprise_number), headers=nps.operator)
    assert resumed.status_code == 200
    assert (await client.get(file_path, headers=nps.a)).status_code == 200


# --- the portal: every ESP page, GET and POST --------------------------------------------

SNAPSHOT = {
    "contracts": "SELECT number, status, channels FROM data_access_contracts "
    "WHERE organisation_id = :org ORDER BY id",
    "clients": "SELECT client_id, revoked_at FROM api_clients WHERE organisation_id = :org "
    "ORDER BY id",
    "secrets": "SELECT count(*) FROM client_secrets",
    "keys": "SELECT key, revoked_at FROM subscription_keys WHERE organisation_id = :org "
    "ORDER BY id",
    "webhooks": "SELECT id, url FROM webhook_endpoints WHERE organisation_id = :org",
    "reads": "SELECT count(*) FROM data_read_records",
    "organisation": "SELECT contact_email, status FROM organisations WHERE id = :org",
}


async def _snapshot(app: FastAPI, organisation_id: int) -> dict[str, list[tuple[Any, ...]]]:
    async with app.state.database.read_sessions() as session:
        return {
            name: [tuple(row) for row in await session.execute(text(sql), {"org": organisation_id})]
            for name, sql in SNAPSHOT.items()
        }


# The pages a terminated contract leaves open: those of the `contracts` scope every admitted
# ESP holds (as on the API: its contracts, clients and organisation).
CONTRACT_SCOPE_ROUTES = {
    "GET /portal/esp/contracts",
    "POST /portal/esp/contracts",
    "POST /portal/esp/contracts/{number}/withdraw",
    "POST /portal/esp/contracts/{number}/rotate-key",
    "GET /portal/esp/clients",
    "POST /portal/esp/clients",
    "POST /portal/esp/clients/{client_id}/rotate",
    "POST /portal/esp/clients/{client_id}/revoke",
}


async def _make_closed(app: FastAPI, world: ConsentWorld, client: httpx.AsyncClient) -> None:
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE organisations SET status = 'closed' WHERE id = :org"),
            {"org": world.esp_a.organisation_id},
        )
        await session.commit()
    await reload_grants(app)


async def _terminate(app: FastAPI, world: ConsentWorld, client: httpx.AsyncClient) -> None:
    answer = await client.post(
        f"/api/v1/operator/contracts/{world.esp_a.contract_number}/terminate",
        json={"reason": "breach"},
        headers=world.operator_headers,
    )
    assert answer.status_code == 200, answer.text


async def _suspend_a(app: FastAPI, world: ConsentWorld, client: httpx.AsyncClient) -> None:
    assert (await _suspend(client, world)).status_code == 200


STATES = {"suspended": _suspend_a, "closed": _make_closed, "terminated": _terminate}
REFUSAL_TEXT = {
    "suspended": "geschorst",
    "closed": "afgesloten",
    "terminated": "Geen goedgekeurd contract",
}


def test_the_matrix_covers_every_esp_page() -> None:
    """The isolation matrix's ESP pages are every page under /portal/esp/ (a new page joins
    the refusal test below by being classified there)."""
    app = create_app(make_settings(), database_url="postgresql://x/y")
    operations = portal_operations(app)
    under_esp = {op for op in operations if op.split(" ", 1)[1].startswith("/portal/esp")}
    assert under_esp == set(ESP_ROUTES)
    assert set(CONTRACT_SCOPE_ROUTES) < set(ESP_ROUTES)


@pytest.mark.parametrize("state", list(STATES))
async def test_esp_portal_pages_refuse_staff_of_a_suspended_closed_or_terminated_esp(
    app: FastAPI, client: httpx.AsyncClient, state: str
) -> None:
    """Every ESP page of the isolation matrix, GET and POST (with a valid CSRF token and
    ESP A's own objects, so that a missed check would show or change something): the
    refusal page, and afterwards nothing changed. Under a terminated contract the pages of
    the `contracts` scope stay open, as on the API."""
    from datahub_api.webhooks.models import WebhookEndpoint

    world = await make_consent_world(app, client)
    await mandate(app, client, world.esp_a, world.owner, world.owner_ean)
    async with app.state.database.write_sessions() as session:
        endpoint = WebhookEndpoint(
            organisation_id=world.esp_a.organisation_id,
            url="https://esp-a.example/hook",
            event_types=["mandate.approved"],
            secret="whsec_suspension",
        )
        session.add(endpoint)
        await session.commit()
    staff = await make_staff(app, "sara.esp-a", world.esp_a)
    values = {
        "ean": world.owner_ean,
        "number": str(world.esp_a.contract_number),
        "client_id": world.esp_a.client_id,
        "endpoint_id": str(endpoint.id),
    }
    browser = await portal_browser(app, staff.username)
    try:
        clients_page = await browser.get("/portal/esp/clients")
        token = field(clients_page.text, "csrf_token")
        chart = await browser.get(f"/portal/esp/access-points/{world.owner_ean}")
        assert chart.status_code == 200, chart.text  # the pages work before
        assert (await browser.get("/api/v1/mandates")).status_code == 200

        await STATES[state](app, world, client)
        before = await _snapshot(app, world.esp_a.organisation_id)
        for operation in ESP_ROUTES:
            method, template = operation.split(" ", 1)
            path = template
            for name, value in values.items():
                path = path.replace("{" + name + "}", value)
            open_anyway = state == "terminated" and operation in CONTRACT_SCOPE_ROUTES
            if open_anyway and method == "POST":
                continue  # changes the API allows too (apply anew, manage clients)
            data = (
                {"csrf_token": token, "name": "sneaky", "channels": "api"}
                if method == "POST"
                else None
            )
            answer = await browser.request(method, path, data=data)
            if open_anyway:
                assert answer.status_code == 200, (operation, answer.status_code)
            elif state == "terminated" and operation == "GET /portal/esp/":
                assert answer.status_code == 303, operation
                assert answer.headers["location"] == "/portal/esp/contracts"
            else:
                assert answer.status_code == 403, (operation, answer.status_code)
                assert REFUSAL_TEXT[state] in answer.text, operation
                shown = answer.text.replace(path, "")  # the language links repeat the path
                assert world.owner_ean not in shown, operation
                assert "esp-a.example/hook" not in shown, operation
        assert await _snapshot(app, world.esp_a.organisation_id) == before

        # /api/v1 with the session cookie: the same refusals as the portal's.
        mandates = await browser.get("/api/v1/mandates")
        assert mandates.status_code == 403, mandates.text
        assert mandates.headers["content-type"].startswith("application/problem+json")
        own = await browser.get("/api/v1/organisation")
        assert own.status_code == (200 if state == "terminated" else 403)
        # The logout still works.
        assert (await browser.post("/portal/logout", data={"csrf_token": token})).status_code == 303
    finally:
        await browser.aclose()
    # ESP B's staff are untouched.
    other = await make_staff(app, "bob.esp-b", world.esp_b)
    browser_b = await portal_browser(app, other.username)
    try:
        assert (await browser_b.get("/portal/esp/access-points")).status_code == 200
    finally:
        await browser_b.aclose()


async def test_resumed_staff_see_their_pages_again(app: FastAPI, client: httpx.AsyncClient) -> None:
    world = await make_consent_world(app, client)
    await mandate(app, client, world.esp_a, world.owner, world.owner_ean)
    staff = await make_staff(app, "rita.esp-a", world.esp_a)
    browser = await portal_browser(app, staff.username)
    try:
        assert (await _suspend(client, world)).status_code == 200
        refused = await browser.get("/portal/esp/access-points")
        assert refused.status_code == 403
        assert world.owner_ean not in refused.text
        resumed = await client.post(
            RESUME.format(world.esp_a.enterprise_number), headers=world.operator_headers
        )
        assert resumed.status_code == 200
        shown = await browser.get("/portal/esp/access-points")
        assert shown.status_code == 200
        assert world.owner_ean in shown.text
    finally:
        await browser.aclose()


# --- the operator's faces: portal button and CLI ------------------------------------------


async def test_operator_suspends_and_resumes_in_the_portal(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await make_consent_world(app, client)
    operator = await make_person(app, "otto.operator", AccountRole.operator)
    page_path = "/portal/operator/organisations"
    suspend = f"{page_path}/{world.esp_a.enterprise_number}/suspend"
    resume = f"{page_path}/{world.esp_a.enterprise_number}/resume"
    browser = await portal_browser(app, operator.username)
    try:
        listed = await browser.get(page_path)
        assert listed.status_code == 200
        assert world.esp_a.enterprise_number in listed.text
        assert f'action="{suspend}"' in listed.text
        forged = await browser.post(suspend, data={"csrf_token": "forged", "reason": "x"})
        assert forged.status_code == 403
        no_reason = await post_form(browser, page_path, suspend, reason=" ")
        assert no_reason.status_code == 422
        status = await client.get("/api/v1/operator/organisations", headers=world.operator_headers)
        assert {o["status"] for o in status.json()} == {"active"}  # nothing changed

        done = await post_form(browser, page_path, suspend, reason="fraud inquiry")
        assert done.status_code == 303
        shown = await browser.get(done.headers["location"])
        assert "fraud inquiry" in shown.text
        assert f"user:{operator.id}" in shown.text
        assert f'action="{resume}"' in shown.text
        listed_api = await client.get(
            "/api/v1/operator/organisations", headers=world.operator_headers
        )
        mine = {o["enterprise_number"]: o for o in listed_api.json()}[world.esp_a.enterprise_number]
        assert mine["status"] == "suspended"
        assert mine["last_status_change"]["by"] == f"user:{operator.id}"
        headers_a = await auth_headers(client, world.esp_a)
        assert (await client.get("/api/v1/mandates", headers=headers_a)).status_code == 401

        again = await post_form(browser, page_path, suspend, reason="again")
        assert again.status_code == 409
        back = await post_form(browser, page_path, resume)
        assert back.status_code == 303
        # (The token taken while suspended carries no scope; a new one reads again.)
        headers_a = await auth_headers(client, world.esp_a)
        assert (await client.get("/api/v1/mandates", headers=headers_a)).status_code == 200
    finally:
        await browser.aclose()
    esp_staff = await make_staff(app, "eve.esp-b", world.esp_b)
    esp_browser = await portal_browser(app, esp_staff.username)
    try:
        assert (await esp_browser.get(page_path)).status_code == 403
    finally:
        await esp_browser.aclose()


async def test_cli_suspends_and_resumes(server_url: str, tmp_path: Path) -> None:
    url = await create_scratch_database(server_url, "suspension_cli")
    env = {"DATABASE_URL": url, "DATAHUB_DATA_DIR": str(tmp_path)}
    assert run_cli("migrate", env=env).returncode == 0
    made = run_cli(
        "organisations",
        "create",
        "--name",
        "Coach",
        "--enterprise-number",
        "0403.170.701",
        "--email",
        "ops@coach.example",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    no_reason = run_cli("organisations", "suspend", "0403.170.701", "--reason", " ", env=env)
    assert no_reason.returncode == 2
    suspended = run_cli("organisations", "suspend", "BE0403170701", "--reason", "unpaid", env=env)
    assert suspended.returncode == 0, suspended.stderr
    body = json.loads(suspended.stdout)
    assert body["status"] == "suspended"
    assert body["reason"] == "unpaid"
    assert body["by"].startswith("cli:")
    twice = run_cli("organisations", "suspend", "0403170701", "--reason", "again", env=env)
    assert twice.returncode == 1
    assert "Traceback" not in twice.stderr
    unknown = run_cli("organisations", "resume", "0403.170.800", env=env)
    assert unknown.returncode == 1
    assert "Traceback" not in unknown.stderr
    resumed = run_cli("organisations", "resume", "0403170701", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "active"
