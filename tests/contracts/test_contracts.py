"""Organisations, contracts and API clients: the lifecycle, the refusals, and isolation
between ESPs (per route)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from datahub_api.audit.models import AuditRecord
from datahub_api.auth.principal import Role
from datahub_api.contracts.models import Channel
from datahub_api.organisations import enterprise_number

from ..support.parties import Esp, auth_headers, make_esp, make_machine_client


@pytest.fixture
async def operator_headers(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    return await auth_headers(client, await make_machine_client(app, Role.operator))


@pytest.fixture
async def esp_a(app: FastAPI) -> Esp:
    return await make_esp(app, "ESP A", channels=[Channel.api, Channel.portal])


@pytest.fixture
async def esp_b(app: FastAPI) -> Esp:
    return await make_esp(app, "ESP B", channels=[Channel.api])


# --- enterprise numbers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["0403.170.701", "BE0403170701", "be 0403170701", "0403170701", "403.170.701"]
)
def test_enterprise_number_spellings(spelling: str) -> None:
    assert enterprise_number.canonical(spelling) == "0403170701"


@pytest.mark.parametrize(
    "spelling", ["0403.170.702", "12345", "BE04031707011", "abcdefghij", "2403.170.701", ""]
)
def test_invalid_enterprise_numbers(spelling: str) -> None:
    with pytest.raises(enterprise_number.InvalidEnterpriseNumber):
        enterprise_number.canonical(spelling)


async def test_operator_registers_an_organisation(
    client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    body = {
        "name": "Energie Coach",
        "enterprise_number": "BE0403.170.701",
        "contact_email": "ops@coach.example",
    }
    created = await client.post(
        "/api/v1/operator/organisations", json=body, headers=operator_headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["enterprise_number"] == "0403170701"
    assert created.json()["enterprise_number_formatted"] == "0403.170.701"
    duplicate = await client.post(
        "/api/v1/operator/organisations", json=body, headers=operator_headers
    )
    assert duplicate.status_code == 409
    invalid = await client.post(
        "/api/v1/operator/organisations",
        json={**body, "enterprise_number": "0403.170.702"},
        headers=operator_headers,
    )
    assert invalid.status_code == 422
    assert "check number" in invalid.text


# --- the contract lifecycle -----------------------------------------------------------


async def _apply(
    client: httpx.AsyncClient, headers: dict[str, str], channels: list[str]
) -> httpx.Response:
    return await client.post("/api/v1/contracts", json={"channels": channels}, headers=headers)


async def test_every_transition_and_every_refused_transition(
    app: FastAPI, client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    esp = await make_esp(app, "Newcomer", channels=[])
    headers = await auth_headers(client, esp)
    applied = await _apply(client, headers, ["nps", "annual_history"])
    assert applied.status_code == 201, applied.text
    number = applied.json()["number"]
    assert len(number) == 10
    assert number.isdigit()
    assert applied.json()["status"] == "requested"

    async def operator(action: str, reason: str | None = "checked by the DSO") -> httpx.Response:
        body = {"reason": reason} if reason else None
        return await client.post(
            f"/api/v1/operator/contracts/{number}/{action}", json=body, headers=operator_headers
        )

    # From requested: suspend, resume and terminate are refused; reject needs a reason.
    for refused in ("suspend", "resume", "terminate"):
        assert (await operator(refused)).status_code == 409, refused
    assert (await operator("reject", None)).status_code == 422
    approved = await operator("approve", None)
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    # From approved: approve, reject, resume and withdraw are refused.
    for refused in ("approve", "reject", "resume"):
        assert (await operator(refused)).status_code == 409, refused
    withdraw = await client.post(f"/api/v1/contracts/{number}/withdraw", headers=headers)
    assert withdraw.status_code == 409
    assert (await operator("suspend")).json()["status"] == "suspended"
    assert (await operator("suspend")).status_code == 409
    assert (await operator("resume", None)).json()["status"] == "approved"
    assert (await operator("suspend")).json()["status"] == "suspended"
    terminated = await operator("terminate")
    assert terminated.json()["status"] == "terminated"
    # Terminated is final.
    for refused in ("approve", "reject", "suspend", "resume", "terminate"):
        assert (await operator(refused)).status_code == 409, refused

    history = terminated.json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "requested"),
        ("requested", "approved"),
        ("approved", "suspended"),
        ("suspended", "approved"),
        ("approved", "suspended"),
        ("suspended", "terminated"),
    ]
    assert history[-1]["reason"] == "checked by the DSO"
    assert all(h["actor"] for h in history)

    # A terminated contract no longer covers its channels: the ESP may apply again.
    assert (await _apply(client, headers, ["nps"])).status_code == 201


async def test_withdraw_and_reject_pending_applications(
    app: FastAPI, client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    esp = await make_esp(app, "Newcomer", channels=[])
    headers = await auth_headers(client, esp)
    first = (await _apply(client, headers, ["portal"])).json()["number"]
    withdrawn = await client.post(f"/api/v1/contracts/{first}/withdraw", headers=headers)
    assert withdrawn.json()["status"] == "withdrawn"
    second = (await _apply(client, headers, ["portal"])).json()["number"]
    rejected = await client.post(
        f"/api/v1/operator/contracts/{second}/reject",
        json={"reason": "no landing page yet"},
        headers=operator_headers,
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["history"][-1]["reason"] == "no landing page yet"
    assert (
        await client.post(f"/api/v1/contracts/{second}/withdraw", headers=headers)
    ).status_code == 409


async def test_applying_for_a_covered_channel_is_409(client: httpx.AsyncClient, esp_a: Esp) -> None:
    headers = await auth_headers(client, esp_a)
    overlapping = await _apply(client, headers, ["api", "nps"])
    assert overlapping.status_code == 409
    assert overlapping.json()["contract_number"] == esp_a.contract_number
    assert "api" in overlapping.json()["detail"]
    pending = await _apply(client, headers, ["nps"])
    assert pending.status_code == 201
    again = await _apply(client, headers, ["nps"])  # the pending one covers it now
    assert again.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"channels": []},
        {"channels": ["api", "api"]},
        {"channels": ["email"]},
        {"channels": ["api"], "valid_from": "2026-05-01", "valid_to": "2026-04-01"},
        {"channels": ["api"], "surprise": 1},
    ],
)
async def test_malformed_applications_are_422(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    esp = await make_esp(app, "Newcomer", channels=[])
    response = await client.post(
        "/api/v1/contracts", json=body, headers=await auth_headers(client, esp)
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    async with app.state.database.read_sessions() as session:
        count = await session.scalar(text("SELECT count(*) FROM data_access_contracts"))
    assert count == 0  # nothing half-made


async def test_idempotency_key_replays_and_conflicts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    esp = await make_esp(app, "Newcomer", channels=[])
    headers = {**await auth_headers(client, esp), "Idempotency-Key": "apply-1"}
    first = await client.post("/api/v1/contracts", json={"channels": ["portal"]}, headers=headers)
    replay = await client.post("/api/v1/contracts", json={"channels": ["portal"]}, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    other = await client.post("/api/v1/contracts", json={"channels": ["nps"]}, headers=headers)
    assert other.status_code == 409
    listed = await client.get("/api/v1/contracts", headers=headers)
    assert len(listed.json()["items"]) == 1


async def test_api_approval_issues_a_subscription_key_and_termination_revokes_it(
    app: FastAPI, client: httpx.AsyncClient, operator_headers: dict[str, str]
) -> None:
    esp = await make_esp(app, "Newcomer", channels=[])
    headers = await auth_headers(client, esp)
    number = (await _apply(client, headers, ["api"])).json()["number"]
    assert (
        await client.get(f"/api/v1/contracts/{number}/subscription-key", headers=headers)
    ).status_code == 404
    await client.post(f"/api/v1/operator/contracts/{number}/approve", headers=operator_headers)
    key = await client.get(f"/api/v1/contracts/{number}/subscription-key", headers=headers)
    assert key.status_code == 200
    assert len(key.json()["subscription_key"]) == 32
    await client.post(
        f"/api/v1/operator/contracts/{number}/terminate",
        json={"reason": "ended"},
        headers=operator_headers,
    )
    assert (
        await client.get(f"/api/v1/contracts/{number}/subscription-key", headers=headers)
    ).status_code == 404


async def test_operator_actions_and_refusals_are_audited(
    app: FastAPI, client: httpx.AsyncClient, operator_headers: dict[str, str], esp_a: Esp
) -> None:
    esp_headers = await auth_headers(client, esp_a)
    refused = await client.get("/api/v1/operator/contracts", headers=esp_headers)
    assert refused.status_code == 403
    await client.post(
        f"/api/v1/operator/contracts/{esp_a.contract_number}/suspend",
        json={"reason": "audit"},
        headers=operator_headers,
    )
    async with app.state.database.read_sessions() as session:
        records = list((await session.scalars(select(AuditRecord).order_by(AuditRecord.id))).all())
    assert any(
        r.action == "contract.suspend" and r.target == esp_a.contract_number and r.outcome == "ok"
        for r in records
    )
    assert any(
        r.outcome == "refused" and r.actor == esp_a.client_id and r.detail["status"] == 403
        for r in records
    )


async def test_the_audit_trail_is_append_only(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp
) -> None:
    await client.get("/api/v1/operator/contracts", headers=await auth_headers(client, esp_a))
    async with app.state.database.write_sessions() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("UPDATE audit_records SET actor = 'someone else'"))
        await session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("DELETE FROM audit_records"))


async def test_operator_lists_pending_applications(
    app: FastAPI, client: httpx.AsyncClient, operator_headers: dict[str, str], esp_a: Esp
) -> None:
    pending = await make_esp(app, "Pending", approve=False)
    listed = await client.get(
        "/api/v1/operator/contracts?status=requested", headers=operator_headers
    )
    assert [c["number"] for c in listed.json()["items"]] == [pending.contract_number]
    every = await client.get("/api/v1/operator/contracts?limit=1", headers=operator_headers)
    assert len(every.json()["items"]) == 1
    rest = await client.get(
        f"/api/v1/operator/contracts?limit=1&cursor={every.json()['next_cursor']}",
        headers=operator_headers,
    )
    assert rest.json()["items"][0]["number"] != every.json()["items"][0]["number"]
    bad_cursor = await client.get("/api/v1/operator/contracts?cursor=%%%", headers=operator_headers)
    assert bad_cursor.status_code == 422


# --- isolation: ESP B never sees or changes ESP A's contracts or clients ---------------


async def test_esp_b_cannot_touch_esp_a_contracts(
    client: httpx.AsyncClient, esp_a: Esp, esp_b: Esp
) -> None:
    headers_b = await auth_headers(client, esp_b)
    listed = await client.get("/api/v1/contracts", headers=headers_b)
    assert [c["number"] for c in listed.json()["items"]] == [esp_b.contract_number]
    missing = "9999999999"
    for path in (
        "/api/v1/contracts/{n}",
        "/api/v1/contracts/{n}/subscription-key",
    ):
        theirs = await client.get(path.format(n=esp_a.contract_number), headers=headers_b)
        nothing = await client.get(path.format(n=missing), headers=headers_b)
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.json()["detail"].replace(esp_a.contract_number, "N") == nothing.json()[
            "detail"
        ].replace(missing, "N")
    withdraw = await client.post(
        f"/api/v1/contracts/{esp_a.contract_number}/withdraw", headers=headers_b
    )
    assert withdraw.status_code == 404


async def test_esp_b_cannot_touch_esp_a_clients(
    client: httpx.AsyncClient, esp_a: Esp, esp_b: Esp
) -> None:
    headers_b = await auth_headers(client, esp_b)
    listed = await client.get("/api/v1/clients", headers=headers_b)
    assert [c["client_id"] for c in listed.json()] == [esp_b.client_id]
    for method, path, body in (
        ("GET", "/api/v1/clients/{c}", None),
        ("POST", "/api/v1/clients/{c}/rotate-secret", None),
        ("POST", "/api/v1/clients/{c}/revoke", None),
        ("POST", "/api/v1/clients/{c}/certificates", {"certificate_pem": "-" * 60}),
    ):
        theirs = await client.request(
            method, path.format(c=esp_a.client_id), headers=headers_b, json=body
        )
        nothing = await client.request(
            method, path.format(c="no-such-client"), headers=headers_b, json=body
        )
        assert theirs.status_code == nothing.status_code == 404, path
        assert theirs.json()["detail"] == nothing.json()["detail"]
    # ESP A's secret still works: nothing was rotated or revoked.
    assert await auth_headers(client, esp_a)


async def test_esps_cannot_use_operator_routes(client: httpx.AsyncClient, esp_a: Esp) -> None:
    headers = await auth_headers(client, esp_a)
    for method, path in (
        ("GET", "/api/v1/operator/contracts"),
        ("POST", f"/api/v1/operator/contracts/{esp_a.contract_number}/approve"),
        ("GET", "/api/v1/operator/organisations"),
        ("POST", "/api/v1/operator/clients"),
    ):
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 403, path


async def test_esp_manages_its_organisation(client: httpx.AsyncClient, esp_a: Esp) -> None:
    headers = await auth_headers(client, esp_a)
    own = await client.get("/api/v1/organisation", headers=headers)
    assert own.json()["enterprise_number"] == esp_a.enterprise_number
    updated = await client.patch(
        "/api/v1/organisation",
        json={"return_url_prefixes": ["https://app.esp-a.example/consent/"]},
        headers=headers,
    )
    assert updated.json()["return_url_prefixes"] == ["https://app.esp-a.example/consent/"]
    plain_http = await client.patch(
        "/api/v1/organisation",
        json={"return_url_prefixes": ["http://esp-a.example/"]},
        headers=headers,
    )
    assert plain_http.status_code == 422


async def test_operator_creates_clients_of_every_role(
    client: httpx.AsyncClient, operator_headers: dict[str, str], esp_a: Esp
) -> None:
    made = await client.post(
        "/api/v1/operator/clients",
        json={
            "name": "second backend",
            "role": "esp",
            "organisation_enterprise_number": esp_a.enterprise_number,
        },
        headers=operator_headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["client_secret"]
    head_end = await client.post(
        "/api/v1/operator/clients",
        json={"name": "head-end 2", "role": "head_end"},
        headers=operator_headers,
    )
    assert head_end.json()["role"] == "head_end"
    orphan = await client.post(
        "/api/v1/operator/clients", json={"name": "x", "role": "esp"}, headers=operator_headers
    )
    assert orphan.status_code == 422
    listed = await client.get("/api/v1/clients", headers=await auth_headers(client, esp_a))
    assert len(listed.json()) == 2
