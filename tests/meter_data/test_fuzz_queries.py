"""Fuzzing the query parameters (and the bulk query's body) of the ESP's read routes with
hypothesis: never a 5xx, errors in the face's format, and a refused read records nothing
(no access-log record, no audit trail of a read that did not happen)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from datahub_api.db import Database

from ..support.consent_world import make_consent_world
from ..support.meter_data import day_rows
from ..support.parties import auth_headers
from ..support.reading_world import deliver, head_end_headers, mandate

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)

# Values meant to break parsers, SQL built by string, LIKE patterns, regexes, date maths.
hostile = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "'",
            "''",
            '"',
            "\\",
            "%",
            "_",
            "*",
            "%00",
            "\x00",
            "' OR '1'='1",
            "1; DROP TABLE mandates; --",
            "1) OR (1=1",
            "$1",
            "{{7*7}}",
            "${jndi:ldap://x}",
            "../../etc/passwd",
            "<script>",
            "null",
            "true",
            "[]",
            "{}",
            "-1",
            "0",
            "1e9",
            "99999999999999999999999",
            "NaN",
            "2026-02-30",
            "2026-13-01",
            "0000-01-01",
            "9999-12-31",
            "10000-01-01",
            "2026-03-29",
            "2026-10-25",
            "2026-03-29T02:30:00",
            "2026-03-29T02:30:00+01:00",
            "2026-02-10T00:00:00Z",
            "2026-02-10T00:00:00+14:00",
            "P1D",
            "PT15M",
            "PT1H",
            "P1M",
            "pt15m",
            "daily",
            "quarter_hourly",
            "hourly",
            "readTime",
            "insertTime",
            "json",
            "csv",
            "xlsx",
            "offtake",
            "injection",
            "total",
            "541448800000000000",
            "5414488000000000001",
            "54144880000000000",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates(min_value=date(1, 1, 1)).map(str),
)


def params_of(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, hostile))


@dataclass
class World:
    ean: str
    headers: dict[str, str]
    database: Database


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> World:
    consent = await make_consent_world(app, client)
    ean = consent.owner_ean
    await mandate(app, client, consent.esp_a, consent.owner, ean)
    await deliver(client, await head_end_headers(app, client), day_rows(ean, date(2026, 2, 10)))
    return World(ean, await auth_headers(client, consent.esp_a), app.state.database)


async def read_records(database: Database) -> int:
    async with database.read_sessions() as session:
        return int(await session.scalar(text("SELECT count(*) FROM data_read_records")) or 0)


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code >= 400 and not response.request.url.path.startswith("/v3/"):
        assert response.headers["content-type"] == "application/problem+json", response.text


NATIVE_READ = ["from", "to", "granularity", "direction", "register", "format"]


@FUZZ
@given(params=params_of(NATIVE_READ), accept=st.one_of(st.none(), hostile))
async def test_native_meter_data_read(
    client: httpx.AsyncClient, world: World, params: dict[str, str], accept: str | None
) -> None:
    headers = dict(world.headers)
    if accept is not None and accept.isprintable() and accept.isascii():
        headers["Accept"] = accept
    before = await read_records(world.database)
    response = await client.get(
        f"/api/v1/access-points/{world.ean}/meter-data", params=params, headers=headers
    )
    check(response)
    if response.status_code != 200:
        assert await read_records(world.database) == before


@FUZZ
@given(params=params_of(["ean", "periodType", "granularity", "from", "to", "EanNumber"]))
async def test_v3_energy(client: httpx.AsyncClient, world: World, params: dict[str, str]) -> None:
    params = {"ean": world.ean, **params}
    before = await read_records(world.database)
    response = await client.get("/v3/api/mandate/energy", params=params, headers=world.headers)
    check(response)
    if response.status_code != 200:
        assert await read_records(world.database) == before


MANDATE_FILTERS = [
    "reference_number", "ean", "data_service_type", "energy_type", "status", "expiring_by",
    "updated_since", "channel", "limit", "cursor",
]  # fmt: skip
V3_MANDATE_FILTERS = [
    "referenceNumber", "ean", "dataServiceTypes", "energyType", "status",
    "mandateExpirationDate", "renewalStatus", "lastUpdatedFrom", "lastUpdatedTo",
]  # fmt: skip


@FUZZ
@given(
    route=st.sampled_from(
        [
            ("/api/v1/mandates", MANDATE_FILTERS),
            ("/v3/api/mandate", V3_MANDATE_FILTERS),
            ("/api/v1/meter-data/changes", ["after", "limit"]),
            ("/api/v1/events", ["after", "types", "limit"]),
            ("/api/v1/webhooks", ["limit", "cursor"]),
            ("/api/v1/contracts", ["limit", "cursor", "status"]),
        ]
    ),
    data=st.data(),
)
async def test_list_filters(
    client: httpx.AsyncClient, world: World, route: tuple[str, list[str]], data: st.DataObject
) -> None:
    path, names = route
    params = data.draw(params_of(names))
    response = await client.get(path, params=params, headers=world.headers)
    check(response)
    if response.status_code == 200 and path == "/api/v1/mandates":
        # A filter never widens the answer: every item is still the caller's own.
        for item in response.json()["items"]:
            assert item["ean"] == world.ean


json_value: st.SearchStrategy[Any] = st.one_of(
    hostile, st.none(), st.integers(), st.floats(), st.lists(hostile, max_size=3)
)


@FUZZ
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "eans": st.one_of(json_value, st.lists(hostile, max_size=5)),
            "from": json_value,
            "to": json_value,
            "granularity": json_value,
            "direction": json_value,
            "register": json_value,
            "extra": json_value,
        },
    ),
    use_ean=st.booleans(),
)
async def test_bulk_query_body(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], use_ean: bool
) -> None:
    if use_ean:
        body = {**body, "eans": [world.ean]}
    before = await read_records(world.database)
    response = await client.post("/api/v1/meter-data/query", json=body, headers=world.headers)
    check(response)
    if response.status_code != 200:
        assert await read_records(world.database) == before
