"""The operator's access-point routes: PUT, GET, list paging, ETags, bulk upserts, scopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.access_points import service
from datahub_api.access_points.ean import make_ean
from datahub_api.auth.principal import Role, Scope

from ..support.access_point_data import access_point_body, add_accounts, fresh_ean
from ..support.parties import auth_headers, make_esp

BASE = "/api/v1/access-points"
Bearer = Callable[..., dict[str, str]]


@pytest.fixture
def operator(bearer: Bearer) -> dict[str, str]:
    return bearer(Role.operator, [Scope.operator_access_points])


async def test_put_creates_then_replaces_and_repeats_idempotently(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    grid_user, customer = await add_accounts(app, 2)
    ean = fresh_ean()
    body = access_point_body(grid_user=grid_user, customer_ids=(grid_user, customer))

    created = await client.put(f"{BASE}/{ean}", json=body, headers=operator)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert stored["ean"] == ean
    assert stored["grid_users"] == [
        {"account_id": grid_user, "valid_from": "2024-01-01", "valid_to": None}
    ]
    assert [c["account_id"] for c in stored["customers"]] == [grid_user, customer]
    assert stored["physical_meters"][0]["meter_id"] == "1SAG2120063032"

    again = await client.put(f"{BASE}/{ean}", json={**body, "ean": ean}, headers=operator)
    assert again.status_code == 200
    assert again.json() == stored  # nothing changed, not even updated_at

    replaced_body = access_point_body(
        grid_user=grid_user,
        meter_type="KM",
        communication_periods=[],
        physical_meters=[],
        customers=[],
    )
    replaced = await client.put(f"{BASE}/{ean}", json=replaced_body, headers=operator)
    assert replaced.status_code == 200
    assert replaced.json()["meter_type"] == "KM"
    assert replaced.json()["physical_meters"] == []
    assert replaced.json()["customers"] == []
    assert replaced.json()["created_at"] == stored["created_at"]

    fetched = await client.get(f"{BASE}/{ean}", headers=operator)
    assert fetched.status_code == 200
    assert fetched.json() == replaced.json()


async def test_put_refuses_malformed_bodies_with_422(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    ean = fresh_ean()
    bad_path = await client.put(
        f"{BASE}/541448800000004313", json=access_point_body(), headers=operator
    )
    assert bad_path.status_code == 422
    assert bad_path.headers["content-type"] == "application/problem+json"
    assert "wrong check digit" in bad_path.json()["detail"]

    other = make_ean(431)
    mismatch = await client.put(
        f"{BASE}/{ean}", json=access_point_body(ean=other), headers=operator
    )
    assert mismatch.status_code == 422
    assert f"differs from the EAN of the path {ean}" in mismatch.json()["detail"]

    cases: list[tuple[dict[str, Any], str]] = [
        (access_point_body(energy_type="X"), "energy_type"),
        (access_point_body(meter_type="KM"), "only for digital meters"),
        (
            access_point_body(
                communication_periods=[{"valid_from": "2025-01-02", "valid_to": "2025-01-01"}]
            ),
            "valid_to must be after valid_from",
        ),
        (access_point_body(unknown_field=1), "unknown_field"),
        (
            access_point_body(
                sub_headpoints=[{"type": "submetering-production", "seq_number": "2"}]
            ),
            "sub-headpoints need metering on headpoint",
        ),
    ]
    for body, reason in cases:
        response = await client.put(f"{BASE}/{ean}", json=body, headers=operator)
        assert response.status_code == 422, body
        assert reason in response.text, response.text
    assert (await client.get(f"{BASE}/{ean}", headers=operator)).status_code == 404


async def test_unknown_or_unsuitable_party_accounts_are_refused(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    (operator_account,) = await add_accounts(app, 1, role="operator")
    ean = fresh_ean()
    missing = await client.put(
        f"{BASE}/{ean}", json=access_point_body(grid_user=999_999), headers=operator
    )
    assert missing.status_code == 422
    assert "account 999999 does not exist" in missing.json()["detail"]
    wrong_role = await client.put(
        f"{BASE}/{ean}", json=access_point_body(customer_ids=(operator_account,)), headers=operator
    )
    assert wrong_role.status_code == 422
    assert "is an operator account" in wrong_role.json()["detail"]


async def test_overlapping_grid_users_are_a_conflict(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    first, second = await add_accounts(app, 2)
    ean = fresh_ean()
    body = access_point_body(
        grid_users=[
            {"account_id": first, "valid_from": "2024-01-01", "valid_to": "2025-06-01"},
            {"account_id": second, "valid_from": "2025-05-31"},
        ]
    )
    response = await client.put(f"{BASE}/{ean}", json=body, headers=operator)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/access-point-conflict")
    assert "grid users overlap" in response.json()["detail"]
    assert (await client.get(f"{BASE}/{ean}", headers=operator)).status_code == 404

    # Back to back (valid_to is exclusive) is a move, not an overlap.
    body["grid_users"][1]["valid_from"] = "2025-06-01"
    assert (await client.put(f"{BASE}/{ean}", json=body, headers=operator)).status_code == 201


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        (
            {
                "communication_periods": [
                    {"valid_from": "2024-01-01", "valid_to": "2024-06-01"},
                    {"valid_from": "2024-05-01"},
                ]
            },
            "communication periods overlap",
        ),
        (
            {
                "physical_meters": [
                    {"seq_number": "1", "meter_id": "A", "installed_from": "2024-01-01"},
                    {"seq_number": "1", "meter_id": "B", "installed_from": "2025-01-01"},
                ]
            },
            "two meters are installed at once on seq_number 1",
        ),
    ],
)
async def test_other_overlaps_are_conflicts(
    client: httpx.AsyncClient, operator: dict[str, str], details: dict[str, Any], reason: str
) -> None:
    response = await client.put(
        f"{BASE}/{fresh_ean()}", json=access_point_body(**details), headers=operator
    )
    assert response.status_code == 409
    assert reason in response.json()["detail"]


async def test_get_unknown_ean_is_404_and_invalid_ean_is_422(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    unknown = await client.get(f"{BASE}/{fresh_ean()}", headers=operator)
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/access-point-not-found")
    for bad in ("54144880000000431", "54144880000000431X"):
        assert (await client.get(f"{BASE}/{bad}", headers=operator)).status_code == 422


async def test_item_and_list_send_etags_and_answer_304(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    ean = fresh_ean()
    await client.put(f"{BASE}/{ean}", json=access_point_body(), headers=operator)
    for url in (f"{BASE}/{ean}", f"{BASE}?limit=5"):
        first = await client.get(url, headers=operator)
        etag = first.headers["etag"]
        assert etag.startswith('"')
        cached = await client.get(url, headers={**operator, "If-None-Match": etag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        other = await client.get(url, headers={**operator, "If-None-Match": '"stale"'})
        assert other.status_code == 200

    old_etag = (await client.get(f"{BASE}/{ean}", headers=operator)).headers["etag"]
    await client.put(f"{BASE}/{ean}", json=access_point_body(gvm=True), headers=operator)
    changed = await client.get(f"{BASE}/{ean}", headers={**operator, "If-None-Match": old_etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != old_etag


async def test_paging_walks_every_access_point_once_in_ean_order(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    eans = sorted(fresh_ean() for _ in range(7))
    lines = "\n".join(json.dumps(access_point_body(ean)) for ean in eans)
    stored = await client.post(
        f"{BASE}:bulk",
        content=lines,
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert stored.status_code == 200, stored.text

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(BASE, params=params, headers=operator)).json()
        seen.extend(item["ean"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # A new access point before the cursor does not shift the pages after it.
        if pages == 1:
            await client.put(f"{BASE}/{make_ean(1)}", json=access_point_body(), headers=operator)
    assert seen == eans
    assert pages == 3

    bad = await client.get(BASE, params={"cursor": "bm9wZQ"}, headers=operator)
    assert bad.status_code == 422
    too_big = await client.get(BASE, params={"limit": 100_000}, headers=operator)
    assert too_big.status_code == 422


async def test_list_filters(client: httpx.AsyncClient, operator: dict[str, str]) -> None:
    gas, quiet, gvm, talking = (fresh_ean() for _ in range(4))
    bodies = [
        access_point_body(gas, energy_type="G"),
        access_point_body(quiet, communication_periods=[]),
        access_point_body(gvm, gvm=True, meter_type="KM", communication_periods=[]),
        access_point_body(
            talking, communication_periods=[{"valid_from": "2026-03-29", "valid_to": "2026-10-25"}]
        ),
    ]
    response = await client.post(
        f"{BASE}:bulk",
        content="\n".join(json.dumps(b) for b in bodies),
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text

    async def eans(**params: Any) -> set[str]:
        answer = await client.get(BASE, params=params, headers=operator)
        assert answer.status_code == 200, answer.text
        return {item["ean"] for item in answer.json()["items"]}

    assert await eans(energy_type="G") == {gas}
    assert await eans(gvm="true") == {gvm}
    assert await eans(meter_type="KM") == {gvm}
    assert await eans(communicating_on="2026-03-28") == {gas}
    assert await eans(communicating_on="2026-03-29") == {gas, talking}
    assert await eans(communicating_on="2026-10-24") == {gas, talking}
    assert await eans(communicating_on="2026-10-25") == {gas}


async def test_bulk_ndjson_and_csv_store_everything(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    grid_user, tenant = await add_accounts(app, 2)
    ndjson_eans = [fresh_ean() for _ in range(3)]
    ndjson = "\n".join(
        json.dumps(access_point_body(ean, grid_user=grid_user, customer_ids=(grid_user,)))
        for ean in ndjson_eans
    )
    first = await client.post(
        f"{BASE}:bulk",
        content=ndjson + "\n\n",
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 3, "created": 3, "updated": 0, "unchanged": 0}

    csv_ean, gvm_ean, pv_ean = fresh_ean(), fresh_ean(), fresh_ean()
    csv_text = (
        "ean,energy_type,meter_type,metering,gvm,meter_ids,meters_installed_from,"
        "communication_periods,grid_user_account_id,customer_account_ids,parties_valid_from,"
        "sub_headpoints\n"
        f"{csv_ean},E,DM,,false,1SAG1|1SAG2,2023-05-03,2023-05-03/2024-02-01|2024-03-15/,"
        f"{grid_user},{tenant},2023-05-03,\n"
        f"{gvm_ean},E,KM,metering-on-headpoint-and-meter,true,AMR7,2020-01-01,,{grid_user},"
        f"{grid_user},2020-01-01,production:2:{pv_ean}:PV:G10345678\n"
        f"{ndjson_eans[0]},G,KM,,0,,,,,,,\n"
    )
    second = await client.post(
        f"{BASE}:bulk",
        content=csv_text,
        headers={**operator, "Content-Type": "text/csv; charset=utf-8"},
    )
    assert second.status_code == 200, second.text
    assert second.json() == {"received": 3, "created": 2, "updated": 1, "unchanged": 0}

    stored = (await client.get(f"{BASE}/{csv_ean}", headers=operator)).json()
    assert [m["meter_id"] for m in stored["physical_meters"]] == ["1SAG1", "1SAG2"]
    assert [m["seq_number"] for m in stored["physical_meters"]] == ["1", "2"]
    assert stored["communication_periods"] == [
        {"valid_from": "2023-05-03", "valid_to": "2024-02-01"},
        {"valid_from": "2024-03-15", "valid_to": None},
    ]
    assert stored["grid_users"][0]["account_id"] == grid_user
    assert stored["customers"][0]["account_id"] == tenant
    gvm = (await client.get(f"{BASE}/{gvm_ean}", headers=operator)).json()
    assert gvm["gvm"] is True
    assert gvm["sub_headpoints"] == [
        {
            "type": "submetering-production",
            "seq_number": "2",
            "ean": pv_ean,
            "vreg_id": "G10345678",
            "installation_type": "PV",
        }
    ]
    replaced = (await client.get(f"{BASE}/{ndjson_eans[0]}", headers=operator)).json()
    assert replaced["energy_type"] == "G"
    assert replaced["grid_users"] == []

    again = await client.post(
        f"{BASE}:bulk", content=csv_text, headers={**operator, "Content-Type": "text/csv"}
    )
    assert again.json() == {"received": 3, "created": 0, "updated": 0, "unchanged": 3}


async def test_bulk_with_bad_rows_stores_nothing_and_names_the_lines(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    (grid_user,) = await add_accounts(app, 1)
    good = [access_point_body(fresh_ean(), grid_user=grid_user) for _ in range(5)]
    duplicate = dict(good[0])
    overlapping = access_point_body(
        fresh_ean(),
        grid_users=[
            {"account_id": grid_user, "valid_from": "2024-01-01"},
            {"account_id": grid_user, "valid_from": "2025-01-01"},
        ],
    )
    lines = [
        json.dumps(good[0]),
        json.dumps(good[1]),
        "{not json",  # line 3
        json.dumps(good[2]),
        json.dumps({**good[3], "ean": "541448800000004313"}),  # line 5
        json.dumps(duplicate),  # line 6
        json.dumps(overlapping),  # line 7
        json.dumps(access_point_body(fresh_ean(), customer_ids=(424_242,))),  # line 8
        json.dumps(good[4]),
    ]
    response = await client.post(
        f"{BASE}:bulk",
        content="\n".join(lines),
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/bulk-rejected")
    assert [error["line"] for error in problem["errors"]] == [3, 5]
    assert "wrong check digit" in problem["errors"][1]["detail"]
    listed = await client.get(BASE, headers=operator)
    assert listed.json()["items"] == []

    # With the malformed lines fixed, the rules that need the database speak.
    lines[2] = json.dumps(access_point_body(fresh_ean()))
    lines[4] = json.dumps(good[3])
    response = await client.post(
        f"{BASE}:bulk",
        content="\n".join(lines),
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [error["line"] for error in errors] == [6, 7, 8]
    assert "appears twice (also line 1)" in errors[0]["detail"]
    assert "grid users overlap" in errors[1]["detail"]
    assert "account 424242 does not exist" in errors[2]["detail"]
    assert response.json()["error_count"] == 3
    assert (await client.get(BASE, headers=operator)).json()["items"] == []


async def test_bulk_csv_errors_count_the_header_as_line_one(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    csv_text = f"ean,energy_type,meter_type\n{fresh_ean()},E,DM\n{fresh_ean()},E,XX\n"
    response = await client.post(
        f"{BASE}:bulk", content=csv_text, headers={**operator, "Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["line"] == 3
    assert "meter_type" in response.json()["errors"][0]["detail"]

    header = await client.post(
        f"{BASE}:bulk", content="ean,colour\n", headers={**operator, "Content-Type": "text/csv"}
    )
    assert header.status_code == 422
    assert "unknown column(s) colour" in header.json()["errors"][0]["detail"]


async def test_bulk_limits_and_media_types(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datahub_api.access_points import router

    ndjson = {**operator, "Content-Type": "application/x-ndjson"}
    huge = b"x" * (11 * 1024 * 1024)
    too_large = await client.post(f"{BASE}:bulk", content=huge, headers=ndjson)
    assert too_large.status_code == 413

    monkeypatch.setattr(router, "MAX_BULK_ROWS", 3)
    lines = "\n".join(json.dumps(access_point_body(fresh_ean())) for _ in range(4))
    too_many = await client.post(f"{BASE}:bulk", content=lines, headers=ndjson)
    assert too_many.status_code == 413
    assert "at most 3 access points" in too_many.json()["detail"]

    wrong_type = await client.post(
        f"{BASE}:bulk", content="{}", headers={**operator, "Content-Type": "application/json"}
    )
    assert wrong_type.status_code == 415
    empty = await client.post(f"{BASE}:bulk", content="\n", headers=ndjson)
    assert empty.status_code == 422
    assert (await client.get(BASE, headers=operator)).json()["items"] == []


async def test_bulk_of_ten_thousand_in_one_call(
    app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:

    accounts = await add_accounts(app, 100)
    lines = "\n".join(
        json.dumps(
            access_point_body(
                make_ean(10_000_000 + i),
                grid_user=accounts[i % 100],
                customer_ids=(accounts[i % 100],),
            )
        )
        for i in range(10_000)
    )
    response = await client.post(
        f"{BASE}:bulk", content=lines, headers={**operator, "Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["created"] == 10_000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", BASE),
        ("GET", f"{BASE}/541448800000004312"),
        ("PUT", f"{BASE}/541448800000004312"),
        ("POST", f"{BASE}:bulk"),
    ],
)
async def test_operator_scope_is_required(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str
) -> None:
    anonymous = await client.request(method, path, json=access_point_body())
    assert anonymous.status_code == 401
    esp = await auth_headers(client, await make_esp(app, "Curious ESP"))
    refused = await client.request(method, path, json=access_point_body(), headers=esp)
    assert refused.status_code == 403
    assert "operator:access-points" in refused.json()["detail"]


async def test_options_on_an_item_lists_every_method(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(f"{BASE}/541448800000004312")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT"


def test_service_limits_are_documented() -> None:
    from datahub_api.access_points.router import BULK_DESCRIPTION, MAX_BULK_ROWS

    assert str(MAX_BULK_ROWS) in BULK_DESCRIPTION
    assert "`meter_ids`" in BULK_DESCRIPTION
    assert service.MAX_REPORTED_ERRORS == 50


async def test_bulk_lines_split_only_on_newlines(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    """A U+2028 inside a JSON string is not a line end: the line is parsed whole, and the
    meter id it is in is then refused by the registry's rule for meter ids (line 1)."""
    ean = fresh_ean()
    body = access_point_body(
        ean,
        physical_meters=[
            {"seq_number": "1", "meter_id": "A\u2028B", "installed_from": "2024-01-01"}
        ],
    )
    line = json.dumps(body, ensure_ascii=False)
    assert "\u2028" in line
    response = await client.post(
        f"{BASE}:bulk",
        content=(line + "\r\n" + json.dumps(access_point_body(fresh_ean())) + "\r\n").encode(),
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["line"] for error in errors] == [1]
    assert "meter_id" in errors[0]["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("meter_id", '=HYPERLINK("http://evil.example")'),
        ("meter_id", "+1SAG"),
        ("meter_id", "-2+3"),
        ("meter_id", "@SUM(A1)"),
        ("meter_id", "\t1SAG"),
        ("meter_id", "\r1SAG"),
        ("meter_id", "1SAG 2"),
        ("seq_number", "=1"),
    ],
)
async def test_registry_texts_are_validated_on_entry(
    client: httpx.AsyncClient, operator: dict[str, str], field: str, value: str
) -> None:
    ean = fresh_ean()
    meter = {"seq_number": "1", "meter_id": "1SAG2120063032", "installed_from": "2024-01-01"}
    meter[field] = value
    body = access_point_body(ean, physical_meters=[meter])
    single = await client.put(f"{BASE}/{ean}", json=body, headers=operator)
    assert single.status_code == 422, single.text
    assert field in single.json()["detail"]
    bulk = await client.post(
        f"{BASE}:bulk",
        content=json.dumps(access_point_body(fresh_ean())) + "\n" + json.dumps(body),
        headers={**operator, "Content-Type": "application/x-ndjson"},
    )
    assert bulk.status_code == 422, bulk.text
    assert [error["line"] for error in bulk.json()["errors"]] == [2]
    assert field in bulk.json()["errors"][0]["detail"]


async def test_registry_csv_meter_ids_are_validated_on_entry(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    csv_text = (
        "ean,energy_type,meter_type,meter_ids,meters_installed_from\n"
        f"{fresh_ean()},E,DM,1SAG1,2024-01-01\n"
        f"{fresh_ean()},E,DM,1SAG2|=cmd,2024-01-01\n"
    )
    response = await client.post(
        f"{BASE}:bulk", content=csv_text, headers={**operator, "Content-Type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["line"] == 3
    assert "meter_id" in response.json()["errors"][0]["detail"]
