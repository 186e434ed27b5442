"""Calendar edges never give a 5xx: every date, instant, month and year parameter of every
route (taken from the OpenAPI spec, so a new route is covered the day it is added) is sent
values at and past the edges of the documented range (2000-01-01 up to 2100-01-01), with
extreme offsets, NUL bytes and over-long fractions."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.cli.openapi_spec import openapi_document
from datahub_api.settings import Settings

from .support.consent_world import ConsentWorld, make_consent_world, owner_mandate
from .support.environment import make_settings
from .support.parties import auth_headers

DAYS = ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-02", "2100-01-01", "10000-01-01"]
INSTANTS = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:00:00-05:00",
    "9999-12-31T23:30:00Z",
    "9999-12-31T23:59:59.999999+14:00",
    "0001-01-01T00:00:00+14:00",
    "1999-12-31T23:59:59Z",
    "2100-01-02T00:00:00Z",
    "2026-02-10T00:00:00+14:00",
    "2026-02-10T00:00:00-14:00",
    "2026-02-10T00:00:00+23:59",
    "2026-02-10T00:00:00.1234567Z",
    "2026-02-10T00:00:00\x00Z",
    "2026-02-10\x00",
]
MONTHS = ["9999-12", "0001-01", "1999-12", "2100-02"]
YEARS: list[Any] = [1, 9999, 1999, 2100, 2101, 10**12, -1, "9999"]
EDGES: list[Any] = [*DAYS, *INSTANTS, *MONTHS, *YEARS]

CALENDAR_NAME = re.compile(
    r"(^|_)(date|from|to|since|until|month|year|day|on|at|by)($|_)"
    r"|date|time|period|expir|signed|installed|valid_",
    re.IGNORECASE,
)
NOT_CALENDAR = re.compile(r"(^|_)id$|Type$|_type$|number|periodType|timeout", re.IGNORECASE)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is_calendar(name: str, schema: dict[str, Any]) -> bool:
    text = json.dumps(schema)
    if '"format": "date' in text:
        return True
    return bool(CALENDAR_NAME.search(name)) and not NOT_CALENDAR.search(name)


def _body_fields(
    spec: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...], depth: int = 0
) -> list[tuple[str, ...]]:
    schema = _resolve(spec, schema)
    if depth > 5:
        return []
    found: list[tuple[str, ...]] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _body_fields(spec, option, path, depth + 1)
    if schema.get("type") == "array" and "items" in schema:
        found += _body_fields(spec, schema["items"], (*path, "[]"), depth + 1)
    for name, prop in schema.get("properties", {}).items():
        if _is_calendar(name, _resolve(spec, prop) if "$ref" in prop else prop):
            found.append((*path, name))
        found += _body_fields(spec, prop, (*path, name), depth + 1)
    return sorted(set(found))


def calendar_inputs() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Per operation, its calendar inputs: ("query", (name,)) or ("body", path)."""
    spec = json.loads(openapi_document())
    found: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            inputs: list[tuple[str, tuple[str, ...]]] = [
                ("query", (p["name"],))
                for p in operation.get("parameters", [])
                if p["in"] == "query" and _is_calendar(p["name"], p.get("schema", {}))
            ]
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is not None:
                inputs += [("body", field) for field in _body_fields(spec, schema, ())]
            if inputs:
                found[f"{method.upper()} {path}"] = inputs
    return found


# A request each operation answers with success, as a caller that may make it: the test
# replaces one calendar input at a time. Keyed by operation; `esp` or `operator`.
Base = tuple[str, Callable[[ConsentWorld], dict[str, Any]], Callable[[ConsentWorld], Any]]


def _no_body(world: ConsentWorld) -> None:
    return None


def _no_params(world: ConsentWorld) -> dict[str, Any]:
    return {}


def _access_point(world: ConsentWorld) -> dict[str, Any]:
    return {
        "energy_type": "E",
        "meter_type": "DM",
        "physical_meters": [
            {"seq_number": "1", "meter_id": "1SAG1", "installed_from": "2024-01-01"}
        ],
        "communication_periods": [{"valid_from": "2024-01-01"}],
        "grid_users": [],
        "customers": [],
    }


EVIDENCE = {
    "mandate_id": "m-1",
    "signed_on": "2026-01-05",
    "grid_user_name": "A. Owner",
    "document_sha256": "a" * 64,
}

