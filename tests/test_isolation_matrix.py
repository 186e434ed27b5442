"""ESP B never sees or changes ESP A's things: a matrix generated from the app's route table.

Every operation of the spec must be classified below; a new route that is not fails
``test_every_route_is_in_the_matrix`` until someone decides how it is isolated. For each
route with an ESP A object in its path, ESP B's answer must be 403 or 404, and a 404 must
be indistinguishable from the answer for an object that does not exist.

Its twin for time, every face read across the tenure boundaries of a mover, is
``tests/test_time_matrix.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.access_points.ean import make_ean
from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.app import create_app
from datahub_api.auth.principal import Role
from datahub_api.cli.openapi_spec import openapi_document

from .support.consent_world import PASSWORD, ConsentWorld, decide, make_consent_world, make_person
from .support.environment import make_settings
from .support.meter_data import csv_body, day_rows
from .support.parties import auth_headers, make_machine_client
from .support.portal import portal_browser
from .support.reading_world import mandate
from .support.route_table import PORTAL_PAGES, portal_operations

# Operations that take no ESP-owned object and need no isolation check beyond the ones of
# their own domain tests (public, the caller's own session or organisation, or lists that
# are checked below).
NOT_OBJECT_ROUTES = {
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /.well-known/jwks.json",
    "GET /api/v1/auth/token-info",
    "POST /oauth2/v2.0/token",
    "POST /oauth2/token",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/logout",
    "GET /api/v1/auth/me",
    "GET /api/v1/organisation",
    "PATCH /api/v1/organisation",
    "POST /api/v1/contracts",
    "POST /api/v1/clients",
    "POST /api/v1/consent-sessions",
    "POST /v3/api/shortUrlIdentifier",
    "POST /v3/api/mandate/mock",
    "GET /api/v1/co-consents",
}
# Lists: ESP B's answer must not contain ESP A's objects.
LIST_ROUTES = {
    "GET /api/v1/contracts",
    "GET /api/v1/clients",
    "GET /api/v1/mandates",
    "GET /v3/api/mandate",
}
# Operator-only and person-only routes: ESP B gets 403 whatever the object.
FORBIDDEN_TO_ESPS_PREFIXES = ("/api/v1/operator/", "/api/v1/access-points", "/api/v1/ingest/")
# Webhooks and the change feed are isolated per route in tests/webhooks/test_webhooks.py and
# tests/events/test_events.py.
WEBHOOK_AND_EVENT_PREFIXES = ("/api/v1/webhooks", "/api/v1/events")
# Reads of metering data: ESP B's answers hold nothing of ESP A's EANs (checked below; the
# details per route in tests/meter_data/test_meter_data_changes.py and
# tests/meter_data/test_meter_data_query.py).
METER_DATA_READ_ROUTES = {
    "GET /api/v1/meter-data/changes",
    "POST /api/v1/meter-data/query",
}
# SLA figures are scoped to the caller's mandates; isolated per route in tests/sla/test_sla.py.
SLA_PREFIXES = ("/api/v1/sla/",)
# The NPS routes are isolated per route in tests/nps/test_nps.py (ESP B's answer for ESP A's list,
# audit, document and daily file is the unknown-object 404; its lists hold none of them).
NPS_PREFIXES = ("/api/v1/nps/",)
# History exports are isolated per route in tests/history_exports/test_history_exports_rules.py
# (ESP B's answer for ESP A's export and its file is the unknown-object 404; its list and feed
# hold none).
HISTORY_EXPORT_PREFIXES = ("/api/v1/history-exports",)
PERSON_ONLY = {
    "POST /api/v1/consent-sessions/{identifier}/decision",
    "POST /api/v1/mandates/{mandate_id}/revoke",
    "POST /api/v1/co-consents/{task_id}/decision",
    "GET /api/v1/access-points/{ean}/access-log",
    # The customer's own data (tests/meter_data/test_my_data.py,
    # tests/capacity/test_my_capacity_peaks.py):
    # another customer's EAN is the unknown-EAN 404; an ESP is refused (403).
    "GET /api/v1/me/access-points",
    "GET /api/v1/me/access-points/{ean}/meter-data",
    "GET /api/v1/me/access-points/{ean}/monthly-peaks",
    # Paper mandates on the person's access points: another person's answer is the
    # unknown-mandate 404 (tests/paper_mandates/test_paper_mandates.py).
    "GET /api/v1/paper-mandates",
    "GET /api/v1/paper-mandates/{mandate_id}",
    "POST /api/v1/paper-mandates/{mandate_id}/contest",
}

# Routes with an ESP A object in the path: how to fill it, and a value that exists nowhere.
ObjectOf = Callable[["Objects"], dict[str, str]]


class Objects:
    def __init__(self, world: ConsentWorld, identifier: str, mandate_id: int) -> None:
        self.world = world
        self.identifier = identifier
        self.mandate_id = mandate_id


OBJECT_ROUTES: dict[str, tuple[ObjectOf, dict[str, str]]] = {
    "GET /api/v1/access-points/{ean}/meter-data": (
        lambda o: {"ean": o.world.owner_ean},
        {"ean": "541448800000000000"},
    ),
    "GET /api/v1/access-points/{ean}/monthly-peaks": (
        lambda o: {"ean": o.world.owner_ean},
        {"ean": "541448800000000000"},
    ),
    "GET /api/v1/access-points/{ean}/installation": (
        lambda o: {"ean": o.world.owner_ean},
        {"ean": "541448800000000000"},
    ),
    "GET /api/v1/contracts/{number}": (
        lambda o: {"number": str(o.world.esp_a.contract_number)},
        {"number": "9999999999"},
    ),
    "POST /api/v1/contracts/{number}/withdraw": (
        lambda o: {"number": str(o.world.esp_a.contract_number)},
        {"number": "9999999999"},
    ),
    "GET /api/v1/contracts/{number}/subscription-key": (
        lambda o: {"number": str(o.world.esp_a.contract_number)},
        {"number": "9999999999"},
    ),
    "GET /api/v1/clients/{client_id}": (
        lambda o: {"client_id": o.world.esp_a.client_id},
        {"client_id": "no-such-client"},
    ),
    "POST /api/v1/clients/{client_id}/rotate-secret": (
        lambda o: {"client_id": o.world.esp_a.client_id},
        {"client_id": "no-such-client"},
    ),
    "POST /api/v1/clients/{client_id}/revoke": (
        lambda o: {"client_id": o.world.esp_a.client_id},
        {"client_id": "no-such-client"},
    ),
    "POST /api/v1/clients/{client_id}/certificates": (
        lambda o: {"client_id": o.world.esp_a.client_id},
        {"client_id": "no-such-client"},
    ),
    "GET /api/v1/consent-sessions/{identifier}": (
        lambda o: {"identifier": o.identifier},
        {"identifier": "no-such-session"},
    ),
    "GET /api/v1/mandates/{mandate_id}": (
        lambda o: {"mandate_id": str(o.mandate_id)},
        {"mandate_id": "999999"},
    ),
    "POST /api/v1/mandates/{mandate_id}/terminate": (
        lambda o: {"mandate_id": str(o.mandate_id)},
        {"mandate_id": "999999"},
    ),
}

# Routes that name an ESP A object in the query (the EAN of its mandate): ESP B's answer must
# be exactly the answer for an EAN that does not exist.
QUERY_OBJECT_ROUTES: dict[str, tuple[ObjectOf, dict[str, str]]] = {
    "GET /v3/api/mandate/energy": (
        lambda o: {"ean": o.world.owner_ean, "periodType": "insertTime"},
        {"ean": "999999999999999999", "periodType": "insertTime"},
    ),
    "GET /v3/api/mandate/installation": (
        lambda o: {"ean": o.world.owner_ean},
        {"ean": "999999999999999999"},
    ),
}

BODIES: dict[str, Any] = {
    "POST /api/v1/clients/{client_id}/certificates": {"certificate_pem": "-" * 60},
}


def spec_operations() -> list[str]:
    spec = json.loads(openapi_document())
    return [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops]


def test_every_route_is_in_the_matrix() -> None:
    unclassified = [
        operation
        for operation in spec_operations()
        if operation not in NOT_OBJECT_ROUTES
        and operation not in LIST_ROUTES
        and operation not in PERSON_ONLY
        and operation not in OBJECT_ROUTES
        and operation not in METER_DATA_READ_ROUTES
        and operation not in QUERY_OBJECT_ROUTES
        and not operation.split(" ", 1)[1].startswith(FORBIDDEN_TO_ESPS_PREFIXES)
        and not operation.split(" ", 1)[1].startswith(WEBHOOK_AND_EVENT_PREFIXES)
        and not operation.split(" ", 1)[1].startswith(SLA_PREFIXES)
        and not operation.split(" ", 1)[1].startswith(NPS_PREFIXES)
        and not operation.split(" ", 1)[1].startswith(HISTORY_EXPORT_PREFIXES)
    ]
    assert unclassified == [], "classify these routes in the isolation matrix"


# Routes of the app that the spec leaves out on purpose: the spec itself and its viewer.
UNDOCUMENTED_ROUTES = {"GET /openapi.json", "GET /docs", "GET /docs/start.js"}


def test_the_spec_is_the_whole_route_table() -> None:
    """The matrix is built from the spec; a route hidden from it (``include_in_schema=False``)
    would escape the matrix, so every route of the app (sandbox routes included) must be in
    the spec, or be one of the few named above."""
    from datahub_api.app import create_app

    app = create_app(make_settings(sandbox=True))
    routes = {
        f"{method} {getattr(route, 'path', '')}"
        for route in app.routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert routes - set(spec_operations()) == UNDOCUMENTED_ROUTES


@pytest.fixture
async def objects(app: FastAPI, client: httpx.AsyncClient) -> Objects:
    world = await make_consent_world(app, client)
    headers = await auth_headers(client, world.esp_a)
    made = await client.post(
        "/v3/api/shortUrlIdentifier",
        json={
            "dataAccessContractNumber": world.esp_a.contract_number,
            "referenceNumber": "matrix",
            "flow": "B2C",
            "dataServices": [{"dataServiceType": "VH_kwartier_uur"}],
            "numberOfEans": 1,
        },
        headers=headers,
    )
    identifier = made.json()["data"]["shortUrlIdentifier"]
    decided = await decide(app, world.owner, identifier, [world.owner_ean])
    ig = {"period_from": "2020-01-01T00:00:00Z", "period_to": "2099-01-01T00:00:00Z"}
    await mandate(app, client, world.esp_a, world.owner, world.owner_ean, service="IG", **ig)
    second = await client.post(
        "/v3/api/shortUrlIdentifier",
        json={
            "dataAccessContractNumber": world.esp_a.contract_number,
            "referenceNumber": "matrix-open",
            "flow": "B2C",
            "dataServices": [{"dataServiceType": "VH_dag"}],
        },
        headers=headers,
    )
    return Objects(
        world, second.json()["data"]["shortUrlIdentifier"], decided.json()["mandates"][0]["id"]
    )


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


async def test_esp_b_gets_nothing_of_esp_a(
    app: FastAPI, client: httpx.AsyncClient, objects: Objects
) -> None:
    world = objects.world
    headers_b = await auth_headers(client, world.esp_b)
    for operation, (values_of, missing) in OBJECT_ROUTES.items():
        method, template = operation.split(" ", 1)
        body = BODIES.get(operation)
        theirs = await client.request(
            method, _fill(template, values_of(objects)), headers=headers_b, json=body
        )
        nothing = await client.request(
            method, _fill(template, missing), headers=headers_b, json=body
        )
        assert theirs.status_code in (403, 404), operation
        assert theirs.status_code == nothing.status_code, operation
        assert set(theirs.json()) == set(nothing.json()), operation
        theirs_detail = theirs.json().get("detail", "")
        for value in values_of(objects).values():
            theirs_detail = theirs_detail.replace(value, "X")
        nothing_detail = nothing.json().get("detail", "")
        for value in missing.values():
            nothing_detail = nothing_detail.replace(value, "X")
        assert theirs_detail == nothing_detail, operation
    # ESP A's objects are untouched: its client still authenticates, its mandate is approved.
    headers_a = await auth_headers(client, world.esp_a)
    mandate = await client.get(f"/api/v1/mandates/{objects.mandate_id}", headers=headers_a)
    assert mandate.json()["status"] == "approved"
    contract = await client.get(
        f"/api/v1/contracts/{world.esp_a.contract_number}", headers=headers_a
    )
    assert contract.json()["status"] == "approved"


async def test_esp_b_gets_nothing_of_esp_a_named_in_a_query(
    client: httpx.AsyncClient, objects: Objects
) -> None:
    world = objects.world
    headers_a = await auth_headers(client, world.esp_a)
    headers_b = await auth_headers(client, world.esp_b)
    for operation, (values_of, missing) in QUERY_OBJECT_ROUTES.items():
        method, path = operation.split(" ", 1)
        mine = await client.request(method, path, params=values_of(objects), headers=headers_a)
        theirs = await client.request(method, path, params=values_of(objects), headers=headers_b)
        nothing = await client.request(method, path, params=missing, headers=headers_b)
        assert mine.status_code == 200, operation
        assert theirs.status_code == nothing.status_code == 404, operation
        assert theirs.json() == nothing.json(), operation


async def test_lists_of_esp_b_hold_nothing_of_esp_a(
    client: httpx.AsyncClient, objects: Objects
) -> None:
    world = objects.world
    headers_b = await auth_headers(client, world.esp_b)
    contracts = (await client.get("/api/v1/contracts", headers=headers_b)).json()["items"]
    assert world.esp_a.contract_number not in [c["number"] for c in contracts]
    clients = (await client.get("/api/v1/clients", headers=headers_b)).json()
    assert world.esp_a.client_id not in [c["client_id"] for c in clients]
    assert (await client.get("/api/v1/mandates", headers=headers_b)).json()["items"] == []
    assert (await client.get("/v3/api/mandate", headers=headers_b)).status_code == 404


async def test_esps_are_refused_on_operator_and_person_routes(
    app: FastAPI, client: httpx.AsyncClient, objects: Objects
) -> None:
    headers_b = await auth_headers(client, objects.world.esp_b)
    values = {
        "number": str(objects.world.esp_a.contract_number),
        "client_id": objects.world.esp_a.client_id,
        "ean": objects.world.owner_ean,
        "identifier": objects.identifier,
        "mandate_id": str(objects.mandate_id),
        "task_id": "1",
    }
    for operation in spec_operations():
        method, template = operation.split(" ", 1)
        if operation in PERSON_ONLY or template.startswith(FORBIDDEN_TO_ESPS_PREFIXES):
            if operation in NOT_OBJECT_ROUTES or operation in LIST_ROUTES | set(OBJECT_ROUTES):
                continue
            response = await client.request(
                method, _fill(template, values), headers=headers_b, json={}
            )
            assert response.status_code == 403, operation


@pytest.mark.parametrize("settings", [make_settings(meter_data_changes_margin_seconds=0)])
async def test_meter_data_reads_of_esp_b_hold_nothing_of_esp_a(
    app: FastAPI, client: httpx.AsyncClient, objects: Objects
) -> None:
    world = objects.world
    ean = world.owner_ean
    # The fixture's mandate starts today; this one covers the day read below.
    await mandate(app, client, world.esp_a, world.owner, ean, reference="matrix-data")
    head_end = await auth_headers(client, await make_machine_client(app, Role.head_end))
    stored = await client.post(
        "/api/v1/ingest/meter-readings",
        content=csv_body(day_rows(ean, date(2026, 2, 10))),
        headers={**head_end, "Content-Type": "text/csv"},
    )
    assert stored.status_code == 200, stored.text
    headers_a = await auth_headers(client, world.esp_a)
    headers_b = await auth_headers(client, world.esp_b)
    changes = "/api/v1/meter-data/changes"
    assert [i["ean"] for i in (await client.get(changes, headers=headers_a)).json()["items"]] == [
        ean
    ]
    assert (await client.get(changes, headers=headers_b)).json()["items"] == []

    unknown = make_ean(99_999_999)
    body = {"eans": [ean, unknown], "from": "2026-02-10", "to": "2026-02-11", "granularity": "P1D"}
    theirs, nothing = [
        json.loads(line)
        for line in (await client.post("/api/v1/meter-data/query", json=body, headers=headers_b))
        .content.decode()
        .splitlines()
    ]
    assert json.dumps(theirs).replace(ean, "X") == json.dumps(nothing).replace(unknown, "X")
    mine = await client.post("/api/v1/meter-data/query", json=body, headers=headers_a)
    assert json.loads(mine.content.splitlines()[0])["values"] == [4.656]


PORTAL_FILL = {
    "identifier": "abc",
    "mandate_id": "1",
    "task_id": "1",
    "number": "0000000001",
    "action": "approve",
    "audit_id": "1",
    "ean": "541448800000000007",
    "client_id": "x",
    "endpoint_id": "1",
    "message_id": "1",
    "token": "x",
}


def test_every_portal_page_is_classified() -> None:
    operations = portal_operations(create_app(make_settings(), database_url="postgresql://x/y"))
    assert sorted(set(operations) - set(PORTAL_PAGES)) == [], "classify these portal pages"
    assert sorted(set(PORTAL_PAGES) - set(operations)) == []


async def test_portal_pages_refuse_the_wrong_roles(app: FastAPI, client: httpx.AsyncClient) -> None:
    world = await make_consent_world(app, client)
    async with app.state.database.write_sessions() as session:
        session.add(
            Account(
                username="erik.esp",
                password_hash=hash_password(PASSWORD),
                display_name="Erik of ESP A",
                role=AccountRole.esp_user,
                organisation_id=world.esp_a.organisation_id,
            )
        )
        await session.commit()
    await make_person(app, "oscar.operator", AccountRole.operator)
    refused_by = {
        "person": ("erik.esp", "oscar.operator"),
        "operator": ("erik.esp", "olga.owner", "larry.landlord"),
        "esp": ("olga.owner", "oscar.operator"),
    }
    for kind, usernames in refused_by.items():
        for username in usernames:
            browser = await portal_browser(app, username)
            try:
                for operation, needed in PORTAL_PAGES.items():
                    if needed != kind:
                        continue
                    method, template = operation.split(" ", 1)
                    answer = await browser.request(
                        method, _fill(template, PORTAL_FILL), data={"csrf_token": "x"}
                    )
                    assert answer.status_code == 403, (username, operation)
                    assert "Traceback" not in answer.text
            finally:
                await browser.aclose()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anonymous:
        for operation, needed in PORTAL_PAGES.items():
            if needed == "public" or operation == "POST /portal/logout":
                continue
            method, template = operation.split(" ", 1)
            answer = await anonymous.request(method, _fill(template, PORTAL_FILL))
            assert answer.status_code == 303, operation
            assert answer.headers["location"].startswith("/portal/login?next=/")


# The ESP pages naming an object: ESP B's staff get the not-found page for ESP A's object,
# exactly as for one that does not exist. (The ESP lists are narrowed by the same repository
# functions as the API's, and checked below to hold nothing of ESP A.)
PortalObjectOf = Callable[["PortalObjects"], str]


class PortalObjects:
    def __init__(self, world: ConsentWorld, webhook_id: int) -> None:
        self.world = world
        self.webhook_id = webhook_id


PORTAL_ESP_OBJECTS: dict[str, tuple[PortalObjectOf, str]] = {
    "GET /portal/esp/access-points/{ean}": (
        lambda o: f"/portal/esp/access-points/{o.world.owner_ean}?date=2026-03-10",
        "/portal/esp/access-points/541448800000000007?date=2026-03-10",
    ),
    "GET /portal/esp/access-points/{ean}/csv": (
        lambda o: f"/portal/esp/access-points/{o.world.owner_ean}/csv?date=2026-03-10",
        "/portal/esp/access-points/541448800000000007/csv?date=2026-03-10",
    ),
    "POST /portal/esp/contracts/{number}/withdraw": (
        lambda o: f"/portal/esp/contracts/{o.world.esp_a.contract_number}/withdraw",
        "/portal/esp/contracts/9999999999/withdraw",
    ),
    "POST /portal/esp/contracts/{number}/rotate-key": (
        lambda o: f"/portal/esp/contracts/{o.world.esp_a.contract_number}/rotate-key",
        "/portal/esp/contracts/9999999999/rotate-key",
    ),
    "POST /portal/esp/clients/{client_id}/rotate": (
        lambda o: f"/portal/esp/clients/{o.world.esp_a.client_id}/rotate",
        "/portal/esp/clients/no-such-client/rotate",
    ),
    "POST /portal/esp/clients/{client_id}/revoke": (
        lambda o: f"/portal/esp/clients/{o.world.esp_a.client_id}/revoke",
        "/portal/esp/clients/no-such-client/revoke",
    ),
    "GET /portal/esp/webhooks/{endpoint_id}": (
        lambda o: f"/portal/esp/webhooks/{o.webhook_id}",
        "/portal/esp/webhooks/999999",
    ),
}


def test_every_esp_object_page_is_checked() -> None:
    with_object = {op for op, kind in PORTAL_PAGES.items() if kind == "esp" and "{" in op}
    assert with_object == set(PORTAL_ESP_OBJECTS)


async def test_esp_b_staff_get_nothing_of_esp_a_in_the_portal(
    app: FastAPI, client: httpx.AsyncClient, objects: Objects
) -> None:
    from datahub_api.webhooks.models import WebhookEndpoint

    from .support.consent_world import browser_login, field

    world = objects.world
    async with app.state.database.write_sessions() as session:
        endpoint = WebhookEndpoint(
            organisation_id=world.esp_a.organisation_id,
            url="https://esp-a.example/hook",
            event_types=["mandate.approved"],
            secret="whsec_matrix",
        )
        session.add(endpoint)
        session.add(
            Account(
                username="matrix.staff-b",
                password_hash=hash_password(PASSWORD),
                display_name="B",
                role=AccountRole.esp_user,
                organisation_id=world.esp_b.organisation_id,
            )
        )
        await session.commit()
    found = PortalObjects(world, endpoint.id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as staff_b:
        assert (await browser_login(staff_b, "matrix.staff-b", "/portal/")).status_code == 303
        token = field((await staff_b.get("/portal/esp/clients")).text, "csrf_token")
        for operation, (values_of, missing) in PORTAL_ESP_OBJECTS.items():
            method = operation.split(" ", 1)[0]
            data = {"csrf_token": token} if method == "POST" else None
            theirs = await staff_b.request(method, values_of(found), data=data)
            nothing = await staff_b.request(method, missing, data=data)
            assert theirs.status_code == nothing.status_code == 404, operation
            assert "Niet gevonden" in theirs.text, operation
        lists = [await staff_b.get(p) for p in ("/portal/esp/", "/portal/esp/webhooks")]
        for page in lists:
            assert world.owner_ean not in page.text
            assert "esp-a.example" not in page.text
    # ESP A's client still authenticates: B's rotate and revoke touched nothing.
    await auth_headers(client, world.esp_a)
