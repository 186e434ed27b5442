"""A test-only ``/v3`` router on the real app: typical Fluvius query parameters and bodies,
and routes that raise domain errors. No route touches the database, so the app's lifespan
is not run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Query

from datahub_api.app import create_app
from datahub_api.errors import (
    BadRequest,
    Conflict,
    DatahubError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableContent,
)
from datahub_api.fluvius_v3.errors import MandatesNotFound, V3ValidationFailed
from datahub_api.fluvius_v3.router import router as real_v3_router
from datahub_api.fluvius_v3.schemas import (
    CreateClientSessionRequest,
    EnergyType,
    MandateRenewalStatus,
    MandateStatus,
    PeriodType,
)

from ..support.environment import make_settings

UNUSED_DATABASE_URL = "postgresql://unused@localhost/unused"
EAN_WITHOUT_MANDATES = "541448800000000011"
EAN_OF_UNREACHABLE_HEAD_END = "541448800000000028"

router = APIRouter(prefix="/v3/api")


@router.get("/mandate", summary="test: echo the mandate filters")
async def mandates(
    reference_number: Annotated[str | None, Query(alias="referenceNumber")] = None,
    ean: str | None = None,
    data_service_types: Annotated[str | None, Query(alias="dataServiceTypes")] = None,
    energy_type: Annotated[EnergyType | None, Query(alias="energyType")] = None,
    status: MandateStatus | None = None,
    mandate_expiration_date: Annotated[
        datetime | None, Query(alias="mandateExpirationDate")
    ] = None,
    renewal_status: Annotated[MandateRenewalStatus | None, Query(alias="renewalStatus")] = None,
    last_updated_from: Annotated[datetime | None, Query(alias="lastUpdatedFrom")] = None,
    last_updated_to: Annotated[datetime | None, Query(alias="lastUpdatedTo")] = None,
) -> dict[str, Any]:
    return {
        "referenceNumber": reference_number,
        "ean": ean,
        "dataServiceTypes": data_service_types,
        "energyType": energy_type,
        "status": status,
        "mandateExpirationDate": mandate_expiration_date,
        "renewalStatus": renewal_status,
        "lastUpdatedFrom": last_updated_from,
        "lastUpdatedTo": last_updated_to,
    }


@router.get("/mandate/energy", summary="test: echo the energy query")
async def energy(
    ean: str,
    period_type: Annotated[PeriodType, Query(alias="periodType")],
    reference_number: Annotated[str | None, Query(alias="referenceNumber")] = None,
    granularity: str | None = None,
    complex_energy_types: Annotated[str | None, Query(alias="complexEnergyTypes")] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    if len(ean) != 18 or not ean.isdigit():
        raise V3ValidationFailed("Parameter 'ean' must contain 18 digits.")
    if ean == EAN_WITHOUT_MANDATES:
        raise MandatesNotFound()
    if ean == EAN_OF_UNREACHABLE_HEAD_END:
        raise ServiceUnavailable("The meter data store does not answer.")
    return {
        "ean": ean,
        "periodType": period_type,
        "referenceNumber": reference_number,
        "granularity": granularity,
        "complexEnergyTypes": complex_energy_types,
        "from": start,
        "to": end,
    }


@router.post("/shortUrlIdentifier", summary="test: echo the session request")
async def short_url_identifier(request: CreateClientSessionRequest) -> dict[str, Any]:
    return request.model_dump(mode="json")


@router.get("/items/{item_id}/Details", summary="test: a route with a path parameter")
async def item_details(item_id: str, Verbose: bool = False) -> dict[str, Any]:
    return {"item_id": item_id, "verbose": Verbose}


RAISED: dict[str, DatahubError | Exception] = {
    "bad-request": BadRequest("The period is longer than a year."),
    "unprocessable": UnprocessableContent("The period ends before it starts."),
    "unauthorized": Unauthorized(
        "A valid access token is required.", headers={"WWW-Authenticate": "Bearer"}
    ),
    "forbidden": Forbidden("This call needs the scope(s): mandates:read."),
    "not-found": NotFound("No such access point."),
    "mandates-not-found": MandatesNotFound(),
    "conflict": Conflict("The mandate was changed meanwhile."),
    "too-large": PayloadTooLarge("The request body exceeds 10 bytes."),
    "rate-limited": TooManyRequests("Slow down.", headers={"Retry-After": "7"}),
    "unavailable": ServiceUnavailable("The database is unavailable.", headers={"Retry-After": "5"}),
    "crash": RuntimeError("boom"),
}


@router.get("/mandate/raise/{what}", summary="test: raise a domain error")
async def raise_error(what: str) -> None:
    raise RAISED[what]


native = APIRouter(prefix="/api/v1")


@native.get("/raise/not-found", summary="test: a native-API error")
async def native_not_found() -> None:
    raise NotFound("No such access point.")


@native.get("/count", summary="test: a native route with a typed parameter")
async def native_count(n: int) -> dict[str, int]:
    return {"n": n}


def build_app(*, routes: bool = True) -> FastAPI:
    app = create_app(make_settings(), database_url=UNUSED_DATABASE_URL)
    # The real /v3 routes need a database; these tests exercise the face with echo routes
    # at the same paths instead.
    app.router.routes[:] = [
        route
        for route in app.router.routes
        if getattr(route, "original_router", None) is not real_v3_router
    ]
    if routes:
        app.include_router(router)
        app.include_router(native)
    return app


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