BASES: dict[str, Base] = {
    "POST /api/v1/consent-sessions": (
        "esp",
        _no_params,
        lambda w: {
            "contract_number": w.esp_a.contract_number,
            "reference_number": "edge-1",
            "data_services": [
                {
                    "data_service_type": "VH_dag",
                    "data_period_from": "2025-01-01T00:00:00Z",
                    "data_period_to": "2027-01-01T00:00:00Z",
                }
            ],
        },
    ),
    "GET /api/v1/mandates": (
        "esp",
        lambda w: {"expiring_by": "2026-01-01T00:00:00Z", "updated_since": "2026-01-01T00:00Z"},
        _no_body,
    ),
    "POST /api/v1/contracts": (
        "esp",
        _no_params,
        lambda w: {"channels": ["api"], "valid_from": "2026-01-01", "valid_to": "2027-01-01"},
    ),
    "GET /api/v1/access-points": (
        "operator",
        lambda w: {"communicating_on": "2026-01-01"},
        _no_body,
    ),
    "PUT /api/v1/access-points/{ean}": ("operator", _no_params, _access_point),
    "PUT /api/v1/access-points/{ean}/installation": (
        "operator",
        _no_params,
        lambda w: {
            "local_production_installations": [{"type": "solar", "inspection_date": "2025-01-01"}],
            "estimated_annual_volumes": [],
        },
    ),
    "GET /v3/api/mandate": (
        "esp",
        lambda w: {
            "mandateExpirationDate": "2026-01-01",
            "lastUpdatedFrom": "2026-01-01T00:00:00Z",
            "lastUpdatedTo": "2026-02-01T00:00:00Z",
        },
        _no_body,
    ),
    "POST /v3/api/shortUrlIdentifier": (
        "esp",
        _no_params,
        lambda w: {
            "dataAccessContractNumber": w.esp_a.contract_number,
            "referenceNumber": "edge-2",
            "flow": "B2C",
            "dataServices": [
                {
                    "dataServiceType": "VH_kwartier_uur",
                    "dataPeriodFrom": "2025-01-01T00:00:00Z",
                    "dataPeriodTo": "2027-01-01T00:00:00Z",
                }
            ],
            "numberOfEans": 1,
            "returnUrlSuccess": "https://esp.example/ok",
            "returnUrlFailed": "https://esp.example/failed",
        },
    ),
    "POST /v3/api/mandate/mock": (
        "esp",
        _no_params,
        lambda w: {
            "referenceNumber": "edge-3",
            "ean": w.owner_ean,
            "dataServiceType": "VH_dag",
            "dataPeriodFrom": "2025-01-01T00:00:00Z",
            "dataPeriodTo": "2027-01-01T00:00:00Z",
            "mandateExpirationDate": "2027-01-01T00:00:00Z",
        },
    ),
    "GET /v3/api/mandate/energy": (
        "esp",
        lambda w: {
            "ean": w.owner_ean,
            "periodType": "readTime",
            "granularity": "daily",
            "from": "2026-02-01",
            "to": "2026-02-10",
        },
        _no_body,
    ),
    "GET /api/v1/access-points/{ean}/meter-data": (
        "esp",
        lambda w: {"from": "2026-02-01", "to": "2026-02-10"},
        _no_body,
    ),
    "GET /api/v1/access-points/{ean}/monthly-peaks": (
        "esp",
        lambda w: {"from": "2026-01", "to": "2026-02"},
        _no_body,
    ),
    # A customer's own routes: an ESP is refused before the parameters (the customer's odd
    # dates are tested in tests/meter_data/test_my_data.py and
    # tests/capacity/test_my_capacity_peaks.py).
    "GET /api/v1/me/access-points/{ean}/meter-data": (
        "esp",
        lambda w: {"from": "2026-02-01", "to": "2026-02-10"},
        _no_body,
    ),
    "GET /api/v1/me/access-points/{ean}/monthly-peaks": (
        "esp",
        lambda w: {"from": "2026-01", "to": "2026-02"},
        _no_body,
    ),
    "POST /api/v1/meter-data/query": (
        "esp",
        _no_params,
        lambda w: {"eans": [w.owner_ean], "from": "2026-02-10", "to": "2026-02-12"},
    ),
    "GET /api/v1/sla/report": (
        "esp",
        lambda w: {"from": "2026-01-01", "to": "2026-02-01"},
        _no_body,
    ),
    "GET /api/v1/sla/late-items": (
        "esp",
        lambda w: {"channel": "api", "from": "2026-01-01", "to": "2026-02-01"},
        _no_body,
    ),
    "GET /api/v1/sla/chart": ("esp", lambda w: {"channel": "api", "month": "2026-01"}, _no_body),
    "POST /api/v1/nps/requests": (
        "esp",
        _no_params,
        lambda w: {
            "reference_number": "edge-4",
            "eans": [
                {
                    "ean": w.owner_ean,
                    "evidence": {
                        **EVIDENCE,
                        "data_period_from": "2025-01-01",
                        "data_period_to": "2026-01-01",
                    },
                }
            ],
        },
    ),
    "POST /api/v1/history-exports": (
        "esp",
        _no_params,
        lambda w: {
            "reference_number": "edge-5",
            "year": 2025,
            "format": "csv",
            "eans": [{"ean": w.owner_ean, "evidence": EVIDENCE}],
        },
    ),
    "POST /api/v1/operator/history-export-quota-exceptions": (
        "operator",
        _no_params,
        lambda w: {"organisation_id": w.esp_a.organisation_id, "year": 2025, "extra": 1},
    ),
    "POST /api/v1/operator/history-exports/{export_id}/deadline": (
        "operator",
        _no_params,
        lambda w: {"due_at": "2026-03-01T00:00:00Z", "reason": "edge"},
    ),
    "POST /api/v1/operator/history-exports/{export_id}/eans": (
        "operator",
        _no_params,
        lambda w: {"eans": [{"ean": w.owner_ean, "evidence": EVIDENCE}]},
    ),
}


