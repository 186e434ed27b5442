"""Consent sessions, co-consent and mandates on both faces: the full story, the refusals,
the races and the isolation between ESPs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.fluvius_v3 import repository as v3_repository
from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import MandateStatus, RenewalStatus

from ..support.access_point_data import access_point_body
from ..support.consent_world import (
    ConsentWorld,
    consent_request,
    decide,
    log_in,
    make_consent_world,
    open_consent,
    owner_mandate,
)
from ..support.parties import Esp, auth_headers

SHORT_URL = "/v3/api/shortUrlIdentifier"


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


def session_request(esp: Esp, **over: Any) -> dict[str, Any]:
    return consent_request(esp, **over)


async def open_session(client: httpx.AsyncClient, esp: Esp, **over: Any) -> str:
    return await open_consent(client, esp, **over)


async def v3_mandates(client: httpx.AsyncClient, esp: Esp, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"/v3/api/mandate{query}", headers=await auth_headers(client, esp))
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["mandates"])


async def native_mandates(
    client: httpx.AsyncClient, esp: Esp, query: str = ""
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/mandates{query}", headers=await auth_headers(client, esp))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_the_full_consent_story(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_session(client, world.esp_a)

    tenant = await log_in(app, world.tenant)
    try:
        shown = await tenant.get(f"/api/v1/consent-sessions/{identifier}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["requested_by"] == "ESP A"
        assert shown.json()["consent_url"].endswith(f"/consent/{identifier}")
        offered = {p["ean"]: p for p in shown.json()["your_access_points"]}
        assert set(offered) == set(world.tenant_eans)  # the KM meter is not offered
        assert not any(p["is_grid_user"] for p in offered.values())

        decided = await tenant.post(
            f"/api/v1/consent-sessions/{identifier}/decision",
            json={"decision": "approve", "eans": world.tenant_eans},
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["redirect_url"] == "https://esp.example/consent/ok"
        assert [m["status"] for m in decided.json()["mandates"]] == ["requested", "requested"]
        assert all(m["waiting_for_grid_user"] for m in decided.json()["mandates"])
    finally:
        await tenant.aclose()

    # Requested on both faces.
    assert sorted(m["status"] for m in await v3_mandates(client, world.esp_a)) == [
        "Requested",
        "Requested",
    ]
    native = await native_mandates(client, world.esp_a)
    assert sorted(m["status"] for m in native) == ["requested", "requested"]
    by_ean = {m["ean"]: m for m in native}

    landlord = await log_in(app, world.landlord)
    try:
        inbox = (await landlord.get("/api/v1/co-consents")).json()
        assert len(inbox) == 2
        assert {task["requested_by"] for task in inbox} == {"ESP A"}
        assert {task["customer"] for task in inbox} == {"Tina Tenant"}
        task_of = {task["ean"]: task["id"] for task in inbox}
        first, second = world.tenant_eans
        approved = await landlord.post(
            f"/api/v1/co-consents/{task_of[first]}/decision", json={"decision": "approve"}
        )
        rejected = await landlord.post(
            f"/api/v1/co-consents/{task_of[second]}/decision", json={"decision": "reject"}
        )
        assert approved.status_code == rejected.status_code == 200
        again = await landlord.post(
            f"/api/v1/co-consents/{task_of[first]}/decision", json={"decision": "reject"}
        )
        assert again.status_code == 409
        assert (await landlord.get("/api/v1/co-consents")).json() == []
    finally:
        await landlord.aclose()

    v3 = {m["ean"]: m for m in await v3_mandates(client, world.esp_a)}
    assert v3[first]["status"] == "Approved"
    assert v3[second]["status"] == "Rejected"
    assert v3[first]["dataServiceType"] == "VH_kwartier_uur"
    assert v3[first]["referenceNumber"] == "customer-4711"
    native_after = {m["ean"]: m for m in await native_mandates(client, world.esp_a)}
    assert native_after[first]["status"] == "approved"
    assert native_after[second]["status"] == "rejected"
    assert native_after[first]["updated_at"] > by_ean[first]["updated_at"]
    approved_only = await v3_mandates(client, world.esp_a, "?status=Approved")
    assert [m["ean"] for m in approved_only] == [first]


async def test_the_owner_consents_alone(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_session(client, world.esp_a, numberOfEans=1)
    decided = await decide(app, world.owner, identifier, [world.owner_ean])
    assert decided.json()["mandates"][0]["status"] == "approved"
    assert (await v3_mandates(client, world.esp_a))[0]["status"] == "Approved"


async def test_polls_answer_304_until_something_changes(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    headers = await auth_headers(client, world.esp_a)
    first = await client.get("/api/v1/mandates", headers=headers)
    etag = first.headers["etag"]
    unchanged = await client.get("/api/v1/mandates", headers={**headers, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    identifier = await open_session(client, world.esp_a, numberOfEans=1)
    await decide(app, world.owner, identifier, [world.owner_ean])
    changed = await client.get("/api/v1/mandates", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert len(changed.json()["items"]) == 1
    # Another ESP's changes never touch this ESP's ETag.
    other = await client.get("/api/v1/mandates", headers=await auth_headers(client, world.esp_b))
    assert other.json()["items"] == []
    item = changed.json()["items"][0]
    one = await client.get(f"/api/v1/mandates/{item['id']}", headers=headers)
    assert (
        await client.get(
            f"/api/v1/mandates/{item['id']}",
            headers={**headers, "If-None-Match": one.headers["etag"]},
        )
    ).status_code == 304


async def test_cursor_paging_is_stable(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    headers = await auth_headers(client, world.esp_a)
    for reference in ("r1", "r2", "r3"):
        mocked = await client.post(
            "/v3/api/mandate/mock",
            json={
                "referenceNumber": reference,
                "ean": world.owner_ean,
                "dataServiceType": "VH_dag",
            },
            headers=headers,
        )
        assert mocked.status_code == 404  # not in sandbox mode
    app.state.settings = app.state.settings.model_copy(update={"sandbox": True})
    for reference in ("r1", "r2", "r3"):
        mocked = await client.post(
            "/v3/api/mandate/mock",
            json={
                "referenceNumber": reference,
                "ean": world.owner_ean,
                "dataServiceType": "VH_dag",
            },
            headers=headers,
        )
        assert mocked.status_code == 200, mocked.text
        assert mocked.json()["data"]["status"] == "success"
    page1 = (await client.get("/api/v1/mandates?limit=2", headers=headers)).json()
    assert len(page1["items"]) == 2
    page2 = (
        await client.get(f"/api/v1/mandates?limit=2&cursor={page1['next_cursor']}", headers=headers)
    ).json()
    assert [m["reference_number"] for m in page1["items"] + page2["items"]] == ["r1", "r2", "r3"]
    assert page2["next_cursor"] is None


async def test_sandbox_mock_makes_exactly_the_given_mandate(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"sandbox": True})
    headers = await auth_headers(client, world.esp_a)
    body = {
        "referenceNumber": "sandbox-1",
        "ean": world.tenant_eans[0],
        "dataServiceType": "VH_dag",
        "dataPeriodFrom": "2025-03-01T00:00:00Z",
        "dataPeriodTo": "2026-03-01T00:00:00Z",
        "status": "Finished",
        "mandateExpirationDate": "2026-03-01T00:00:00Z",
        "renewalStatus": "Expired",
    }
    made = await client.post("/v3/api/mandate/mock", json=body, headers=headers)
    assert made.status_code == 200, made.text
    mandates = await v3_mandates(client, world.esp_a, "?referenceNumber=sandbox-1")
    assert len(mandates) == 1
    assert mandates[0]["status"] == "Finished"
    assert mandates[0]["renewalStatus"] == "Expired"
    # A UTC midnight names its day, as on the energy reads: 1 March in Brussels.
    assert mandates[0]["dataPeriodFrom"] == "2025-02-28T23:00:00Z"
    assert mandates[0]["dataPeriodTo"] == "2026-02-28T23:00:00Z"
    unknown = await client.post(
        "/v3/api/mandate/mock", json={**body, "ean": "541448800000000000"}, headers=headers
    )
    assert unknown.status_code == 400


async def mandates_in_every_state(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> int:
    """Sandbox mandates of ESP A in every status and renewal status (instants with
    microseconds and offsets), plus one waiting for the grid user; how many."""
    app.state.settings = app.state.settings.model_copy(update={"sandbox": True})
    headers = await auth_headers(client, world.esp_a)
    cases = [
        (status, renewal)
        for status in ("Requested", "Approved", "Rejected", "Finished")
        for renewal in (None, "ToBeRenewed", "RenewalRequested", "Expired")
    ]
    for n, (status, renewal) in enumerate(cases):
        body = {
            "referenceNumber": f"body-{n}",
            "ean": world.tenant_eans[n % 2] if n % 3 else world.tenant_km_ean,
            "dataServiceType": ("VH_dag", "VH_kwartier_uur", "VH_onbepaald", "IG")[n % 4],
            "dataPeriodFrom": f"2025-03-01T0{n % 10}:00:00.123456+02:00",
            "dataPeriodTo": "2026-03-01T23:59:59.999999Z",
            "status": status,
            "mandateExpirationDate": "2026-03-02T00:00:00Z",
            **({"renewalStatus": renewal} if renewal else {}),
        }
        made = await client.post("/v3/api/mandate/mock", json=body, headers=headers)
        assert made.status_code == 200, made.text
    identifier = await open_session(client, world.esp_a, numberOfEans=1, referenceNumber="w")
    waiting = await decide(app, world.tenant, identifier, [world.tenant_eans[0]])
    assert waiting.json()["mandates"][0]["waiting_for_grid_user"] is True
    return len(cases) + 1


async def test_the_v3_body_written_by_postgresql_is_the_models_body(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    """`GET /v3/api/mandate` has PostgreSQL write its mandates; they must be exactly what
    the `Mandate` model writes, for every status and renewal status."""
    count = await mandates_in_every_state(app, client, world)
    served = await v3_mandates(client, world.esp_a)
    assert len(served) == count
    expected = []
    for item in await native_mandates(client, world.esp_a, "?limit=1000"):
        renewal = item["renewal_status"]
        expected.append(
            v3.Mandate(
                reference_number=item["reference_number"],
                status=v3_repository.STATUS_TO_V3[MandateStatus(item["status"])],
                ean=item["ean"],
                energy_type=v3.EnergyType(item["energy_type"]),
                data_period_from=datetime.fromisoformat(item["data_period_from"]),
                data_period_to=datetime.fromisoformat(item["data_period_to"]),
                data_service_type=v3.DataServiceType(item["data_service_type"]),
                mandate_expiration_date=datetime.fromisoformat(item["expiration_date"]),
                renewal_status=v3_repository.RENEWAL_TO_V3[RenewalStatus(renewal)]
                if renewal
                else None,
            ).model_dump(mode="json", by_alias=True, exclude_none=True)
        )
    assert served == expected
    assert [list(m) for m in served] == [list(m) for m in expected]  # member order too
    assert served[0]["dataPeriodFrom"] == "2025-02-28T22:00:00Z"


async def test_list_items_written_by_postgresql_are_the_models_items(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    """`GET /api/v1/mandates` has PostgreSQL write its items; each must be exactly what
    `GET /api/v1/mandates/{id}` (the `MandateOut` model) answers."""
    count = await mandates_in_every_state(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    listed = await native_mandates(client, world.esp_a, "?limit=1000")
    assert len(listed) == count
    assert any(item["waiting_for_grid_user"] for item in listed)
    for item in listed:
        one = (await client.get(f"/api/v1/mandates/{item['id']}", headers=headers)).json()
        assert item == one
        assert list(item) == list(one)  # member order too
    # Paged the same, the cursor goes on after the last item.
    first = (await client.get("/api/v1/mandates?limit=5", headers=headers)).json()
    assert [m["id"] for m in first["items"]] == [m["id"] for m in listed[:5]]
    rest = (
        await client.get(
            f"/api/v1/mandates?limit=1000&cursor={first['next_cursor']}", headers=headers
        )
    ).json()
    assert [m["id"] for m in rest["items"]] == [m["id"] for m in listed[5:]]
    assert rest["next_cursor"] is None
    empty = await client.get("/api/v1/mandates", headers=await auth_headers(client, world.esp_b))
    assert empty.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataAccessContractNumber": "0000000000"}, "No data-access contract"),
        ({"returnUrlSuccess": "https://evil.example/steal"}, "allow-list"),
        ({"numberOfEans": 0}, "numberOfEans"),
        (
            {
                "dataServices": [
                    {
                        "dataServiceType": "VH_dag",
                        "dataPeriodFrom": "2026-01-01T00:00:00Z",
                        "dataPeriodTo": "2025-01-01T00:00:00Z",
                    }
                ]
            },
            "dataPeriodTo must be after dataPeriodFrom",
        ),
        ({"dataServices": [{"dataServiceType": "VH_maand"}]}, "dataServiceType"),
        ({"flow": "B2B"}, "enterpriseNumber"),
        ({"flow": "B2B", "enterpriseNumber": "0403.170.702"}, "check number"),
    ],
)
async def test_bad_consent_session_requests_are_400_on_v3(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    change: dict[str, Any],
    message: str,
) -> None:
    response = await client.post(
        SHORT_URL,
        json=session_request(world.esp_a, **change),
        headers=await auth_headers(client, world.esp_a),
    )
    assert response.status_code == 400, response.text
    assert message in response.text
    async with app.state.database.read_sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM consent_sessions")) == 0


async def test_another_organisations_contract_is_refused(
    client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    response = await client.post(
        SHORT_URL,
        json=session_request(world.esp_a, dataAccessContractNumber=world.esp_b.contract_number),
        headers=await auth_headers(client, world.esp_a),
    )
    assert response.status_code == 400
    assert "No data-access contract" in response.text


async def test_native_consent_session_and_its_refusals(
    client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    headers = await auth_headers(client, world.esp_a)
    body = {
        "contract_number": world.esp_a.contract_number,
        "reference_number": "n-1",
        "data_services": [{"data_service_type": "VH_dag"}],
    }
    made = await client.post("/api/v1/consent-sessions", json=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["consent_url"].endswith("/consent/" + made.json()["identifier"])
    assert made.json()["data_services"][0]["data_period_from"]
    mine = await client.get(
        f"/api/v1/consent-sessions/{made.json()['identifier']}", headers=headers
    )
    assert mine.status_code == 200
    assert mine.json()["identifier"] == made.json()["identifier"]
    theirs = await client.get(
        f"/api/v1/consent-sessions/{made.json()['identifier']}",
        headers=await auth_headers(client, world.esp_b),
    )
    nothing = await client.get(
        "/api/v1/consent-sessions/unknown-id", headers=await auth_headers(client, world.esp_b)
    )
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json()["detail"] == nothing.json()["detail"]
    for bad in (
        {**body, "number_of_eans": 0},
        {**body, "data_services": []},
        {**body, "contract_number": "12"},
        {
            **body,
            "data_services": [
                {"data_service_type": "VH_dag", "data_period_from": "2026-01-01T00:00:00"}
            ],
        },
    ):
        assert (
            await client.post("/api/v1/consent-sessions", json=bad, headers=headers)
        ).status_code == 422


async def test_customer_refusals(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_session(client, world.esp_a, numberOfEans=1)
    tenant = await log_in(app, world.tenant)
    try:
        decision = f"/api/v1/consent-sessions/{identifier}/decision"
        not_theirs = await tenant.post(
            decision, json={"decision": "approve", "eans": [world.owner_ean]}
        )
        assert not_theirs.status_code == 403
        km = await tenant.post(
            decision, json={"decision": "approve", "eans": [world.tenant_km_ean]}
        )
        assert km.status_code == 403
        too_many = await tenant.post(
            decision, json={"decision": "approve", "eans": world.tenant_eans}
        )
        assert too_many.status_code == 422
        twice = await tenant.post(
            decision, json={"decision": "approve", "eans": [world.tenant_eans[0]] * 2}
        )
        assert twice.status_code == 422
        async with app.state.database.read_sessions() as session:
            assert await session.scalar(text("SELECT count(*) FROM mandates")) == 0
        rejected = await tenant.post(decision, json={"decision": "reject"})
        assert rejected.status_code == 200
        assert rejected.json()["redirect_url"] == "https://esp.example/consent/failed"
        again = await tenant.post(
            decision, json={"decision": "approve", "eans": [world.tenant_eans[0]]}
        )
        assert again.status_code == 409
    finally:
        await tenant.aclose()


async def test_an_expired_consent_link_is_gone(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_session(client, world.esp_a, numberOfEans=1)
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE consent_sessions SET valid_to = now() - interval '1 minute'")
        )
        await session.commit()
    late = await decide(app, world.owner, identifier, [world.owner_ean])
    assert late.status_code == 410


async def test_two_racing_decisions_exactly_one_wins(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_session(client, world.esp_a, numberOfEans=1)
    first, second = await log_in(app, world.owner), await log_in(app, world.owner)
    try:
        answers = await asyncio.gather(
            first.post(
                f"/api/v1/consent-sessions/{identifier}/decision",
                json={"decision": "approve", "eans": [world.owner_ean]},
            ),
            second.post(
                f"/api/v1/consent-sessions/{identifier}/decision", json={"decision": "reject"}
            ),
        )
    finally:
        await first.aclose()
        await second.aclose()
    assert sorted(a.status_code for a in answers) == [200, 409]
    async with app.state.database.read_sessions() as session:
        count = await session.scalar(text("SELECT count(*) FROM mandates"))
    winner = next(a for a in answers if a.status_code == 200)
    assert count == (1 if winner.json()["status"] == "approved" else 0)


async def _approved_owner_mandate(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> int:
    return await owner_mandate(app, client, world)


async def test_revocation_and_termination_finish_mandates(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    mandate_id = await _approved_owner_mandate(app, client, world)
    owner = await log_in(app, world.owner)
    try:
        mine = await owner.get("/api/v1/mandates")
        assert [m["id"] for m in mine.json()["items"]] == [mandate_id]
        revoked = await owner.post(f"/api/v1/mandates/{mandate_id}/revoke")
        assert revoked.json()["status"] == "finished"
        assert revoked.json()["finished_reason"] == "revoked_by_customer"
        assert (await owner.post(f"/api/v1/mandates/{mandate_id}/revoke")).status_code == 409
    finally:
        await owner.aclose()
    assert (await v3_mandates(client, world.esp_a))[0]["status"] == "Finished"

    second = await _approved_owner_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    terminated = await client.post(f"/api/v1/mandates/{second}/terminate", headers=headers)
    assert terminated.json()["finished_reason"] == "terminated_by_esp"
    other = await client.post(
        f"/api/v1/mandates/{second}/terminate", headers=await auth_headers(client, world.esp_b)
    )
    assert other.status_code == 404


async def test_a_new_grid_user_ends_the_old_grid_users_mandates(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    mandate_id = await _approved_owner_mandate(app, client, world)
    moved_in = world.tenant.id
    body = access_point_body(
        grid_users=[
            {"account_id": world.owner.id, "valid_from": "2024-01-01", "valid_to": "2026-06-01"},
            {"account_id": moved_in, "valid_from": "2026-06-01"},
        ],
        customers=[
            {"account_id": world.owner.id, "valid_from": "2024-01-01", "valid_to": "2026-06-01"},
            {"account_id": moved_in, "valid_from": "2026-06-01"},
        ],
    )
    response = await client.put(
        f"/api/v1/access-points/{world.owner_ean}", json=body, headers=world.operator_headers
    )
    assert response.status_code == 200, response.text
    mandate = await client.get(
        f"/api/v1/mandates/{mandate_id}", headers=await auth_headers(client, world.esp_a)
    )
    assert mandate.json()["status"] == "finished"
    # The registry now says the owner (customer and grid user) left before they consented:
    # the tenure that gave the mandate is gone, and so is the mandate, at once.
    assert mandate.json()["finished_reason"] == "tenure_ended"


async def test_daily_run_expires_renews_and_rejects_silent_grid_users(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_session(client, world.esp_a, numberOfEans=1)
    tenant = await log_in(app, world.tenant)
    try:
        await tenant.post(
            f"/api/v1/consent-sessions/{identifier}/decision",
            json={"decision": "approve", "eans": [world.tenant_eans[0]]},
        )
    finally:
        await tenant.aclose()
    owner_mandate = await _approved_owner_mandate(app, client, world)
    now = datetime.now(UTC)
    async with app.state.database.write_sessions() as session:
        run = await mandates_service.expire_and_renew(session, now + timedelta(days=15))
        await session.commit()
    assert run.co_consents_expired == 1
    # The owner's mandate runs to 2027-01-01: inside three months of its end, so ToBeRenewed.
    assert run.to_be_renewed == 1
    renewing = await v3_mandates(client, world.esp_a, "?renewalStatus=ToBeRenewed")
    assert [m["ean"] for m in renewing] == [world.owner_ean]
    # A new consent session with the same reference number: renewal requested.
    await open_session(client, world.esp_a, numberOfEans=1)
    renewing = await v3_mandates(client, world.esp_a, "?renewalStatus=RenewalRequested")
    assert [m["ean"] for m in renewing] == [world.owner_ean]
    async with app.state.database.write_sessions() as session:
        # It expires at the end of its data period, 2027-01-01, or 30 days after it was given.
        later = max(
            datetime(2027, 1, 2, tzinfo=UTC),
            now + mandates_service.MIN_ACCESS_AFTER_CONSENT + timedelta(days=1),
        )
        run = await mandates_service.expire_and_renew(session, later)
        await session.commit()
    assert run.expired == 1
    expired = await client.get(
        f"/api/v1/mandates/{owner_mandate}", headers=await auth_headers(client, world.esp_a)
    )
    assert expired.json()["status"] == "finished"
    assert expired.json()["renewal_status"] == "expired"
    rejected = await v3_mandates(client, world.esp_a, "?status=Rejected")
    assert [m["ean"] for m in rejected] == [world.tenant_eans[0]]


async def test_esp_b_never_sees_esp_a_mandates(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    mandate_id = await _approved_owner_mandate(app, client, world)
    headers_b = await auth_headers(client, world.esp_b)
    assert await v3_mandates(client, world.esp_b) == []
    assert await v3_mandates(client, world.esp_b, f"?ean={world.owner_ean}") == []
    assert await native_mandates(client, world.esp_b) == []
    theirs = await client.get(f"/api/v1/mandates/{mandate_id}", headers=headers_b)
    nothing = await client.get("/api/v1/mandates/999999", headers=headers_b)
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json()["detail"] == nothing.json()["detail"]
    # A customer sees only their own mandates too.
    tenant = await log_in(app, world.tenant)
    try:
        assert (await tenant.get("/api/v1/mandates")).json()["items"] == []
        assert (await tenant.get(f"/api/v1/mandates/{mandate_id}")).status_code == 404
        assert (await tenant.post(f"/api/v1/mandates/{mandate_id}/revoke")).status_code == 404
    finally:
        await tenant.aclose()


async def test_v3_filters_and_validation(
    client: httpx.AsyncClient, world: ConsentWorld, app: FastAPI
) -> None:
    await _approved_owner_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    for query in (
        "?dataServiceTypes=VH_dag,VH_kwartier_uur",
        "?DataServiceTypes=VH_kwartier_uur",
        f"?EAN={world.owner_ean}",
        "?energyType=E",
        "?lastUpdatedFrom=2020-01-01T00:00:00Z",
        "?mandateExpirationDate=2030-01-01T00:00:00Z",
    ):
        response = await client.get(f"/v3/api/Mandate{query}", headers=headers)
        assert response.status_code == 200, (query, response.text)
    for query in (
        "?lastUpdatedFrom=2099-01-01T00:00:00Z",
        "?energyType=G",
        "?dataServiceTypes=VH_dag",
    ):
        assert (await client.get(f"/v3/api/mandate{query}", headers=headers)).status_code == 404, (
            query
        )
    for query in (
        "?ean=123",
        "?status=Active",
        "?energyType=X",
        "?lastUpdatedFrom=yesterday",
        "?dataServiceTypes=VH_maand",
    ):
        response = await client.get(f"/v3/api/mandate{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.json()["validationErrorMessages"]
