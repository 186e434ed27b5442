"""The operator's calorific values of gas and gas zones (CSV uploads, all or nothing)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Scope
from datahub_api.deps import WriteSessionDep
from datahub_api.errors import UnprocessableContent, problem_responses
from datahub_api.gas_calorific import service

router = APIRouter(
    prefix="/api/v1/operator",
    tags=["gas calorific values"],
    dependencies=[Depends(require_scopes(Scope.operator_access_points))],
    responses=problem_responses(401, 403, 413, 422),
)

CSV_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
}


class CalorificValuesResult(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    blocks_resent: int


class GasZonesResult(BaseModel):
    stored: int


async def _text(request: Request) -> str:
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise UnprocessableContent("The body is not UTF-8 text.") from None


@router.put(
    "/gas-calorific-values",
    response_model=CalorificValuesResult,
    openapi_extra=CSV_BODY,
    summary="Store calorific values of gas days (CSV)",
)
async def put_calorific_values(request: Request, session: WriteSessionDep) -> CalorificValuesResult:
    """A CSV with the header `zone,gas_day,kwh_per_m3,factor`, one line per zone and gas
    day (06:00 to 06:00 Brussels, named by the date it starts): the calorific value in kWh
    per m3 (5 to 15, at most 5 decimals) and `factor` `P` (predictive), `D` (definitive) or
    `C` (a standard constant). A gas access point uses its zone's values
    (`PUT /api/v1/operator/gas-zones`), or the zone `default`'s.

    All or nothing: a 422 lists the refused lines (`errors`: `line`, `detail`) and nothing
    is stored. A predictive value may be replaced by any kind; a definitive or constant one
    only by the same kind. Each new or changed value re-sends the gas data of its gas day as
    a correction (new version: the changes feed, `insertTime` queries and
    `meter_data.available` events carry it) with the energy converted anew."""
    outcome = await service.store_values(session, await _text(request))
    return CalorificValuesResult(**vars(outcome))


@router.put(
    "/gas-zones",
    response_model=GasZonesResult,
    openapi_extra=CSV_BODY,
    summary="Put gas access points in calorific zones (CSV)",
)
async def put_gas_zones(request: Request, session: WriteSessionDep) -> GasZonesResult:
    """A CSV with the header `ean,zone`: the zone (the gas receiving station) whose calorific
    values convert the access point's gas into energy. All or nothing; a 422 names the
    refused lines (unknown EAN, not a gas access point, repeated EAN, bad zone)."""
    return GasZonesResult(stored=await service.store_zones(session, await _text(request)))