def test_every_calendar_input_has_a_base_request() -> None:
    """A new route with a date, instant, month or year gets a base request here."""
    assert sorted(set(calendar_inputs()) - set(BASES)) == []


@pytest.fixture
def settings() -> Settings:
    return make_settings(sandbox=True)


def _set(body: Any, path: tuple[str, ...], value: Any) -> Any:
    body = deepcopy(body)
    target = body
    for index, key in enumerate(path[:-1]):
        if key == "[]":
            continue
        nxt = path[index + 1]
        if key not in target or target[key] is None:
            target[key] = [{}] if nxt == "[]" else {}
        target = target[key]
        if nxt == "[]":
            if not target:
                target.append({})
            target = target[0]
    if path[-1] != "[]":
        target[path[-1]] = value
    return body


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    params: dict[str, Any],
    body: Any,
) -> httpx.Response:
    if body is not None:
        headers = {**headers, "Content-Type": "application/json"}
    content = None if body is None else json.dumps(body)
    return await client.request(method, url, params=params, headers=headers, content=content)


@pytest.mark.parametrize("operation", sorted(calendar_inputs()))
async def test_calendar_edges_never_give_a_5xx(
    app: FastAPI, client: httpx.AsyncClient, operation: str
) -> None:
    world = await make_consent_world(app, client)
    callers: dict[str, Callable[[], Awaitable[dict[str, str]]]] = {
        "esp": lambda: auth_headers(client, world.esp_a),
        "operator": lambda: _return(world.operator_headers),
    }
    caller, params_of, body_of = BASES[operation]
    headers = await callers[caller]()
    method, template = operation.split(" ", 1)
    url = template.format(ean=world.owner_ean, export_id=1, mandate_id=1, endpoint_id=1, number=1)
    failures = []
    for where, field in calendar_inputs()[operation]:
        for value in EDGES:
            params, body = params_of(world), body_of(world)
            if where == "query":
                params[field[0]] = value
            else:
                body = _set(body, field, value)
            answer = await send(client, method, url, headers, params, body)
            if answer.status_code >= 500:
                failures.append((field, value, answer.status_code, answer.text[:200]))
    assert failures == []


async def _return(value: dict[str, str]) -> dict[str, str]:
    return value


