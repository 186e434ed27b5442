"""The bulk read: ``POST /api/v1/meter-data/query``, streamed as NDJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.deps import WriteSessionDep, app_state
from datahub_api.errors import problem_responses
from datahub_api.meter_data import query
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register
from datahub_api.meter_data.schemas import (
    MeterDataErrorLine,
    MeterDataQueryIn,
    MeterDataSeriesLine,
)

NDJSON = "application/x-ndjson"

router = APIRouter(prefix="/api/v1/meter-data", tags=["meter data"])

DataReader = Annotated[Principal, Depends(require_scopes(Scope.meter_data_read))]


class NdjsonResponse(StreamingResponse):
    media_type = NDJSON


QUERY_DESCRIPTION = f"""\
The metering data of up to {query.MAX_EANS} EANs over one period (at most {query.MAX_DAYS}
Brussels days), streamed as NDJSON (`{NDJSON}`): one line per series (meter, direction,
register) of each EAN, EAN by EAN in the order asked, in the columnar form of the per-EAN
route: `start`, `end`, `step`, `unit`, `values` (three decimals, `null` for a gap), `states`
(the worst validation state of each bucket), `incomplete` (indexes of the buckets missing
some of their parts). Every bucket of the period is there: a DST day has 92 or 100
quarter-hours. An EAN with no data in the period has no line.

`from` and `to` (exclusive) are dates (Brussels midnight) or instants with an offset, on the
grid of `granularity` (`PT15M`, `PT1H`, `P1D`, `P1M`); coarser buckets sum the finer values.

Each EAN is authorised on its own, with an approved mandate of yours on the `api` or `nps`
channel: an EAN you may not read gives one line `{{"ean": ..., "error": {{...}}}}`, where
`error` is what the per-EAN route would answer (404 for an EAN without your mandate, exactly
as for an unknown EAN, also for an ended or expired mandate; 403 with
`allowed_from`/`allowed_to`, your mandate's data period, when the period lies outside it, or
`data_service_types` when its data service does not allow the granularity). Days of the data
period that are not the consenting customer's are gaps (no line for a series without a value
of theirs). Every EAN answered is written to the access log its customer sees.

A whole-request problem (more than {query.MAX_EANS} EANs, a malformed EAN, a bound without
offset, `from` not before `to`, an unknown granularity, a period too long) is a 422
problem+json before anything is streamed. Should the answer break off, its last line is
`{{"error": {{...}}}}` without `ean`."""


def _line_schema() -> dict[str, Any]:
    return {
        "oneOf": [
            MeterDataSeriesLine.model_json_schema(by_alias=True),
            MeterDataErrorLine.model_json_schema(),
        ]
    }


@router.post(
    "/query",
    response_class=NdjsonResponse,
    summary=f"Metering data of up to {query.MAX_EANS} EANs as NDJSON (scope `meter-data:read`)",
    description=QUERY_DESCRIPTION,
    responses={
        200: {
            "description": "One JSON object per line: a series, or an EAN's error.",
            "content": {NDJSON: {"schema": _line_schema()}},
        },
        **problem_responses(
            401,
            403,
            422,
            429,
            s403="Missing scope `meter-data:read`, or not an energy service provider.",
            s422="Malformed query (problem+json); nothing was read.",
        ),
    },
)
async def query_meter_data(
    request: Request,
    principal: DataReader,
    session: WriteSessionDep,
    body: MeterDataQueryIn,
) -> NdjsonResponse:
    esp_organisation(principal)
    window = query.query_window(body.from_, body.to, Granularity(body.granularity))
    answers = await query.authorize_eans(session, principal, body.eans, window)
    # Streamed after this request's transaction (with the access records) has committed.
    return NdjsonResponse(
        query.ndjson_lines(
            app_state(request).database,
            answers,
            window,
            direction=Direction[body.direction] if body.direction else None,
            register=Register[body.register_] if body.register_ else None,
        )
    )
