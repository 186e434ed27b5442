"""Operator routes of the access-point registry (scope ``operator:access-points``)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from datahub_api.access_points import service
from datahub_api.access_points.ean import Ean
from datahub_api.access_points.files import CSV_LAYOUT, UploadFormat, read_upload
from datahub_api.access_points.models import EnergyType, MeterType
from datahub_api.access_points.schemas import (
    AccessPointOut,
    AccessPointPage,
    AccessPointPut,
    BulkRejectedProblem,
    BulkUpsertResult,
)
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Scope
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import PROBLEM_JSON, UnprocessableContent, UnsupportedMediaType
from datahub_api.http_caching import ETAG_HEADER_DOC, NOT_MODIFIED_RESPONSE, json_response_with_etag
from datahub_api.iso_dates import IsoDate
from datahub_api.settings import Settings

MAX_BULK_ROWS = 50_000
DEFAULT_PAGE_SIZE = 100
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})
CSV_TYPES = frozenset({"text/csv"})


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {}}}


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("The body cannot be parsed at all (for instance, it is not UTF-8)."),
    401: _problem("No valid access token."),
    403: _problem("The token lacks the scope `operator:access-points`."),
    413: _problem("The request body is larger than the service accepts."),
    422: _problem("Malformed request: the detail says what is wrong."),
}

router = APIRouter(
    prefix="/api/v1/access-points",
    tags=["access points"],
    dependencies=[Depends(require_scopes(Scope.operator_access_points))],
    responses=COMMON_RESPONSES,
)

EanInPath = Annotated[Ean, Path(description="The EAN of the access point.")]


def _cursor_of(ean: str) -> str:
    return base64.urlsafe_b64encode(f"ap1:{ean}".encode()).decode().rstrip("=")


def _ean_of_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, ean = text.partition(":")
    if prefix != "ap1" or not ean.isdigit():
        raise UnprocessableContent("cursor: not a cursor of this list (use next_cursor as given)")
    return ean


@router.get(
    "",
    summary="List access points",
    response_model=AccessPointPage,
    responses={
        **NOT_MODIFIED_RESPONSE,
        200: {"headers": ETAG_HEADER_DOC},
    },
)
async def list_access_points(
    request: Request,
    session: ReadSessionDep,
    limit: Annotated[
        int, Query(ge=1, description="Page size, at most the service's max page size.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
    energy_type: EnergyType | None = None,
    meter_type: MeterType | None = None,
    gvm: bool | None = None,
    communicating_on: Annotated[
        IsoDate | None,
        Query(
            description="Only access points with a communicating digital meter on this "
            "Europe/Brussels day."
        ),
    ] = None,
) -> Response:
    """Access points in EAN order, with their meters, periods and parties; page with
    `cursor`. Answers `If-None-Match` with 304."""
    settings: Settings = app_state(request).settings
    if limit > settings.max_page_size:
        raise UnprocessableContent(f"limit: at most {settings.max_page_size}")
    items, last = await service.list_access_points(
        session,
        after_ean=_ean_of_cursor(cursor) if cursor else None,
        limit=limit,
        where=service.AccessPointFilter(
            energy_type=energy_type,
            meter_type=meter_type,
            gvm=gvm,
            communicating_on=communicating_on,
        ),
    )
    page = AccessPointPage(
        items=[AccessPointOut.of(item) for item in items],
        next_cursor=_cursor_of(last) if last else None,
    )
    return json_response_with_etag(request, page)


@router.get(
    "/{ean}",
    summary="Get an access point",
    response_model=AccessPointOut,
    responses={
        **NOT_MODIFIED_RESPONSE,
        200: {"headers": ETAG_HEADER_DOC},
        404: _problem("No access point with this EAN."),
    },
)
async def get_access_point(request: Request, session: ReadSessionDep, ean: EanInPath) -> Response:
    """One access point with its meters, sub-headpoints, communication periods and parties.
    Answers `If-None-Match` with 304."""
    access_point = await service.get_access_point(session, ean)
    return json_response_with_etag(request, AccessPointOut.of(access_point))


@router.put(
    "/{ean}",
    summary="Create or replace an access point",
    response_model=AccessPointOut,
    status_code=200,
    responses={
        201: {"description": "Created.", "model": AccessPointOut},
        409: _problem(
            "Periods contradict each other (two grid users at once, overlapping "
            "communication periods, two meters on one seq number at once, ...)."
        ),
    },
)
async def put_access_point(
    session: WriteSessionDep, ean: EanInPath, body: AccessPointPut
) -> JSONResponse:
    """Stores the access point exactly as given: meters, sub-headpoints, communication
    periods, grid users and customers replace what was stored. 201 when created, 200 when
    replaced (or already so). When the grid user changes, the mandates the old grid user
    gave or co-signed end."""
    if body.ean is not None and body.ean != ean:
        raise UnprocessableContent(
            f"ean: the body's EAN {body.ean} differs from the EAN of the path {ean}"
        )
    outcome = await service.put_access_point(session, ean, body)
    out = AccessPointOut.of(outcome.access_point)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if outcome.created else 200)


BULK_DESCRIPTION = f"""\
Create or replace many access points at once, **all or nothing**: either every access point
is stored, or none is and the answer (422, problem+json) lists the first
{service.MAX_REPORTED_ERRORS} problems with their line numbers (`errors`) and how many there
are (`error_count`).

At most {MAX_BULK_ROWS} access points per call, and the service's body size limit (413
above either). Each access point replaces what was stored for its EAN; access points stored
exactly so already are left untouched.

Body, by `Content-Type`:

**`application/x-ndjson`**: one access point per line, the JSON body of
`PUT /api/v1/access-points/{{ean}}` with its `ean`.

**`text/csv`**: {CSV_LAYOUT}"""


@router.post(
    ":bulk",
    summary="Create or replace many access points (NDJSON or CSV)",
    description=BULK_DESCRIPTION,
    response_model=BulkUpsertResult,
    responses={
        413: _problem(f"More than {MAX_BULK_ROWS} access points, or too large a body."),
        415: _problem("The body is neither `application/x-ndjson` nor `text/csv`."),
        422: {
            "description": "Nothing was stored: the body is malformed or some access points "
            "cannot be stored (`errors` lists them by line).",
            "content": {PROBLEM_JSON: {"schema": BulkRejectedProblem.model_json_schema()}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def bulk_upsert(request: Request, session: WriteSessionDep) -> BulkUpsertResult:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in NDJSON_TYPES:
        upload_format = UploadFormat.ndjson
    elif media_type in CSV_TYPES:
        upload_format = UploadFormat.csv
    else:
        raise UnsupportedMediaType(
            "send access points as application/x-ndjson or text/csv "
            f"(got {media_type or 'no Content-Type'})"
        )
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnprocessableContent(f"the body is not UTF-8 (byte {exc.start})") from None
    # Split on "\n" only: str.splitlines() would also split on U+2028 inside JSON strings.
    upload = read_upload(text.split("\n"), upload_format, max_rows=MAX_BULK_ROWS)
    if upload.problems:
        raise service.BulkRejected(upload.problems, total=upload.problem_count)
    if not upload.rows:
        raise UnprocessableContent("the body holds no access points")
    outcome = await service.store_access_points(session, upload.rows)
    return BulkUpsertResult(
        received=len(upload.rows),
        created=len(outcome.created),
        updated=len(outcome.updated),
        unchanged=len(outcome.unchanged),
    )
