"""``GET /api/v1/access-points/{ean}/monthly-peaks``: an access point's monthly capacity peaks
for an ESP with a quarter-hour mandate, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.brussels_days import today_in_brussels
from datahub_api.capacity.peaks import MINIMUM_KW, month_start
from datahub_api.capacity.schemas import MonthlyPeaksOut, csv_file, csv_file_name, peaks_out
from datahub_api.capacity.service import (
    MAX_MONTHS,
    MonthlyPeaks,
    own_monthly_peaks,
    parse_months,
    read_monthly_peaks,
)
from datahub_api.deps import ReadSessionDep, WriteSessionDep
from datahub_api.errors import UnprocessableContent, problem_responses
from datahub_api.meter_data import own_reads, reads
from datahub_api.meter_data.channels import NATIVE
from datahub_api.meter_data.fluvius_csv import content_disposition

router = APIRouter(tags=["meter data"])

CSV = "text/csv"


DESCRIPTION = f"""Per month from `from` up to `to` (at most {MAX_MONTHS}): the highest quarter-hour
average offtake power in kW (the quarter-hour's kWh x 4, summed over the meters), when
that quarter-hour starts and its validation state; the billed value (the peak, at least
{MINIMUM_KW} kW) and the rolling average of the billed values of the 12 months up to the
month (months without a peak are left out of it). A month without any quarter-hour value
has no peak (`null`, never 0); a month with quarter-hours missing (not delivered yet, gaps,
or days the mandate does not release) says so in `completeness` and `quarter_hours`.
Peaks are computed from the stored quarter-hours when asked, so a corrected day counts at
once; a correction that changes a peak is announced as `capacity_peak.changed` on the
change feed.

Needs a mandate whose data service allows quarter-hours (`VH_kwartier_uur`,
`VH_onbepaald`); the months are read within its data period (the 11 months before `from`
too, for the rolling average), and the read is written to the customer's access log. An
EAN without a readable mandate answers exactly like an unknown one (404), before any
parameter is looked at; a first or last month wholly outside the data period is refused
(403) naming that period."""


# The answers of both routes (an ESP's under a mandate, a customer's own).
PEAKS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The months as JSON, or as CSV with `format=csv`.",
        "content": {CSV: {"schema": {"type": "string"}}},
    },
    **problem_responses(
        401, 403, 404, 409, 422, 429, s409="The access point is not an electricity access point."
    ),
}


@router.get(
    "/api/v1/access-points/{ean}/monthly-peaks",
    response_model=MonthlyPeaksOut,
    responses=PEAKS_RESPONSES,
    summary="Monthly capacity peaks of one access point (quarter-hour mandate needed)",
    description=DESCRIPTION,
)
async def monthly_peaks(
    ean: Annotated[str, Path(max_length=40)],
    principal: Annotated[Principal, Depends(require_scopes(Scope.meter_data_read))],
    session: WriteSessionDep,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=20,
            description="First month, YYYY-MM (Europe/Brussels; default: 11 months before "
            "`to`). Checked after the mandate, like every parameter.",
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(max_length=20, description="Last month, YYYY-MM, included (default: this month)."),
    ] = None,
    format_: Annotated[
        str | None, Query(alias="format", max_length=10, description="json (default) or csv")
    ] = None,
) -> Response:
    gate = await reads.gate(session, principal, ean, NATIVE)
    if format_ not in (None, "json", "csv"):
        raise UnprocessableContent("`format` is json or csv.")
    months = parse_months(from_, to, month_start(today_in_brussels()))
    peaks = await read_monthly_peaks(session, gate, months)
    return _answer(peaks, format_)


def _answer(peaks: MonthlyPeaks, format_: str | None) -> Response:
    if format_ == "csv":
        return Response(
            csv_file(peaks),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": content_disposition(csv_file_name(peaks))},
        )
    return Response(peaks_out(peaks).model_dump_json(), media_type="application/json")


@router.get(
    "/api/v1/me/access-points/{ean}/monthly-peaks",
    response_model=MonthlyPeaksOut,
    responses=PEAKS_RESPONSES,
    summary="Your own monthly capacity peaks of one access point (customer login)",
)
async def my_monthly_peaks(
    ean: Annotated[str, Path(max_length=40)],
    principal: Annotated[Principal, Depends(require_scopes(Scope.own_data))],
    session: ReadSessionDep,
    from_: Annotated[
        str | None,
        Query(alias="from", max_length=20, description="First month, YYYY-MM."),
    ] = None,
    to: Annotated[
        str | None, Query(max_length=20, description="Last month, YYYY-MM, included.")
    ] = None,
    format_: Annotated[
        str | None, Query(alias="format", max_length=10, description="json (default) or csv")
    ] = None,
) -> Response:
    """The figures and parameters of `GET /api/v1/access-points/{ean}/monthly-peaks`, over
    the days you were the customer of the access point (of the stay that holds most of the
    months read): quarter-hours before you moved in or after you left count as missing.
    Another customer's EAN answers like an unknown one (404). Your own reads do not appear
    in the access log."""
    point = await own_reads.own_access_point(session, principal, ean)
    if format_ not in (None, "json", "csv"):
        raise UnprocessableContent("`format` is json or csv.")
    months = parse_months(from_, to, month_start(today_in_brussels()))
    return _answer(await own_monthly_peaks(session, point, months), format_)
