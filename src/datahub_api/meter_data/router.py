"""Head-end ingest of meter readings (scope ``meter-data:ingest``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.db import after_commit
from datahub_api.deps import WriteSessionDep, app_state, state_of
from datahub_api.errors import PROBLEM_JSON, UnsupportedMediaType
from datahub_api.idempotency.service import MAX_KEY_LENGTH, Idempotency
from datahub_api.meter_data import service
from datahub_api.meter_data.ingest_parser import (
    LAYOUT_DOC,
    BatchBuilder,
    CsvReader,
    InputError,
    LineSplitter,
    NdjsonReader,
    Problem,
    TooLarge,
)
from datahub_api.meter_data.schemas import IngestResult, ReadingsRejectedProblem
from datahub_api.settings import Settings

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})
CSV_TYPES = frozenset({"text/csv"})
PARSE_CHUNK_BYTES = 1 << 20  # parsed in a worker thread a MiB at a time
INGEST_PATH = "/api/v1/ingest/meter-readings"


def _problem(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema or {}}}}


ingest_scope = require_scopes(Scope.meter_data_ingest)

router = APIRouter(
    prefix="/api/v1/ingest",
    tags=["meter data ingest"],
    responses={
        401: _problem("No valid access token."),
        403: _problem("The token lacks the scope `meter-data:ingest` (head-end clients)."),
    },
)

INGEST_DESCRIPTION = f"""\
The head-end delivers meter readings, **all or nothing**: either every reading of the body
is stored, or none is and the answer (422, problem+json) lists the first 50 problems with
their line numbers (`errors`) and how many there are (`error_count`). The answer (200) comes
after the batch is committed.

Readings are stored in day blocks (one per EAN, meter, direction, register, granularity and
Europe/Brussels day). A reading for a slot without a value fills it; a reading with another
value or validation state than stored corrects it (the block's version goes up and the
previous version is kept); the same reading again changes nothing, so a resent batch is
harmless. `Idempotency-Key` makes a retry return the first answer.

Refused: malformed CSV/JSON, a wrong EAN check digit, an unknown EAN or meter (or no
`meter_id` when several meters are installed), a start off the granularity's grid, without
offset, or with an offset that is not Brussels's at that instant, a reading that has not
ended yet, a day outside the meter's installation periods, a unit that does not fit the
register or energy type, NaN/infinity, negative or implausibly large values (the
`DATAHUB_INGEST_MAX_VALUE_PER_HOUR` bound), the same slot twice in one batch.

Bodies up to `DATAHUB_INGEST_MAX_BODY_BYTES` (256 MiB by default) as sent and uncompressed
(413 above), `Content-Encoding: gzip` accepted; at most `DATAHUB_INGEST_MAX_BLOCKS` (200 000)
day blocks per batch (413).

{LAYOUT_DOC}"""


def _input_format(request: Request) -> type[CsvReader] | type[NdjsonReader]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in CSV_TYPES:
        return CsvReader
    if media_type in NDJSON_TYPES:
        return NdjsonReader
    raise UnsupportedMediaType(
        f"send readings as text/csv or application/x-ndjson (got {media_type or 'no Content-Type'})"
    )


def _gzip(request: Request) -> bool:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in {"", "identity"}:
        return False
    if encoding == "gzip":
        return True
    raise UnsupportedMediaType(f"Content-Encoding {encoding!r}: only gzip is accepted")


@router.post(
    "/meter-readings",
    summary="Deliver meter readings (CSV or NDJSON, optionally gzip)",
    description=INGEST_DESCRIPTION,
    response_model=IngestResult,
    responses={
        409: _problem("The Idempotency-Key was used with another body, or is in use."),
        413: _problem("The body, uncompressed body or number of day blocks is too large."),
        415: _problem("Neither `text/csv` nor `application/x-ndjson`, or not gzip-encoded."),
        422: _problem(
            "Nothing was stored: `errors` lists the problems by line.",
            ReadingsRejectedProblem.model_json_schema(),
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def ingest_meter_readings(
    request: Request,
    session: WriteSessionDep,
    principal: Annotated[Principal, Depends(ingest_scope)],
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Makes a retry safe: the same key with the same body gets the same "
            "answer; with another body, 409.",
            max_length=MAX_KEY_LENGTH,
        ),
    ] = None,
) -> JSONResponse:
    reader_type = _input_format(request)
    settings: Settings = app_state(request).settings
    builder = BatchBuilder(
        now=datetime.now(UTC),
        max_value_per_hour=settings.ingest_max_value_per_hour,
        max_blocks=settings.ingest_max_blocks,
    )
    reader = reader_type(builder)
    splitter = LineSplitter(
        gzip=_gzip(request),
        max_bytes=settings.ingest_max_body_bytes,
        fingerprint=idempotency_key is not None,
    )

    def parse(data: bytes, final: bool = False) -> None:
        reader.feed(splitter.feed(data, final=final))

    try:
        pieces: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            pieces.append(chunk)
            size += len(chunk)
            if size >= PARSE_CHUNK_BYTES:
                await asyncio.to_thread(parse, b"".join(pieces))
                pieces, size = [], 0
        await asyncio.to_thread(parse, b"".join(pieces), True)
    except TooLarge as exc:
        raise service.BatchTooLarge(str(exc)) from None
    except InputError as exc:
        raise service.ReadingsRejected([exc.problem]) from None
    if not reader.started:
        raise service.ReadingsRejected([Problem(1, "the body is empty")])
    idempotency = Idempotency(
        owner=principal.subject,
        key=idempotency_key,
        operation=f"POST {INGEST_PATH}",
        fingerprint=splitter.digest.hexdigest() if splitter.digest else "",
    )
    if builder.batch.problems:
        raise service.ReadingsRejected(builder.batch.problems, total=builder.batch.problem_count)
    if (replayed := await idempotency.replay(session)) is not None:
        return replayed
    outcome = await service.store_batch(session, builder.batch, track_sla=settings.sla_tracking)
    assert outcome.inserted_at is not None
    body = IngestResult(
        rows=outcome.rows,
        blocks_created=outcome.blocks_created,
        blocks_filled=outcome.blocks_filled,
        blocks_corrected=outcome.blocks_corrected,
        blocks_unchanged=outcome.blocks_unchanged,
        inserted_at=outcome.inserted_at,
    ).model_dump(mode="json")
    await idempotency.remember(session, 200, body)
    stored = outcome.stored

    async def tell_listeners(app: Any) -> None:
        await service.notify_blocks_stored(state_of(app).database, stored)

    after_commit(session, tell_listeners)
    return JSONResponse(body)
