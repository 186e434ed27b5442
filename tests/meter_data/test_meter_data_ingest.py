"""Head-end ingest of meter readings: day blocks end to end through the public route."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.app import create_app
from datahub_api.auth.principal import Role
from datahub_api.brussels_days import BRUSSELS, gas_day_start, today_in_brussels
from datahub_api.db import Database, WriteSession
from datahub_api.meter_data import repository, service
from datahub_api.meter_data.blocks import BlockKey, DayBlock, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, ValidationState
from datahub_api.meter_data.stored_blocks import StoredBlock

from ..support.environment import make_settings
from ..support.meter_data import (
    HEADER,
    METER,
    csv_body,
    day_rows,
    one,
    register,
    start_of,
    stored_block_count,
)
from ..support.parties import auth_headers, make_esp, make_machine_client

URL = "/api/v1/ingest/meter-readings"
CSV = {"Content-Type": "text/csv"}
NDJSON = {"Content-Type": "application/x-ndjson"}
SPRING = date(2026, 3, 29)  # 23 hours: 92 quarter-hours
AUTUMN = date(2026, 10, 25)  # 25 hours: 100 quarter-hours
ORDINARY = date(2026, 2, 10)


@pytest.fixture
async def head_end(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    party = await make_machine_client(app, Role.head_end)
    return await auth_headers(client, party)


async def post(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    rows: Sequence[Sequence[str]],
    **extra: str,
) -> httpx.Response:
    return await client.post(URL, content=csv_body(rows), headers={**headers, **CSV, **extra})


async def blocks_of(app: FastAPI, ean: str, start: date, days: int = 1) -> list[DayBlock]:
    database: Database = app.state.database
    async with database.read_sessions() as session:
        return await repository.read_blocks(session, ean, start, start + timedelta(days=days))


# --- storing -----------------------------------------------------------------------------


async def test_an_ordinary_day_fills_96_quarter_hours(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    response = await post(client, head_end, day_rows(ean, ORDINARY))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["rows"] == 96
    assert result["blocks_created"] == 1
    assert result["blocks_unchanged"] == result["blocks_corrected"] == 0
    [block] = await blocks_of(app, ean, ORDINARY)
    assert block.key == BlockKey(
        ean, METER, Direction.offtake, Register.total, Granularity.PT15M, ORDINARY
    )
    assert (block.expected_slots, block.filled_slots, block.version) == (96, 96, 1)
    assert block.values == list(range(1, 97))  # Wh: kWh x 1000
    assert block.states == [ValidationState.READ] * 96
    assert block.completed_at == block.last_inserted_at == block.first_inserted_at


@pytest.mark.parametrize(("day", "slots"), [(SPRING, 92), (AUTUMN, 100)])
async def test_dst_days_have_their_own_number_of_slots_in_order(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str], day: date, slots: int
) -> None:
    ean = await register(app)
    rows = day_rows(ean, day)
    assert len(rows) == slots
    response = await post(client, head_end, rows)
    assert response.status_code == 200, response.text
    [block] = await blocks_of(app, ean, day)
    assert (block.expected_slots, block.filled_slots) == (slots, slots)
    assert block.completed_at is not None
    # Slot i holds the reading that started at slot_start(day, PT15M, i).
    assert block.values == list(range(1, slots + 1))
    assert slot_start(day, Granularity.PT15M, 0).isoformat() == (
        "2026-03-28T23:00:00+00:00" if day == SPRING else "2026-10-24T22:00:00+00:00"
    )
    if day == SPRING:  # 01:45+01:00 is followed by 03:00+02:00
        assert rows[7][4] == "2026-03-29T01:45:00+01:00"
        assert rows[8][4] == "2026-03-29T03:00:00+02:00"
    else:  # 02:00-03:00 twice: +02:00, then +01:00
        assert rows[8][4] == "2026-10-25T02:00:00+02:00"
        assert rows[12][4] == "2026-10-25T02:00:00+01:00"


async def test_hourly_gas_and_daily_readings_on_dst_days(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    gas = await register(app, energy_type="G")
    rows = day_rows(gas, AUTUMN, granularity=Granularity.PT1H, unit="m3")
    rows += day_rows(gas, SPRING, granularity=Granularity.PT1H, unit="m3")
    # A daily gas reading is a gas day: it starts at 06:00 Brussels (at midnight: refused).
    [daily_row] = day_rows(gas, SPRING, granularity=Granularity.P1D, unit="m3", value="12.345")
    midnight = await post(client, head_end, [*rows, daily_row])
    assert midnight.status_code == 422, midnight.text
    assert "a P1D gas reading is a gas day" in midnight.text
    daily_row[4] = gas_day_start(SPRING).astimezone(BRUSSELS).isoformat()
    response = await post(client, head_end, [*rows, daily_row])
    assert response.status_code == 200, response.text
    blocks = {(b.key.day, b.key.granularity): b for b in await blocks_of(app, gas, SPRING, 300)}
    assert blocks[AUTUMN, Granularity.PT1H].filled_slots == 25
    assert blocks[SPRING, Granularity.PT1H].filled_slots == 23
    daily = blocks[SPRING, Granularity.P1D]
    assert (daily.expected_slots, daily.values) == (1, [12345])  # litres


async def test_gaps_stay_empty_and_later_batches_fill_the_block(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    heard: list[Sequence[StoredBlock]] = []

    async def listener(session: WriteSession, stored: Sequence[StoredBlock]) -> None:
        heard.append(stored)

    service.BLOCKS_STORED_LISTENERS.append(listener)
    try:
        ean = await register(app)
        first = await post(client, head_end, day_rows(ean, ORDINARY, slots=range(0, 40)))
        assert first.status_code == 200, first.text
        [block] = await blocks_of(app, ean, ORDINARY)
        assert block.filled_slots == 40
        assert block.values[40:] == [None] * 56  # gaps are None, never 0
        assert block.states[40:] == [None] * 56
        assert block.completed_at is None

        second = await post(client, head_end, day_rows(ean, ORDINARY, slots=range(40, 96)))
        assert second.json()["blocks_filled"] == 1
        [block] = await blocks_of(app, ean, ORDINARY)
        assert (block.filled_slots, block.version) == (96, 2)
        assert block.values == list(range(1, 97))
        assert block.completed_at == block.last_inserted_at > block.first_inserted_at
    finally:
        service.BLOCKS_STORED_LISTENERS.remove(listener)
    assert [[s.change for s in stored] for stored in heard] == [["created"], ["filled"]]
    created, filled = heard[0][0], heard[1][0]
    assert (created.filled_before, created.filled_after, created.completed_at) == (0, 40, None)
    assert (filled.filled_before, filled.filled_after, filled.version) == (40, 96, 2)
    assert filled.completed_at == filled.inserted_at
    assert (filled.ean, filled.day, filled.expected_slots) == (ean, ORDINARY, 96)


async def test_a_correction_bumps_the_version_and_keeps_the_previous_one(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    estimated = day_rows(ean, ORDINARY, state="EST")
    assert (await post(client, head_end, estimated)).status_code == 200
    [before] = await blocks_of(app, ean, ORDINARY)

    corrected = [one(ean, start_of(ORDINARY, Granularity.PT15M, 10), "0.500")]
    corrected.append(one(ean, start_of(ORDINARY, Granularity.PT15M, 11), "0.012", state="READ"))
    response = await post(client, head_end, corrected)
    assert response.json()["blocks_corrected"] == 1
    [after] = await blocks_of(app, ean, ORDINARY)
    assert after.version == 2
    assert after.values[10] == 500
    assert after.values[11] == 12  # the same value, another state
    assert after.states[10] == after.states[11] == ValidationState.READ
    assert after.states[12] == ValidationState.EST
    assert after.last_inserted_at > before.last_inserted_at
    assert after.first_inserted_at == before.first_inserted_at
    assert after.id == before.id

    database: Database = app.state.database
    async with database.read_sessions() as session:
        [previous] = await repository.block_history(session, after.key)
    assert previous.version == 1
    assert previous.values == before.values
    assert previous.states == [ValidationState.EST] * 96
    assert previous.superseded_at == after.last_inserted_at


async def test_an_identical_resend_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    rows = day_rows(ean, ORDINARY) + day_rows(ean, ORDINARY + timedelta(days=1))
    assert (await post(client, head_end, rows)).json()["blocks_created"] == 2
    before = await blocks_of(app, ean, ORDINARY, 2)
    again = await post(client, head_end, rows)
    assert again.status_code == 200
    assert again.json()["blocks_unchanged"] == 2
    assert again.json()["blocks_created"] == again.json()["blocks_corrected"] == 0
    assert await blocks_of(app, ean, ORDINARY, 2) == before
    assert await stored_block_count(app) == 2  # no history rows


async def test_ndjson_and_gzip(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    lines = [
        json.dumps({**dict(zip(HEADER.split(","), row, strict=True)), "value": (i + 1) / 1000})
        for i, row in enumerate(day_rows(ean, ORDINARY, meter_id=""))
    ]
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    response = await client.post(
        URL, content=body, headers={**head_end, **NDJSON, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    [block] = await blocks_of(app, ean, ORDINARY)
    assert block.key.meter_id == METER  # the only meter installed that day
    assert block.values == list(range(1, 97))

    csv_gz = gzip.compress(csv_body(day_rows(ean, ORDINARY, value="0.001")))
    response = await client.post(
        URL, content=csv_gz, headers={**head_end, **CSV, "Content-Encoding": "gzip"}
    )
    assert response.json()["blocks_corrected"] == 1


async def test_csv_with_quotes_crlf_and_another_column_order(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    header = "value,ean,meter_id,direction,register,start,granularity,unit,validation_state"
    rows = [[r[6], f'"{r[0]}"', *r[1:6], r[7], r[8]] for r in day_rows(ean, ORDINARY)]
    body = csv_body(rows, header).replace(b"\n", b"\r\n")
    response = await client.post(URL, content=body, headers={**head_end, **CSV})
    assert response.status_code == 200, response.text
    [block] = await blocks_of(app, ean, ORDINARY)
    assert block.values == list(range(1, 97))


async def test_the_idempotency_key_replays_the_first_answer(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    rows = day_rows(ean, ORDINARY, slots=range(10))
    first = await post(client, head_end, rows, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == 200
    replay = await post(client, head_end, rows, **{"Idempotency-Key": "batch-1"})
    assert replay.status_code == 200
    assert replay.json() == first.json()  # "blocks_created": 1 again, not "unchanged"
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = await post(client, head_end, rows[:5], **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 409


async def test_meter_exchange_readings_go_to_the_meter_of_each_day(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(
        app,
        meters=[
            {"seq_number": "1", "meter_id": "OLD1", "installed_from": "2024-01-01",
             "installed_to": "2026-02-11"},
            {"seq_number": "1", "meter_id": "NEW1", "installed_from": "2026-02-11"},
        ],
    )  # fmt: skip
    rows = day_rows(ean, ORDINARY, meter_id="") + day_rows(
        ean, ORDINARY + timedelta(days=1), meter_id=""
    )
    response = await post(client, head_end, rows)
    assert response.status_code == 200, response.text
    blocks = await blocks_of(app, ean, ORDINARY, 2)
    assert [block.key.meter_id for block in blocks] == ["OLD1", "NEW1"]


# --- who may ingest ----------------------------------------------------------------------


async def test_no_token_is_401_and_an_esp_token_is_403(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ean = await register(app)
    body = csv_body(day_rows(ean, ORDINARY))
    anonymous = await client.post(URL, content=body, headers=CSV)
    assert anonymous.status_code == 401
    esp = await make_esp(app, "Ingest Curious")
    refused = await client.post(
        URL, content=body, headers={**CSV, **await auth_headers(client, esp)}
    )
    assert refused.status_code == 403
    assert "meter-data:ingest" in refused.json()["detail"]
    assert await stored_block_count(app) == 0


# --- refusals: one test each, and nothing stored -----------------------------------------


def _good(ean: str) -> list[list[str]]:
    """A valid day that precedes the bad line, to show nothing is stored partially."""
    return day_rows(ean, ORDINARY)


async def refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    body: bytes,
    *,
    line: int,
    says: str,
    content_type: dict[str, str] = CSV,
) -> dict[str, object]:
    response = await client.post(URL, content=body, headers={**headers, **content_type})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert errors[0]["line"] == line, errors
    assert says in errors[0]["detail"], errors
    assert await stored_block_count(app) == 0
    return dict(problem)


BAD_LINE = 98  # header + 96 good readings, then the bad one


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (one("{ean}", "2026-02-11T00:07:00+01:00"), "not on the quarter-hour grid"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", granularity="P1D"), "not Brussels midnight"),
        (one("{ean}", "2026-02-11T01:30:00+01:00", granularity="PT1H"), "not on the hour"),
        (one("{ean}", "2026-02-11T01:00:00"), "without offset"),
        (one("{ean}", "2026-02-11T01:00:00+02:00"), "not Europe/Brussels's"),
        (one("{ean}", "2026-03-29T02:15:00+01:00"), "not Europe/Brussels's"),  # no such time
        (one("{ean}", "2026-10-25T02:15:00+03:00"), "not Europe/Brussels's"),
        (one("{ean}", "yesterday"), "not an ISO 8601"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", "NaN"), "not a finite number"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", "inf"), "not a finite number"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", "-0.001"), "negative"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", "25000.001"), "implausibly large"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", "12,5"), "fields"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", "1.2.3"), "not a decimal number"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", unit="m3"), "m3 is for gas"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", unit="MWh"), "unit: 'MWh'"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", unit="kVArh"), "active energy in kWh"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", state="OK"), "validation_state"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", direction="up"), "direction"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", register="peak"), "register"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", granularity="PT5M"), "granularity"),
        (one("{ean}", "2026-02-10T05:00:00+01:00"), "given twice in this batch"),
        (one("{ean}", "2026-02-11T01:00:00+01:00", meter_id="NOT-OURS"), "not a meter of EAN"),
        (one("{ean}", "2023-06-01T10:00:00+02:00"), "not installed on 2023-06-01"),
        (one("541448800000000001", "2026-02-11T01:00:00+01:00"), "wrong check digit"),
        (one("541448800000000000", "2026-02-11T01:00:00+01:00"), "no access point with EAN"),
        (["{ean}", METER, "offtake"], "3 fields, not 9"),
    ],
)
async def test_a_bad_reading_refuses_the_whole_batch(
    app: FastAPI,
    client: httpx.AsyncClient,
    head_end: dict[str, str],
    bad: list[str],
    says: str,
) -> None:
    ean = await register(app)
    bad_row = [field.replace("{ean}", ean) for field in bad]
    await refused(app, client, head_end, csv_body([*_good(ean), bad_row]), line=BAD_LINE, says=says)


async def test_a_reading_that_has_not_ended_is_refused(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    tomorrow = today_in_brussels() + timedelta(days=1)
    bad = one(ean, start_of(tomorrow, Granularity.PT15M, 0))
    await refused(
        app, client, head_end, csv_body([*_good(ean), bad]), line=BAD_LINE, says="in the future"
    )


async def test_gas_in_kwh_is_refused(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    gas = await register(app, energy_type="G")
    bad = one(gas, "2026-02-11T01:00:00+01:00", granularity="PT1H", unit="kWh")
    await refused(
        app, client, head_end, csv_body([*_good(ean), bad]), line=BAD_LINE, says="gas access point"
    )


async def test_a_missing_meter_id_with_two_meters_is_refused(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(
        app,
        meters=[
            {"seq_number": "1", "meter_id": "A1", "installed_from": "2024-01-01"},
            {"seq_number": "2", "meter_id": "B2", "installed_from": "2024-01-01"},
        ],
    )
    rows = [
        *day_rows(ean, ORDINARY, meter_id="A1"),
        one(ean, start_of(ORDINARY, Granularity.PT15M, 0), meter_id=""),
    ]
    await refused(app, client, head_end, csv_body(rows), line=BAD_LINE, says="meter_id is needed")


async def test_malformed_json_and_bad_header_and_empty_body(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    good = json.dumps(dict(zip(HEADER.split(","), _good(ean)[0], strict=True)))
    body = f'{good}\n{{"ean": "{ean}", \n'.encode()
    await refused(app, client, head_end, body, line=2, says="malformed JSON", content_type=NDJSON)
    body = b"ean,meter_id,value\n" + csv_body(_good(ean)).split(b"\n", 1)[1]
    await refused(app, client, head_end, body, line=1, says="missing: direction")
    await refused(app, client, head_end, b"", line=1, says="empty")
    body = csv_body([*_good(ean), [ean, '"unterminated', "x"]])
    await refused(app, client, head_end, body, line=BAD_LINE, says="malformed CSV")


async def test_many_errors_are_listed_by_line_up_to_fifty(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    rows = day_rows(ean, ORDINARY, value="-1")
    problem = await refused(app, client, head_end, csv_body(rows), line=2, says="negative")
    assert problem["error_count"] == 96
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert [error["line"] for error in errors] == list(range(2, 52))


async def test_unsupported_media_type_and_encoding(
    app: FastAPI, client: httpx.AsyncClient, head_end: dict[str, str]
) -> None:
    ean = await register(app)
    body = csv_body(_good(ean))
    as_json = await client.post(
        URL, content=body, headers={**head_end, "Content-Type": "application/json"}
    )
    assert as_json.status_code == 415
    brotli = await client.post(
        URL, content=body, headers={**head_end, **CSV, "Content-Encoding": "br"}
    )
    assert brotli.status_code == 415
    broken = await client.post(
        URL, content=b"not gzip", headers={**head_end, **CSV, "Content-Encoding": "gzip"}
    )
    assert broken.status_code == 422
    assert await stored_block_count(app) == 0


@pytest.fixture
async def small_app(clean_database: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(ingest_max_body_bytes=20_000, ingest_max_blocks=3)
    application = create_app(settings, database_url=clean_database)
    async with application.router.lifespan_context(application):
        yield application


async def test_bodies_over_the_ingest_limit_are_413(small_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        headers = await auth_headers(client, await make_machine_client(small_app, Role.head_end))
        ean = await register(small_app)
        big = csv_body(day_rows(ean, ORDINARY) * 3)
        assert len(big) > 20_000
        too_big = await client.post(URL, content=big, headers={**headers, **CSV})
        assert too_big.status_code == 413
        # Small when sent, large once inflated: the uncompressed size counts too.
        bomb = gzip.compress(big)
        assert len(bomb) < 20_000
        inflated = await client.post(
            URL, content=bomb, headers={**headers, **CSV, "Content-Encoding": "gzip"}
        )
        assert inflated.status_code == 413
        assert "uncompressed" in inflated.json()["detail"]
        rows = [one(ean, f"2026-02-{day:02d}T00:00:00+01:00") for day in range(1, 6)]
        too_many_blocks = await client.post(URL, content=csv_body(rows), headers={**headers, **CSV})
        assert too_many_blocks.status_code == 413
        assert await stored_block_count(small_app) == 0
        # The ordinary routes keep the ordinary limit; this one is larger than it.
        assert small_app.state.settings.max_body_bytes > 20_000
