"""The NPS channel end to end: lists with per-EAN evidence and outcomes, signed mandates and
the grid-user rule, portal evidence, audits passed, refused and overdue, the quarterly
sample, every bad input of the issue, and per-route isolation between ESPs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from datahub_api.audit.models import AuditRecord
from datahub_api.contracts.models import Channel
from datahub_api.jobs import commit
from datahub_api.nps.models import NpsAudit
from datahub_api.nps.service import audits, daily_files

from ..support.access_point_data import fresh_ean
from ..support.consent_world import log_in
from ..support.environment import make_settings
from ..support.nps_world import (
    COMPANY_NUMBER,
    REQUESTS,
    NpsWorld,
    make_nps_world,
    open_audit,
    sha,
    signed,
    signed_mandate,
    signed_pdf,
    submit,
    upload,
)
from ..support.parties import auth_headers, make_esp

RULES = audits.AuditRules(days=14, evidence_max_bytes=5 * 1024 * 1024)


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> NpsWorld:
    return await make_nps_world(app, client)


async def events(client: httpx.AsyncClient, headers: dict[str, str], *types: str) -> list[Any]:
    response = await client.get(
        "/api/v1/events", params={"types": ",".join(types), "limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def count(app: FastAPI, table: str) -> int:
    async with app.state.database.read_sessions() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


# --- lists -------------------------------------------------------------------------------


async def test_a_list_gets_one_outcome_per_ean(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    unknown = fresh_ean()
    twice = fresh_ean()
    response = await submit(
        client,
        world.a,
        {"ean": world.owner_ean, "evidence": signed("  OLGA  owner ")},
        {"ean": world.tenant_ean, "evidence": signed("Tina Tenant", "customer")},
        {
            "ean": world.company_ean,
            "evidence": signed("J. Peeters, director", signatory_enterprise_number=COMPANY_NUMBER),
        },
        {"ean": world.small_ean, "evidence": signed()},
        {"ean": "541234567890123456", "evidence": signed()},
        {"ean": unknown, "evidence": signed()},
        {"ean": twice, "evidence": signed()},
        {"ean": twice, "evidence": signed()},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    outcomes = [(item["ean"], item["outcome"]) for item in body["items"]]
    assert outcomes == [
        (world.owner_ean, "accepted"),
        (world.tenant_ean, "accepted"),
        (world.company_ean, "accepted"),
        (world.small_ean, "not_gvm"),
        ("541234567890123456", "invalid_ean"),
        (unknown, "unknown_ean"),
        (twice, "duplicate"),
        (twice, "duplicate"),
    ]
    assert (body["accepted_count"], body["item_count"]) == (3, 8)
    # Registered paper mandates wait for the registry check, whoever signed them.
    statuses = [item["mandate_status"] for item in body["items"][:3]]
    assert statuses == ["requested", "requested", "requested"]
    assert all(item["detail"] for item in body["items"][3:])
    await world.run_jobs()  # the check, after registration: the grid-user rule
    # The record of the answer (with the statuses of now), and the list of lists.
    again = (await client.get(f"{REQUESTS}/{body['id']}", headers=world.a)).json()["items"]
    assert [item["mandate_status"] for item in again[:3]] == ["approved", "requested", "approved"]

    def without_status(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "mandate_status"} for item in items]

    assert without_status(again) == without_status(body["items"])
    listed = (await client.get(REQUESTS, headers=world.a)).json()["items"]
    assert [(r["id"], r["accepted_count"]) for r in listed] == [(body["id"], 3)]
    # Both polling faces and the change feed show the mandates.
    native = await client.get("/api/v1/mandates", params={"channel": "nps"}, headers=world.a)
    assert {(m["ean"], m["source"], m["status"]) for m in native.json()["items"]} == {
        (world.owner_ean, "signed", "approved"),
        (world.tenant_ean, "signed", "requested"),
        (world.company_ean, "signed", "approved"),
    }
    v3 = await client.get("/v3/api/mandate", params={"eanNumber": world.owner_ean}, headers=world.a)
    assert v3.status_code == 200, v3.text
    feed = await events(client, world.a, "mandate.approved", "mandate.requested")
    assert sorted((e["type"], e["data"]["ean"]) for e in feed) == sorted(
        [
            ("mandate.requested", world.owner_ean),
            ("mandate.requested", world.tenant_ean),
            ("mandate.requested", world.company_ean),
            ("mandate.approved", world.owner_ean),
            ("mandate.approved", world.company_ean),
        ]
    )
    # Handing in the same EAN again: already active.
    repeat = await submit(client, world.a, {"ean": world.owner_ean, "evidence": signed()})
    assert repeat.json()["items"][0]["outcome"] == "already_active"


async def test_a_customer_signature_waits_for_the_grid_user(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    response = await submit(
        client, world.a, {"ean": world.tenant_ean, "evidence": signed("Tina Tenant", "customer")}
    )
    mandate_id = response.json()["items"][0]["mandate_id"]
    mandate = (await client.get(f"/api/v1/mandates/{mandate_id}", headers=world.a)).json()
    assert mandate["status"] == "requested"
    assert mandate["waiting_for_grid_user"]
    # No data while requested.
    read = await client.get(
        f"/api/v1/access-points/{world.tenant_ean}/meter-data",
        params={"from": "2026-06-01", "to": "2026-06-02"},
        headers=world.a,
    )
    assert read.status_code == 404
    landlord = await log_in(app, world.landlord)
    try:
        inbox = (await landlord.get("/api/v1/co-consents")).json()
        assert [(t["ean"], t["requested_by"]) for t in inbox] == [(world.tenant_ean, "ESP A")]
        decided = await landlord.post(
            f"/api/v1/co-consents/{inbox[0]['id']}/decision", json={"decision": "approve"}
        )
        assert decided.status_code == 200, decided.text
    finally:
        await landlord.aclose()
    await world.run_jobs()  # the registry check: nothing to compare, the co-consent decides
    mandate = (await client.get(f"/api/v1/mandates/{mandate_id}", headers=world.a)).json()
    assert mandate["status"] == "approved"
    async with app.state.database.read_sessions() as session:
        letters = (
            await session.execute(
                text(
                    "SELECT account_id, kind FROM outbox_messages "
                    "WHERE account_id IS NOT NULL ORDER BY id"
                )
            )
        ).all()
    assert sorted(tuple(letter) for letter in letters) == sorted(
        [
            (world.landlord.id, "co_consent_request"),  # the co-consent asked
            (world.landlord.id, "paper_mandate_registered"),  # told of the paper mandate
            (world.tenant.id, "paper_mandate_registered"),  # the customer too
        ]
    )


@pytest.mark.parametrize(
    ("evidence", "outcome", "words"),
    [
        (None, "missing_evidence", "evidence"),
        ({"source": "signed"}, "invalid_evidence", "signatory_name"),
        ({"document_sha256": "abc123"}, "invalid_evidence", "64 hex"),
        ({"document_sha256": "g" * 64}, "invalid_evidence", "64 hex"),
        ({"signed_on": "2099-01-01"}, "invalid_evidence", "future"),
        ({"data_period_to": "2025-12-31"}, "invalid_evidence", "before"),
        (
            {"data_period_from": "2020-01-01", "data_period_to": "2021-01-01"},
            "invalid_evidence",
            "ended",
        ),
        ({"source": "portal"}, "missing_evidence", "mandate_id"),
        ({"source": "portal", "mandate_id": 424242}, "invalid_evidence", "No approved portal"),
    ],
)
async def test_bad_evidence_is_refused_per_ean(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: NpsWorld,
    evidence: dict[str, Any] | None,
    outcome: str,
    words: str,
) -> None:
    if evidence is None:
        entry: dict[str, Any] = {"ean": world.owner_ean}
    elif evidence.get("source") in ("signed", "portal") and len(evidence) <= 2:
        entry = {"ean": world.owner_ean, "evidence": evidence}
    else:
        entry = {"ean": world.owner_ean, "evidence": signed(**evidence)}
    good = {
        "ean": world.company_ean,
        "evidence": signed("x", signatory_enterprise_number=COMPANY_NUMBER),
    }
    response = await submit(client, world.a, entry, good)
    assert response.status_code == 201, response.text
    first, second = response.json()["items"]
    assert first["outcome"] == outcome, first
    assert words in first["detail"], first
    assert first["mandate_id"] is None
    assert second["outcome"] == "accepted"  # the good part of a partly bad list is taken
    assert await count(app, "mandates") == 1


async def test_portal_evidence_references_the_customers_nps_mandate(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    opened = await client.post(
        "/api/v1/consent-sessions",
        json={
            "contract_number": world.esp_a.contract_number,
            "reference_number": "portal-nps",
            "channel": "nps",
            "data_services": [{"data_service_type": "VH_kwartier_uur"}],
        },
        headers=world.a,
    )
    assert opened.status_code == 201, opened.text
    owner = await log_in(app, world.owner)
    try:
        page = (await owner.get(f"/api/v1/consent-sessions/{opened.json()['identifier']}")).json()
        # Only the large installation is offered on the nps channel.
        assert [p["ean"] for p in page["your_access_points"]] == [world.owner_ean]
        decided = await owner.post(
            f"/api/v1/consent-sessions/{opened.json()['identifier']}/decision",
            json={"decision": "approve", "eans": [world.owner_ean]},
        )
        assert decided.status_code == 200, decided.text
    finally:
        await owner.aclose()
    mandate_id = decided.json()["mandates"][0]["id"]
    portal = {"source": "portal", "mandate_id": mandate_id}
    wrong_ean = await submit(client, world.a, {"ean": world.company_ean, "evidence": portal})
    assert wrong_ean.json()["items"][0]["outcome"] == "invalid_evidence"
    theirs = await submit(client, world.b, {"ean": world.owner_ean, "evidence": portal})
    assert theirs.json()["items"][0]["outcome"] == "invalid_evidence"  # not ESP B's mandate
    accepted = await submit(client, world.a, {"ean": world.owner_ean, "evidence": portal})
    item = accepted.json()["items"][0]
    assert (item["outcome"], item["mandate_id"], item["source"]) == (
        "accepted",
        mandate_id,
        "portal",
    )
    assert await count(app, "mandates") == 1  # referenced, not copied
    again = await submit(client, world.a, {"ean": world.owner_ean, "evidence": portal})
    assert again.json()["items"][0]["outcome"] == "already_active"


async def test_bad_lists_are_refused_whole_and_store_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    app.state.settings = make_settings(nps_max_eans_per_request=2)
    entries = [{"ean": fresh_ean(), "evidence": signed()} for _ in range(3)]
    too_many = await submit(client, world.a, *entries)
    assert too_many.status_code == 413
    assert too_many.headers["content-type"].startswith("application/problem+json")
    assert too_many.json()["max_eans"] == 2
    malformed = await submit(
        client, world.a, {"ean": world.owner_ean, "evidence": {"source": "fax"}}
    )
    assert malformed.status_code == 422
    empty = await submit(client, world.a)
    assert empty.status_code == 422
    api_only = await make_esp(app, "API only", channels=[Channel.api])
    headers = await auth_headers(client, api_only)
    refused = await submit(client, headers, {"ean": world.owner_ean, "evidence": signed()})
    assert refused.status_code == 403
    for table in ("nps_requests", "nps_request_items", "mandates"):
        assert await count(app, table) == 0, table


async def test_idempotency_key_replays_the_answer(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    headers = {**world.a, "Idempotency-Key": "list-1"}
    entry = {"ean": world.owner_ean, "evidence": signed()}
    first = await submit(client, headers, entry)
    second = await submit(client, headers, entry)
    assert first.json() == second.json()
    assert await count(app, "nps_requests") == 1


# --- audits ------------------------------------------------------------------------------


async def test_an_audit_passed(app: FastAPI, client: httpx.AsyncClient, world: NpsWorld) -> None:
    document = signed_pdf("the real one")
    mandate_id = await signed_mandate(client, world, document)
    nothing_asked = await upload(client, world.a, mandate_id, document)
    assert nothing_asked.status_code == 409
    audit = await open_audit(client, world, mandate_id)
    assert audit["status"] == "open"
    twice = await client.post(
        f"/api/v1/operator/nps/mandates/{mandate_id}/audits", headers=world.operator
    )
    assert twice.status_code == 409
    asked = await events(client, world.a, "nps.audit_requested")
    assert [(e["data"]["audit_id"], e["data"]["mandate_id"]) for e in asked] == [
        (audit["id"], mandate_id)
    ]
    mine = (await client.get("/api/v1/nps/audits", headers=world.a)).json()["items"]
    assert [(a["id"], a["status"], a["opened_by"]) for a in mine] == [
        (audit["id"], "open", "operator")
    ]
    # Every bad upload is refused, and none is stored.
    not_pdf_type = await upload(client, world.a, mandate_id, document, "text/plain")
    assert not_pdf_type.status_code == 415
    not_a_pdf = await upload(client, world.a, mandate_id, b"%PDF-1.7 but nothing else")
    assert (not_a_pdf.status_code, not_a_pdf.json()["type"].rsplit("/", 1)[1]) == (
        422,
        "not-a-pdf",
    )
    garbage = await upload(client, world.a, mandate_id, b"GIF89a" + b"\0" * 100)
    assert garbage.status_code == 422
    other_pdf = await upload(client, world.a, mandate_id, signed_pdf("another one"))
    assert (other_pdf.status_code, other_pdf.json()["type"].rsplit("/", 1)[1]) == (
        422,
        "hash-mismatch",
    )
    by_b = await upload(client, world.b, mandate_id, document)
    assert by_b.status_code == 404
    assert await count(app, "nps_evidence_documents") == 0
    # The right document.
    uploaded = await upload(client, world.a, mandate_id, document)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["status"] == "submitted"
    assert uploaded.json()["document"]["sha256"] == sha(document)
    same_again = await upload(client, world.a, mandate_id, document)
    assert same_again.status_code == 200
    pdf = await client.get(
        f"/api/v1/operator/nps/audits/{audit['id']}/evidence", headers=world.operator
    )
    assert pdf.content == document
    assert pdf.headers["content-type"] == "application/pdf"
    own = await client.get(f"/api/v1/nps/audits/{audit['id']}/evidence", headers=world.a)
    assert own.content == document
    decided = await client.post(
        f"/api/v1/operator/nps/audits/{audit['id']}/decision",
        json={"decision": "accept"},
        headers=world.operator,
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["mandate_status"]) == ("accepted", "approved")
    assert [e["data"]["status"] for e in await events(client, world.a, "nps.audit_decided")] == [
        "accepted"
    ]
    # The operator's and the ESP's actions are in the audit trail (the upload twice).
    trail = await audit_trail(app, str(audit["id"]))
    assert trail == [
        "nps.audit_opened",
        "nps.evidence_uploaded",
        "nps.evidence_uploaded",
        "nps.audit_accept",
    ]


async def audit_trail(app: FastAPI, target: str) -> list[str]:
    async with app.state.database.read_sessions() as session:
        rows = await session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target == target, AuditRecord.action.like("nps.%"))
            .order_by(AuditRecord.id)
        )
        return list(rows)


async def test_an_audit_refused_finishes_the_mandate(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    document = signed_pdf("forged?")
    mandate_id = await signed_mandate(client, world, document)
    audit = await open_audit(client, world, mandate_id)
    too_early = await client.post(
        f"/api/v1/operator/nps/audits/{audit['id']}/decision",
        json={"decision": "refuse"},
        headers=world.operator,
    )
    assert too_early.status_code == 409  # nothing uploaded yet
    assert (await upload(client, world.a, mandate_id, document)).status_code == 200
    refused = await client.post(
        f"/api/v1/operator/nps/audits/{audit['id']}/decision",
        json={"decision": "refuse", "note": "signature does not match the register"},
        headers=world.operator,
    )
    assert refused.status_code == 200, refused.text
    mandate = (await client.get(f"/api/v1/mandates/{mandate_id}", headers=world.a)).json()
    assert (mandate["status"], mandate["finished_reason"]) == ("finished", "audit_failed")
    finished = await events(client, world.a, "mandate.finished")
    assert [e["data"]["mandate_id"] for e in finished] == [mandate_id]
    history = (await client.get("/api/v1/nps/audits", headers=world.a)).json()["items"]
    assert [(a["status"], a["mandate_finished_reason"]) for a in history] == [
        ("refused", "audit_failed")
    ]
    read = await client.get(
        f"/api/v1/access-points/{world.owner_ean}/meter-data",
        params={"from": "2026-06-01", "to": "2026-06-02"},
        headers=world.a,
    )
    assert read.status_code == 404  # no more data


async def test_an_overdue_audit_finishes_the_mandate_and_late_uploads_are_gone(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    document = signed_pdf("never sent")
    mandate_id = await signed_mandate(client, world, document)
    audit = await open_audit(client, world, mandate_id)
    async with app.state.database.write_sessions() as session:
        stored = await session.get(NpsAudit, audit["id"])
        assert stored is not None
        stored.due_at = datetime.now(UTC) - timedelta(minutes=1)
        await session.commit()
    late = await upload(client, world.a, mandate_id, document)
    assert late.status_code == 410
    assert await count(app, "nps_evidence_documents") == 0
    async with app.state.database.write_sessions() as session:
        assert await audits.end_overdue_audits(session) == 1
        await commit(session, app.state.jobs)
    mandate = (await client.get(f"/api/v1/mandates/{mandate_id}", headers=world.a)).json()
    assert (mandate["status"], mandate["finished_reason"]) == ("finished", "audit_failed")
    history = (await client.get("/api/v1/nps/audits", headers=world.a)).json()["items"]
    assert [a["status"] for a in history] == ["overdue"]
    async with app.state.database.write_sessions() as session:
        assert await audits.end_overdue_audits(session) == 0


async def test_the_quarterly_sample_audits_a_share_of_each_esps_signed_mandates(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    response = await submit(
        client,
        world.a,
        {"ean": world.owner_ean, "evidence": signed()},
        {"ean": world.tenant_ean, "evidence": signed("Tina Tenant", "customer")},
        {
            "ean": world.company_ean,
            "evidence": signed("x", signatory_enterprise_number=COMPANY_NUMBER),
        },
    )
    assert response.json()["accepted_count"] == 3
    await submit(client, world.b, {"ean": world.owner_ean, "evidence": signed()})
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    async with app.state.database.write_sessions() as session:
        opened = await audits.sample_audits(
            session, share=0.34, rules=RULES, now=now, rng=random.Random(7)
        )
        await commit(session, app.state.jobs)
    assert opened == 2 + 1  # ceil(0.34 * 3) for ESP A, at least one for ESP B
    async with app.state.database.write_sessions() as session:
        again = await audits.sample_audits(session, share=0.34, rules=RULES, now=now)
        next_quarter = await audits.sample_audits(
            session, share=0.34, rules=RULES, now=now + timedelta(days=45)
        )
        await session.rollback()
    assert again == 0  # once a quarter
    assert next_quarter == 1  # ESP A: its third mandate (two still under audit); ESP B: none free
    sampled = (await client.get("/api/v1/nps/audits", headers=world.a)).json()["items"]
    assert [(a["opened_by"], a["sample_quarter"]) for a in sampled] == [("sampling", "2026-Q4")] * 2


# --- isolation ---------------------------------------------------------------------------


async def test_esp_b_gets_nothing_of_esp_a_on_any_nps_route(
    app: FastAPI, client: httpx.AsyncClient, world: NpsWorld
) -> None:
    document = signed_pdf("isolation")
    listed = await submit(
        client, world.a, {"ean": world.owner_ean, "evidence": signed(document=document)}
    )
    request_id = listed.json()["id"]
    mandate_id = listed.json()["items"][0]["mandate_id"]
    audit = await open_audit(client, world, mandate_id)
    assert (await upload(client, world.a, mandate_id, document)).status_code == 200
    async with app.state.database.write_sessions() as session:
        made = await daily_files.make_daily_files(
            session, day=datetime.now(UTC).date(), until=datetime.now(UTC)
        )
        await session.commit()
    file_id = made[0].id
    missing = 999_999
    for path, nothing in [
        (f"{REQUESTS}/{request_id}", f"{REQUESTS}/{missing}"),
        (f"/api/v1/nps/audits/{audit['id']}", f"/api/v1/nps/audits/{missing}"),
        (f"/api/v1/nps/audits/{audit['id']}/evidence", f"/api/v1/nps/audits/{missing}/evidence"),
        (f"/api/v1/nps/daily-files/{file_id}", f"/api/v1/nps/daily-files/{missing}"),
    ]:
        theirs = await client.get(path, headers=world.b)
        none = await client.get(nothing, headers=world.b)
        assert theirs.status_code == none.status_code == 404, path
        assert theirs.json()["detail"] == none.json()["detail"], path
        assert theirs.json()["type"] == none.json()["type"], path
    put_theirs = await upload(client, world.b, mandate_id, document)
    put_none = await upload(client, world.b, missing, document)
    assert put_theirs.status_code == put_none.status_code == 404
    assert put_theirs.json()["detail"] == put_none.json()["detail"]
    for path in (REQUESTS, "/api/v1/nps/audits", "/api/v1/nps/daily-files"):
        assert (await client.get(path, headers=world.b)).json()["items"] == [], path
        assert len((await client.get(path, headers=world.a)).json()["items"]) == 1, path
    # ESPs are refused on the operator's routes.
    for method, path in [
        ("GET", "/api/v1/operator/nps/audits"),
        ("POST", f"/api/v1/operator/nps/mandates/{mandate_id}/audits"),
        ("POST", f"/api/v1/operator/nps/audits/{audit['id']}/decision"),
        ("GET", f"/api/v1/operator/nps/audits/{audit['id']}/evidence"),
    ]:
        response = await client.request(method, path, headers=world.a, json={"decision": "accept"})
        assert response.status_code == 403, path
    assert await count(app, "nps_audits") == 1