async def test_out_of_range_values_are_refused_on_each_face(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    world = await make_consent_world(app, client)
    await owner_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    v3 = await client.get(
        "/v3/api/mandate/energy",
        params={
            "ean": world.owner_ean,
            "periodType": "readTime",
            "granularity": "daily",
            "from": "0001-01-01",
            "to": "9999-12-31T23:00:00-05:00",
        },
        headers=headers,
    )
    assert v3.status_code == 400, v3.text
    native = await client.get(
        f"/api/v1/access-points/{world.owner_ean}/meter-data",
        params={"from": "0001-01-01", "to": "2026-01-01"},
        headers=headers,
    )
    assert native.status_code == 422, native.text
    assert native.headers["content-type"] == "application/problem+json"
    assert "2000-01-01" in native.json()["detail"]
    chart = await client.get(
        "/api/v1/sla/chart", params={"channel": "api", "month": "9999-12"}, headers=headers
    )
    assert chart.status_code == 422, chart.text
    mock = await client.post(
        "/v3/api/mandate/mock",
        json={
            "referenceNumber": "edge-mock",
            "ean": world.owner_ean,
            "dataServiceType": "VH_dag",
            "dataPeriodFrom": "2025-01-01T00:00:00Z",
            "dataPeriodTo": "9999-12-31T23:30:00Z",
        },
        headers=headers,
    )
    assert mock.status_code == 400, mock.text
    mandates = await client.get(
        "/api/v1/mandates", params={"updated_since": "0001-01-01T00:00:00Z"}, headers=headers
    )
    assert mandates.status_code == 422, mandates.text


async def test_stored_values_at_the_edges_render(app: FastAPI, client: httpx.AsyncClient) -> None:
    """A sandbox mock mandate made before the range was checked, ending at the last instant
    Python holds: every page and answer that shows it still renders."""
    from sqlalchemy import text

    from .support.esp_portal_world import make_esp_world
    from .support.portal import portal_browser

    esp_world = await make_esp_world(app, client)
    world = esp_world.world
    headers = await auth_headers(client, world.esp_a)
    mandate_id = await owner_mandate(app, client, world)
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text(
                "UPDATE mandates SET data_period_to = :end, expiration_date = :end WHERE id = :id"
            ),
            {"end": datetime(9999, 12, 31, 23, 30, tzinfo=UTC), "id": mandate_id},
        )
        await session.commit()
    for path, params in (
        ("/api/v1/mandates", {}),
        (f"/api/v1/mandates/{mandate_id}", {}),
        ("/v3/api/mandate", {}),
        ("/v3/api/mandate", {"ean": world.owner_ean}),
    ):
        answer = await client.get(path, params=params, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
        assert "9999-12-31T23:30:00" in answer.text, path
    owner = await portal_browser(app, world.owner.username)
    staff = await portal_browser(app, esp_world.staff_a.username)
    try:
        for browser, path in (
            (owner, "/portal/mandates"),
            (owner, "/portal/"),
            (staff, "/portal/esp/access-points"),
            (staff, f"/portal/esp/access-points/{world.owner_ean}"),
        ):
            page = await browser.get(path)
            assert page.status_code == 200, (path, page.text[:500])
    finally:
        await owner.aclose()
        await staff.aclose()


def test_cli_month_out_of_range_is_refused() -> None:
    from typer.testing import CliRunner

    from datahub_api.cli import cli

    for month in ("9999-12", "0001-01", "1999-12", "2100-01"):
        result = CliRunner().invoke(cli, ["sla", "report", "--month", month])
        assert result.exit_code == 2, (month, result.output)
        assert "2000-01-01" in result.output, result.output


async def test_portal_query_strings_at_the_edges_give_readable_pages(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from .support.esp_portal_world import make_esp_world
    from .support.portal import portal_browser

    esp_world = await make_esp_world(app, client)
    staff = await portal_browser(app, esp_world.staff_a.username)
    try:
        for value in [*DAYS, *MONTHS, "9999", "0001", "2100", "2026-02-10\x00"]:
            for span in ("day", "week", "month", "year"):
                page = await staff.get(
                    f"/portal/esp/access-points/{esp_world.ean}",
                    params={"span": span, "date": value},
                )
                assert 400 <= page.status_code < 500 or page.status_code == 200, value
                assert page.headers["content-type"].startswith("text/html"), value
                csv = await staff.get(
                    f"/portal/esp/access-points/{esp_world.ean}/csv",
                    params={"span": span, "date": value},
                )
                assert csv.status_code < 500, (value, span)
                if value.startswith(("0001", "9999", "1999", "2100-01-02", "10000")):
                    assert page.status_code in (400, 422), (value, span)
    finally:
        await staff.aclose()


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_deeply_nested_json_is_a_422(
    app: FastAPI, client: httpx.AsyncClient, bearer: Callable[..., dict[str, str]], depth: int
) -> None:
    """NDJSON lines and JSON bodies nested thousands deep: a 422 naming the problem, never
    a recursion error."""
    from datahub_api.auth.principal import Role, Scope

    from .support.reading_world import head_end_headers

    world = await make_consent_world(app, client)
    deep = "[" * depth + "]" * depth
    deep_object = '{"a":' * depth + "1" + "}" * depth
    ingest = await client.post(
        "/api/v1/ingest/meter-readings",
        content=(deep + "\n" + deep_object + "\n").encode(),
        headers={**await head_end_headers(app, client), "Content-Type": "application/x-ndjson"},
    )
    assert ingest.status_code == 422, ingest.text
    operator = bearer(Role.operator, [Scope.operator_access_points])
    bulk = await client.post(
        "/api/v1/access-points:bulk",
        content=(deep_object + "\n").encode(),
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert bulk.status_code == 422, bulk.text
    query = await client.post(
        "/api/v1/meter-data/query",
        content=deep_object.encode(),
        headers={
            **await auth_headers(client, world.esp_a),
            "Content-Type": "application/json",
        },
    )
    assert query.status_code == 422, query.text
    v3 = await client.post(
        "/v3/api/shortUrlIdentifier",
        content=deep.encode(),
        headers={
            **await auth_headers(client, world.esp_a),
            "Content-Type": "application/json",
        },
    )
    assert v3.status_code == 400, v3.text
