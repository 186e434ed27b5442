"""Fuzzing the head-end ingest (hypothesis): whatever the body, the parser raises only its
own input errors, the route never answers 5xx, and a refused batch writes nothing."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datahub_api.meter_data.ingest_parser import (
    FIELDS,
    BatchBuilder,
    CsvReader,
    InputError,
    LineSplitter,
    NdjsonReader,
    TooLarge,
)

from ..support.meter_data import HEADER, day_rows, register, stored_block_count
from ..support.reading_world import INGEST, head_end_headers

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
ROUTE_FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
FUZZ_DAY = date(2026, 3, 29)  # a DST day (92 quarter-hours): the hardest grid
MAX_BYTES = 1 << 20

# Text a hostile or broken head-end might put in a cell: separators, quotes, line ends,
# NUL, numbers in every spelling, huge and tiny numbers, other scripts.
hostile_cell = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            ",",
            ";",
            '"',
            '""',
            "\n",
            "\r\n",
            "\x00",
            "NaN",
            "inf",
            "-inf",
            "-0",
            "1e308",
            "1e-308",
            "0x10",
            "1_000",
            "\u0663",
            "\uff11\uff12",
            "0.0000001",
            "99999999999999999999",
            "2026-03-29T02:00:00+01:00",
            "2026-03-29T02:15:00+02:00",
            "2026-02-30T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:45:00+01:00",
            "PT0M",
            "P1Y",
            "offtake\x00",
            "'; DROP TABLE meter_day_blocks; --",
            "{}",
            "[]",
        ]
    ),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


def _parse(body: bytes, reader_type: type[CsvReader] | type[NdjsonReader], gz: bool) -> None:
    builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e6, max_blocks=1000)
    reader = reader_type(builder)
    splitter = LineSplitter(gzip=gz, max_bytes=MAX_BYTES)
    try:
        half = len(body) // 2
        reader.feed(splitter.feed(body[:half]))
        reader.feed(splitter.feed(body[half:], final=True))
    except (InputError, TooLarge):
        return
    for problem in builder.batch.problems:
        assert problem.line >= 0
        assert problem.detail


@pytest.mark.parametrize(
    "start",
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:45:00+01:00",
        "9999-12-31T23:00:00Z",
        "9999-12-31T22:45:00Z",
    ],
)
def test_start_times_at_the_edges_of_the_years_are_problems(start: str) -> None:
    """A Brussels day or slot end past year 1 or 9999 is a problem of its line, not a crash."""
    builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e6, max_blocks=1000)
    row = day_rows("541448800000000000", FUZZ_DAY, slots=[0])[0]
    row[FIELDS.index("start")] = start
    CsvReader(builder).feed([HEADER, ",".join(row)])
    assert [p.detail for p in builder.batch.problems if p.detail.startswith("start:")], (
        builder.batch.problems
    )


@FUZZ
@given(body=st.binary(max_size=600), ndjson=st.booleans(), gz=st.booleans())
def test_the_parser_survives_any_bytes(body: bytes, ndjson: bool, gz: bool) -> None:
    _parse(body, NdjsonReader if ndjson else CsvReader, gz)


@FUZZ
@given(
    rows=st.lists(st.lists(hostile_cell, min_size=0, max_size=11), max_size=8),
    header=st.sampled_from([HEADER, ",".join(reversed(FIELDS)), "ean;value", ""]),
)
def test_the_csv_parser_survives_any_cells(rows: list[list[str]], header: str) -> None:
    text = "\n".join([header, *(",".join(row) for row in rows)])
    _parse(text.encode(), CsvReader, False)
    _parse(gzip.compress(text.encode()), CsvReader, True)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@FUZZ
@given(objects=st.lists(st.dictionaries(st.sampled_from(FIELDS), json_value), max_size=6))
def test_the_ndjson_parser_survives_any_objects(objects: list[dict[str, object]]) -> None:
    _parse("\n".join(json.dumps(o) for o in objects).encode(), NdjsonReader, False)


# --- through the route: never 5xx, never a partial write --------------------------------


@pytest.fixture
async def fuzz_target(app: FastAPI, client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    ean = await register(app, since="2024-01-01")
    return ean, await head_end_headers(app, client)


ALLOWED = {200, 413, 415, 422}


@ROUTE_FUZZ
@given(
    slot=st.integers(min_value=0, max_value=91),
    column=st.integers(min_value=0, max_value=len(FIELDS) - 1),
    cell=hostile_cell,
    ndjson=st.booleans(),
    wh=st.integers(min_value=1, max_value=9999),
)
async def test_one_bad_cell_refuses_the_whole_batch(
    app: FastAPI,
    client: httpx.AsyncClient,
    fuzz_target: tuple[str, dict[str, str]],
    slot: int,
    column: int,
    cell: str,
    ndjson: bool,
    wh: int,
) -> None:
    """A day of good readings with one cell replaced: either the batch is stored whole
    (the cell happened to be acceptable) or nothing of it is. Each example sends other
    values, so a partly stored batch would show as new versions (archived rows)."""
    ean, headers = fuzz_target
    rows = day_rows(ean, FUZZ_DAY, value=f"{wh / 1000:.3f}")
    rows[slot][column] = cell
    if ndjson:
        body = "\n".join(json.dumps(dict(zip(FIELDS, row, strict=True))) for row in rows)
        media = "application/x-ndjson"
    else:
        body = "\n".join([HEADER, *(",".join(row) for row in rows)])
        media = "text/csv"
    before = await stored_block_count(app)
    response = await client.post(
        INGEST, content=body.encode(), headers={**headers, "Content-Type": media}
    )
    assert response.status_code in ALLOWED, response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        assert await stored_block_count(app) == before, "a refused batch left rows behind"


@ROUTE_FUZZ
@given(
    body=st.binary(max_size=400),
    media=st.sampled_from(
        ["text/csv", "application/x-ndjson", "application/json", "", "text/csv; charset=latin-1"]
    ),
    encoding=st.sampled_from(["", "gzip", "br", "identity"]),
)
async def test_any_body_and_headers_are_a_4xx_or_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    fuzz_target: tuple[str, dict[str, str]],
    body: bytes,
    media: str,
    encoding: str,
) -> None:
    _, headers = fuzz_target
    sent = {**headers, "Content-Type": media}
    if encoding:
        sent["Content-Encoding"] = encoding
    before = await stored_block_count(app)
    response = await client.post(INGEST, content=body, headers=sent)
    assert response.status_code in ALLOWED, response.text
    if response.status_code != 200:
        assert await stored_block_count(app) == before
