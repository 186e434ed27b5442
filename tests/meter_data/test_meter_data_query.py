"""The bulk read, POST /api/v1/meter-data/query: NDJSON lines per (EAN, series), each EAN
authorised on its own, months joined into one line, DST days, bad input."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from datahub_api.access_points.ean import make_ean
from datahub_api.meter_data.granularity import Granularity

from ..support.access_point_data import fresh_ean
from ..support.consent_world import ConsentWorld, make_consent_world
from ..support.meter_data import day_rows, one, start_of
from ..support.parties import auth_headers
from ..support.reading_world import (
    access_log,
    deliver,
    head_end_headers,
    mandate,
    moved_in_ean,
    revoke,
)

URL = "/api/v1/meter-data/query"
SPRING = date(2026, 3, 29)  # 92 quarter-hours
AUTUMN = date(2026, 10, 25)  # 100 quarter-hours
DAY = date(2026, 2, 10)
UNKNOWN = make_ean(99_999_999)


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


@pytest.fixture
async def head_end(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    return await head_end_headers(app, client)


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str], eans: list[str], **body: Any
) -> list[dict[str, Any]]:
    payload = {"eans": eans, "from": "2026-02-10", "to": "2026-02-12", "granularity": "PT15M"}
    payload.update(body)
    response = await client.post(URL, json=payload, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.content == b"" or response.content.endswith(b"\n")
    return [orjson.loads(line) for line in response.content.splitlines()]


async def refused(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(URL, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    return problem


async def test_one_line_per_series_in_columnar_form(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    for day in (DAY, date(2026, 2, 11)):
        await deliver(
            client,
            head_end,
            day_rows(ean, day) + day_rows(ean, day, value="0.5", direction="injection"),
        )
    headers = await auth_headers(client, world.esp_a)

    offtake, injection = await ask(client, headers, [ean])
    assert {k: v for k, v in offtake.items() if k not in ("values", "states")} == {
        "ean": ean,
        "meter": "1SAG2120063032",
        "direction": "offtake",
        "register": "total",
        "start": "2026-02-09T23:00:00+00:00",
        "end": "2026-02-11T23:00:00+00:00",
        "step": "PT15M",
        "unit": "kWh",
        "incomplete": [],
    }
    assert offtake["values"] == [(i % 96 + 1) / 1000 for i in range(192)]
    assert offtake["states"] == ["READ"] * 192
    assert injection["direction"] == "injection"
    assert injection["values"] == [0.5] * 192

    hourly, _ = await ask(client, headers, [ean], granularity="PT1H")
    assert len(hourly["values"]) == 48
    assert hourly["values"][0] == 0.01  # 1 + 2 + 3 + 4 Wh
    [daily] = await ask(client, headers, [ean], granularity="P1D", direction="injection")
    assert daily["values"] == [48.0, 48.0]
    assert daily["step"] == "P1D"


async def test_months_join_into_one_line_with_null_buckets_where_nothing_was_stored(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, DAY, granularity=Granularity.P1D, value="1"))
    await deliver(
        client,
        head_end,
        day_rows(ean, date(2026, 3, 1), granularity=Granularity.P1D, value="2")
        + day_rows(
            ean, date(2026, 3, 1), granularity=Granularity.P1D, value="3", direction="injection"
        ),
    )
    headers = await auth_headers(client, world.esp_a)
    offtake, injection = await ask(
        client, headers, [ean], **{"from": "2026-01-30", "to": "2026-03-03"}, granularity="P1D"
    )
    assert len(offtake["values"]) == len(injection["values"]) == 32
    assert offtake["values"][11] == 1.0  # 10 February
    assert offtake["values"][30] == 2.0  # 1 March
    assert [i for i, v in enumerate(offtake["values"]) if v is not None] == [11, 30]
    assert injection["start"] == offtake["start"] == "2026-01-29T23:00:00+00:00"
    assert injection["end"] == "2026-03-02T23:00:00+00:00"
    assert [i for i, v in enumerate(injection["values"]) if v is not None] == [30]
    assert injection["incomplete"] == [i for i in range(32) if i != 30]
    assert injection["states"][30] == "READ"
    [monthly, _] = await ask(
        client, headers, [ean], **{"from": "2026-01-01", "to": "2026-04-01"}, granularity="P1M"
    )
    assert monthly["values"] == [None, 1.0, 2.0]
    assert monthly["incomplete"] == [0, 1, 2]


@pytest.mark.parametrize(("day", "quarters"), [(SPRING, 92), (AUTUMN, 100)])
async def test_dst_days_have_92_or_100_quarter_hours(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    head_end: dict[str, str],
    day: date,
    quarters: int,
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, day, value="0.1"))
    headers = await auth_headers(client, world.esp_a)
    bounds = {"from": day.isoformat(), "to": date(day.year, day.month, day.day + 1).isoformat()}
    [quarter] = await ask(client, headers, [ean], **bounds)
    [hour] = await ask(client, headers, [ean], **bounds, granularity="PT1H")
    [whole] = await ask(client, headers, [ean], **bounds, granularity="P1D")
    assert len(quarter["values"]) == quarters
    assert len(hour["values"]) == quarters // 4
    assert whole["values"] == [round(quarters * 0.1, 3)]


async def test_each_ean_on_its_own_and_no_mandate_reads_like_unknown(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    other = world.tenant_eans[0]  # exists, with data, but ESP A holds no mandate for it
    await deliver(client, head_end, day_rows(ean, DAY) + day_rows(other, DAY))
    lines = await ask(client, await auth_headers(client, world.esp_a), [other, ean, UNKNOWN, ean])
    assert [line["ean"] for line in lines] == [other, ean, UNKNOWN]
    not_mine, data, unknown = lines
    assert "values" in data
    assert not_mine["error"]["status"] == unknown["error"]["status"] == 404
    assert orjson.dumps(not_mine).replace(other.encode(), b"X") == orjson.dumps(unknown).replace(
        UNKNOWN.encode(), b"X"
    )

    # ESP B, without any mandate, learns nothing of ESP A's EAN.
    [theirs, nothing] = await ask(client, await auth_headers(client, world.esp_b), [ean, UNKNOWN])
    assert orjson.dumps(theirs).replace(ean.encode(), b"X") == orjson.dumps(nothing).replace(
        UNKNOWN.encode(), b"X"
    )


async def test_outside_the_mandate_the_error_names_only_its_data_period(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    # Metered since 2023; the owner moved in on 2024-06-01; the mandate covers 2024-2026.
    ean = await moved_in_ean(
        client, world, fresh_ean(), metered_since="2023-01-01", moved_in="2024-06-01"
    )
    await mandate(app, client, world.esp_a, world.owner, ean, period_from="2024-01-01T00:00:00Z")
    await deliver(client, head_end, day_rows(ean, date(2024, 5, 31), value="1"))
    headers = await auth_headers(client, world.esp_a)
    # The previous occupant's day reads like a day without data: no line, no refusal, and
    # nothing tells the ESP when its customer moved in.
    before = await ask(client, headers, [ean], **{"from": "2024-05-31", "to": "2024-06-02"})
    nothing = await ask(client, headers, [ean], **{"from": "2024-06-01", "to": "2024-06-02"})
    assert before == nothing == []
    [outside] = await ask(client, headers, [ean], **{"from": "2023-12-31", "to": "2024-01-02"})
    assert outside["error"]["status"] == 403
    assert outside["error"]["allowed_from"] == "2024-01-01T00:00:00+00:00"  # the data period
    assert outside["error"]["allowed_to"] == "2027-01-01T00:00:00+00:00"
    assert "2024-05-31" not in orjson.dumps(outside).decode()
    assert "2024-06-01" not in orjson.dumps(outside).decode()
    assert "values" not in outside


async def test_a_daily_mandate_gets_no_quarter_hours(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean, service="VH_dag")
    await deliver(client, head_end, day_rows(ean, DAY))
    headers = await auth_headers(client, world.esp_a)
    [quarter] = await ask(client, headers, [ean], granularity="PT15M")
    assert quarter["error"]["status"] == 403
    assert quarter["error"]["data_service_types"] == ["VH_dag"]
    [daily] = await ask(client, headers, [ean], granularity="P1D")
    assert daily["values"] == [4.656, None]  # the sum of 1..96 Wh; nothing on the 11th


async def test_a_revoked_mandate_stops_the_next_query(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    mandate_id = await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, DAY))
    headers = await auth_headers(client, world.esp_a)
    assert "values" in (await ask(client, headers, [ean]))[0]
    await revoke(app, world.owner, mandate_id)
    [line] = await ask(client, headers, [ean])
    assert line["error"]["status"] == 404


async def test_every_answered_ean_is_in_the_access_log(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, [one(ean, start_of(DAY, Granularity.PT15M, 0))])
    await ask(client, await auth_headers(client, world.esp_a), [ean, ean], granularity="PT1H")
    [record] = await access_log(app, world.owner, ean)
    assert (record["reader"], record["granularity"], record["via"]) == ("ESP A", "PT1H", "api-v1")
    assert (record["period_from"], record["period_to"]) == (
        "2026-02-09T23:00:00Z",
        "2026-02-11T23:00:00Z",
    )


async def test_instants_must_carry_an_offset_and_sit_on_the_grid(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    await deliver(client, head_end, day_rows(ean, DAY))
    headers = await auth_headers(client, world.esp_a)
    [line] = await ask(
        client,
        headers,
        [ean],
        **{"from": "2026-02-10T06:00:00+01:00", "to": "2026-02-10T06:30:00Z"},
    )
    assert line["start"] == "2026-02-10T05:00:00+00:00"
    assert line["values"] == [0.025, 0.026, 0.027, 0.028, 0.029, 0.030]


async def test_bad_input_is_a_problem_before_anything_is_read(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    headers = await auth_headers(client, world.esp_a)
    good: dict[str, Any] = {
        "eans": [world.owner_ean],
        "from": "2026-02-10",
        "to": "2026-02-11",
        "granularity": "PT15M",
    }
    too_many = [make_ean(n) for n in range(1, 202)]
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "eans": too_many}, "eans"),
        ({**good, "eans": []}, "eans"),
        ({**good, "eans": ["541448800000000012"]}, "check digit"),
        ({**good, "from": "2026-02-10T00:00:00"}, "offset"),
        ({**good, "to": "next tuesday"}, "neither a date"),
        ({**good, "to": "2026-02-10"}, "later than"),
        ({**good, "from": "2026-02-11", "to": "2026-02-10"}, "later than"),
        ({**good, "granularity": "PT5M"}, "granularity"),
        ({**good, "from": "2026-02-10T00:07:00+01:00"}, "grid"),
        ({**good, "from": "2025-01-01", "to": "2026-01-03"}, "366"),
        ({**good, "direction": "sideways"}, "direction"),
        ({**good, "colour": "blue"}, "colour"),
    ]
    for body, words in cases:
        problem = await refused(client, headers, body)
        assert words in str(problem), (body, problem)
    assert (await client.post(URL, json=good, headers=head_end)).status_code == 403
    assert (await client.post(URL, json=good)).status_code == 401
    # Nothing was read, so nothing was logged.
    assert await access_log(app, world.owner, world.owner_ean) == []


async def test_gas_stored_hourly_is_served_at_its_own_step_across_months(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, head_end: dict[str, str]
) -> None:
    gas = fresh_ean()
    await moved_in_ean(
        client, world, gas, metered_since="2024-01-01", moved_in="2024-01-01", energy_type="G"
    )
    await mandate(app, client, world.esp_a, world.owner, gas)
    await deliver(
        client,
        head_end,
        day_rows(gas, date(2026, 1, 31), granularity=Granularity.PT1H, unit="m3", value="0.5"),
    )
    line, energy = await ask(
        client,
        await auth_headers(client, world.esp_a),
        [gas],
        **{"from": "2026-01-31T22:15:00+01:00", "to": "2026-02-01T01:00:00+01:00"},
    )
    # Asked in quarter-hours from 22:15; stored hourly, so served hourly from 22:00, and the
    # hour of 1 February (nothing stored) is null.
    assert (line["step"], line["unit"]) == ("PT1H", "m3")
    assert (line["start"], line["end"]) == (
        "2026-01-31T21:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
    )
    assert line["values"] == [0.5, 0.5, None]
    assert line["incomplete"] == [2]
    # Its energy in kWh follows; without a calorific value for those gas days it is null.
    assert (energy["step"], energy["unit"], energy["start"]) == ("PT1H", "kWh", line["start"])
    assert energy["values"] == [None, None, None]
