"""The ESP's incremental pull: ``GET /api/v1/meter-data/changes?after=CURSOR``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.deps import WriteSessionDep, app_state
from datahub_api.errors import problem_responses
from datahub_api.http_caching import ETAG_HEADER_DOC, NOT_MODIFIED_RESPONSE, conditional_response
from datahub_api.meter_data import changes
from datahub_api.meter_data.schemas import MeterDataChangesPage
from datahub_api.meter_data.series_json import block_json
from datahub_api.settings import Settings

router = APIRouter(prefix="/api/v1/meter-data", tags=["meter data"])

DataReader = Annotated[Principal, Depends(require_scopes(Scope.meter_data_read))]

CHANGES_DESCRIPTION = """\
Every day block stored or corrected since your cursor, for all the EANs your organisation
holds an **approved** mandate for on the `api` or `nps` channel (under a contract covering
that channel, before its expiration and the end of the consenting customer's tenure), oldest
change first: sync your whole portfolio with a few calls a day.

Only what your mandates let you read comes: the days inside each mandate's data period that
belong to the tenure of the customer who gave it (and of the grid user who co-signed it:
never a previous or a later occupant's day), at the granularities of its data service
(`VH_dag`: daily blocks only; `VH_kwartier_uur`: all; `IG`: none). A correction brings the
block again with a higher `version` and a later `inserted_at`; keep the last version of each
(`ean`, `meter`, `direction`, `register`, `granularity`, `day`). Gaps are `null`, never 0; a
DST day has 92 or 100 quarter-hours.

Keep `next_cursor` and pass it as `after` (it comes back unchanged while nothing new
arrived, and `If-None-Match` then answers 304); store it after processing the page. Blocks
appear here `DATAHUB_METER_DATA_CHANGES_MARGIN_SECONDS` (5 minutes by default) after they
were stored, so that a batch still committing is never skipped: to act on a
`meter_data.available` event at once, read its days with `POST /api/v1/meter-data/query`.
A new mandate's older data lies behind your cursor: read it with the query.

A revoked, expired or finished mandate (also one whose customer moved out) stops its EAN's
blocks on the next call. Every EAN read is
written to the access log its customer sees."""


@router.get(
    "/changes",
    response_model=MeterDataChangesPage,
    summary="Day blocks stored or corrected since your cursor (scope `meter-data:read`)",
    description=CHANGES_DESCRIPTION,
    responses={
        **problem_responses(
            401, 403, 422, 429, s422="Malformed `after` or `limit` (problem+json)."
        ),
        200: {"headers": ETAG_HEADER_DOC},
        **NOT_MODIFIED_RESPONSE,
    },
)
async def meter_data_changes(
    request: Request,
    principal: DataReader,
    session: WriteSessionDep,
    after: Annotated[
        str | None,
        Query(
            max_length=500,
            description="`next_cursor` of your previous call; omit to start at the beginning.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most day blocks to return.")] = 100,
) -> Response:
    settings: Settings = app_state(request).settings
    cursor = changes.decode_change_cursor(after)
    page = await changes.changes_since(
        session,
        principal,
        after=cursor,
        limit=min(limit, settings.max_page_size),
        margin=timedelta(seconds=settings.meter_data_changes_margin_seconds),
    )
    body = orjson.dumps(
        {
            "items": [block_json(block) for block in page.blocks],
            "next_cursor": changes.encode_change_cursor(page.next_cursor),
            "has_more": page.has_more,
        }
    )
    return conditional_response(request, body)
