"""The Fluvius-compatible routes: ``/v3/api/shortUrlIdentifier``, ``/v3/api/mandate``,
``/v3/api/mandate/energy``, ``/v3/api/mandate/installation`` and, in sandbox mode,
``/v3/api/mandate/mock``. Thin adapters over the domain services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from datahub_api.access_points import service as access_points_service
from datahub_api.auth.principal import Principal, Scope
from datahub_api.contracts.models import Channel
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import DatahubError
from datahub_api.fluvius_v3 import energy
from datahub_api.fluvius_v3 import repository as v3_repository
from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.fluvius_v3.auth import v3_caller
from datahub_api.fluvius_v3.energy_request import (
    MAX_READ_DAYS,
    energy_query,
    parse_data_service_types,
)
from datahub_api.fluvius_v3.errors import MandatesNotFound, V3ValidationFailed
from datahub_api.fluvius_v3.installation import installation_body
from datahub_api.fluvius_v3.windows import period_bound
from datahub_api.installations import service as installations_service
from datahub_api.mandates import listing, service
from datahub_api.mandates.models import (
    DataServiceType,
    Flow,
    Mandate,
)
from datahub_api.mandates.query import parse_instant
from datahub_api.meter_data import reads
from datahub_api.meter_data.channels import V3

router = APIRouter(prefix="/v3/api", tags=["Fluvius v3"])

MAX_MANDATES_PER_POLL = 50_000
V3_LISTING = listing.fluvius(v3_repository.MANDATE_FIELDS)

STATUS_FROM_V3 = {value: key for key, value in v3_repository.STATUS_TO_V3.items()}
RENEWAL_FROM_V3 = {value: key for key, value in v3_repository.RENEWAL_TO_V3.items()}

_V3_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": v3.ErrorValidationResponse, "description": "Bad Request"},
    401: {"description": "Unauthorized"},
    403: {"description": "Forbidden"},
    500: {"model": v3.ErrorResponse, "description": "Server Error"},
    503: {"model": v3.ErrorResponse, "description": "Service Unavailable"},
}

MandatesReader = Annotated[Principal, Depends(v3_caller(Scope.mandates_read))]
ConsentsCaller = Annotated[Principal, Depends(v3_caller(Scope.consents))]
MeterDataReader = Annotated[Principal, Depends(v3_caller(Scope.meter_data_read))]

T = TypeVar("T")


async def as_validation_failure(work: Callable[[], Awaitable[T]], *, in_body: bool) -> T:
    """Business refusals of the shared services become the spec's 400 body on this face
    (its operations document no 404, 409 or 422)."""
    try:
        return await work()
    except DatahubError as error:
        if error.status in (404, 409, 410, 422):
            raise V3ValidationFailed(error.detail, in_body=in_body) from None
        raise


def _instant(raw: str | None, name: str) -> datetime | None:
    try:
        return parse_instant(raw, name)
    except DatahubError:
        raise V3ValidationFailed(f"Parameter '{name}' must be a date-time.") from None


def _enum(raw: str | None, name: str, kind: type[Any]) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(f"'{m.value}'" for m in kind)
        raise V3ValidationFailed(f"Parameter '{name}' must be one of {allowed}.") from None


@router.get(
    "/mandate",
    response_model=v3.GetMandatesResponseApiDataResponse,
    responses={**_V3_ERRORS, 404: {"model": v3.ErrorResponse, "description": "No mandates found"}},
    summary="Get the mandates that match the filters (Fluvius v3)",
    operation_id="v3_get_mandates",
)
async def get_mandates(
    principal: MandatesReader,
    session: ReadSessionDep,
    reference_number: Annotated[str | None, Query(alias="referenceNumber")] = None,
    ean: Annotated[str | None, Query()] = None,
    data_service_types: Annotated[str | None, Query(alias="dataServiceTypes")] = None,
    energy_type: Annotated[str | None, Query(alias="energyType")] = None,
    status: Annotated[str | None, Query()] = None,
    mandate_expiration_date: Annotated[str | None, Query(alias="mandateExpirationDate")] = None,
    renewal_status: Annotated[str | None, Query(alias="renewalStatus")] = None,
    last_updated_from: Annotated[str | None, Query(alias="lastUpdatedFrom")] = None,
    last_updated_to: Annotated[str | None, Query(alias="lastUpdatedTo")] = None,
) -> Response:
    """Every filter of the Fluvius v3 spec; `dataServiceTypes` takes several values
    (`VH_dag,VH_kwartier_uur`). Only `api` and `nps` mandates are served here. No match: 404
    `MandatesNotFoundException`, as Fluvius answers."""
    if ean is not None and not (len(ean) == 18 and ean.isdigit()):
        raise V3ValidationFailed("Parameter 'ean' must contain 18 digits.")
    services: list[DataServiceType] = []
    if data_service_types:
        try:
            services = [
                DataServiceType(s.value)
                for s in v3.parse_multi_value(data_service_types, v3.DataServiceType)
            ]
        except ValueError as exc:
            raise V3ValidationFailed(f"Parameter 'dataServiceTypes': {exc}.") from None
    v3_status = _enum(status, "status", v3.MandateStatus)
    v3_renewal = _enum(renewal_status, "renewalStatus", v3.MandateRenewalStatus)
    energy = _enum(energy_type, "energyType", v3.EnergyType)
    mandate_filter = listing.MandateFilter(
        reference_number=reference_number or None,
        ean=ean,
        data_service_types=services,
        energy_type=energy.value if energy else None,
        statuses=[STATUS_FROM_V3[v3_status]] if v3_status else (),
        expiring_by=_instant(mandate_expiration_date, "mandateExpirationDate"),
        renewal_status=RENEWAL_FROM_V3[v3_renewal] if v3_renewal else None,
        updated_from=_instant(last_updated_from, "lastUpdatedFrom"),
        updated_to=_instant(last_updated_to, "lastUpdatedTo"),
    )
    page = await listing.mandate_page(
        session, principal, V3_LISTING, mandate_filter, after_id=None, limit=MAX_MANDATES_PER_POLL
    )
    if page.last_id is None:
        raise MandatesNotFound()
    mandates = page.items
    # The `GetMandatesResponseApiDataResponse` body; PostgreSQL wrote the mandates.
    meta = v3.ResponseMetadata(fetch_time=datetime.now(UTC)).model_dump_json(by_alias=True)
    return Response(
        f'{{"data":{{"mandates":{mandates}}},"_meta":{meta}}}', media_type="application/json"
    )


@router.post(
    "/shortUrlIdentifier",
    response_model=v3.CreateClientSessionResponseApiDataResponse,
    responses=_V3_ERRORS,
    summary="Create a client session: the customer gives consent at /consent/{shortUrlIdentifier}",
    operation_id="v3_create_short_url_identifier",
)
async def create_short_url_identifier(
    request: Request,
    body: Annotated[v3.CreateClientSessionRequest, Body()],
    principal: ConsentsCaller,
    session: WriteSessionDep,
) -> JSONResponse:
    """Exactly Fluvius's body. The consent page is `/consent/{shortUrlIdentifier}` on this
    service's portal. Refusals (unknown or unapproved contract, a return URL not on your
    allow-list, ...) answer 400 with the reason."""

    async def work() -> v3.CreateClientSessionResponse:
        consent = await service.open_consent_session(
            session,
            principal,
            service.ConsentSessionRequest(
                contract_number=body.data_access_contract_number,
                reference_number=body.reference_number,
                flow=Flow(body.flow.value),
                data_services=[
                    service.DataServiceRequest(
                        DataServiceType(s.data_service_type.value),
                        s.data_period_from,
                        s.data_period_to,
                    )
                    for s in (body.data_services or [])
                ],
                number_of_eans=body.number_of_eans if body.number_of_eans is not None else 1,
                return_url_success=body.return_url_success,
                return_url_failed=body.return_url_failed,
                enterprise_number=body.enterprise_number,
                channel=Channel.api.value,
            ),
            service.ConsentRules.of(app_state(request).settings),
        )
        return v3.CreateClientSessionResponse(
            status=v3.CreateClientSessionStatus.SUCCESS,
            short_url_identifier=consent.short_url_identifier,
            valid_to=consent.valid_to,
        )

    created = await as_validation_failure(work, in_body=True)
    wrapped = v3.CreateClientSessionResponseApiDataResponse.of(created)
    return JSONResponse(wrapped.model_dump(mode="json", by_alias=True, exclude_none=True))


@router.post(
    "/mandate/mock",
    response_model=v3.CreateMandateResponseApiDataResponse,
    responses={**_V3_ERRORS, 404: {"description": "Not in sandbox mode"}},
    summary="Sandbox only: make a mandate without consent (Fluvius sandbox)",
    description="**Sandbox only**: exists when the service runs with `DATAHUB_SANDBOX=true`; "
    "404 otherwise. Makes, for the calling ESP, an `api` mandate with exactly the given "
    "status, period and expiry on any registered access point. The period's bounds are read "
    "like the energy `from` and `to`: `2024-01-01T00:00:00Z` is 1 January in Brussels, an "
    "end `2026-12-31T23:59:59Z` includes 31 December. Fluvius's sandbox test EANs need not be "
    "registered (nor carry a GS1 check digit): `541448860000000016` (Fluvius's example, "
    "electricity with injection) and the family `5414` + `4|5` + energy (`0` electricity, "
    "`1` gas) + injection (`0` none, `1|2`) + granularity (`0` daily meter, `1|2` "
    "quarter-hours) + `0-2` + `000000` + three digits (`541450000000000001`, "
    "`541440110000000001`) register, on their first mock mandate, a synthetic access point "
    "of that kind with demo data for the last three years.",
    operation_id="v3_create_mock_mandate",
    openapi_extra={"x-sandbox-only": True},
)
async def create_mock_mandate(
    request: Request,
    body: Annotated[v3.CreateMandateRequest, Body()],
    principal: ConsentsCaller,
    session: WriteSessionDep,
) -> JSONResponse:
    service.ensure_sandbox(app_state(request).settings.sandbox)

    async def work() -> Mandate:
        return await service.make_sandbox_mandate(
            session,
            principal,
            service.MockMandate(
                reference_number=body.reference_number,
                ean=body.ean,
                data_service_type=DataServiceType(body.data_service_type.value),
                data_period_from=body.data_period_from
                and period_bound(body.data_period_from, end=False),
                data_period_to=body.data_period_to and period_bound(body.data_period_to, end=True),
                status=STATUS_FROM_V3[body.status] if body.status else None,
                expiration=body.mandate_expiration_date,
                renewal_status=RENEWAL_FROM_V3[body.renewal_status]
                if body.renewal_status
                else None,
            ),
        )

    if not (len(body.ean) == 18 and body.ean.isdigit()):
        raise V3ValidationFailed("Property 'ean' must contain 18 digits.", in_body=True)
    await as_validation_failure(work, in_body=True)
    wrapped = v3.CreateMandateResponseApiDataResponse.of(v3.CreateMandateResponse(status="success"))
    return JSONResponse(wrapped.model_dump(mode="json", by_alias=True, exclude_none=True))


# --- energy -------------------------------------------------------------------------------


def _is_ean(value: str) -> bool:
    return len(value) == 18 and value.isdigit()


@router.get(
    "/mandate/energy",
    response_model=v3.GetEnergyResponseApiDataResponse,
    responses={
        **_V3_ERRORS,
        403: {
            "description": "Forbidden: the period lies partly outside your mandate (the "
            "message gives the window you may read), or its data service does not allow the "
            "granularity (`VH_dag`: `daily` only)."
        },
        404: {
            "model": v3.ErrorResponse,
            "description": "No approved mandate of yours on this EAN (with this "
            "`referenceNumber`): the same answer as for an EAN that does not exist.",
        },
    },
    summary="Get the energy of an access point you hold a mandate for (Fluvius v3)",
    operation_id="v3_get_energy",
)
async def get_energy(
    principal: MeterDataReader,
    session: WriteSessionDep,
    ean: Annotated[
        str | None, Query(description="Required. The GSRN EAN-code of the installation.")
    ] = None,
    period_type: Annotated[
        str | None,
        Query(
            alias="periodType",
            description="Required. `readTime`: the slots read in [from, to); `insertTime`: "
            "the whole days of the data inserted or corrected in [from, to).",
        ),
    ] = None,
    granularity: Annotated[
        str | None,
        Query(
            description="`hourly_quarterhourly` (quarter-hours for electricity, hours for "
            "gas) and/or `daily`, separated by `,` `;` or `|`. Default: the finest your "
            "mandate allows."
        ),
    ] = None,
    complex_energy_types: Annotated[
        str | None,
        Query(
            alias="complexEnergyTypes",
            description="`active` (kWh) and/or `reactive` (kVArh); default both; ignored for gas.",
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(
            alias="from",
            description="Start (inclusive): a date-time (`Z`, an offset, or none: Brussels "
            "time; any number of fraction digits) or a date. For `readTime` a midnight names "
            "its day (`2024-01-01T00:00:00Z`, `2023-12-31T23:00:00Z` and "
            "`2024-01-01T00:00:00+01:00` all start 1 January in Brussels), another instant "
            "starts the slot holding it. Default: the start of the Brussels day before `to`. "
            "For `insertTime` the instant as given; default: 24 hours before `to`.",
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            alias="to",
            description=f"End (exclusive), in the same shapes. For `readTime` a midnight "
            f"names the day the window stops before (`2024-06-01T00:00:00Z`: up to and "
            f"including 31 May), an end in the last second of a minute is inclusive "
            f"(`2024-05-31T23:59:59Z`, `...23:59:59.9999999Z`: up to and including 31 May), "
            f"another instant ends the slot holding it. For gas, days are gas days (06:00 to "
            f"06:00 Brussels). Default: the start of today in Brussels (`readTime`), now "
            f"(`insertTime`). A `readTime` period lasts at most {MAX_READ_DAYS} days.",
        ),
    ] = None,
    reference_number: Annotated[
        str | None,
        Query(
            alias="referenceNumber",
            description="Only the mandate with this reference number may grant the read.",
        ),
    ] = None,
    data_service_type: Annotated[
        str | None,
        Query(
            alias="dataServiceType",
            description="Only mandates of this data service (`VH_dag`, `VH_kwartier_uur`, "
            "`VH_onbepaald`; several separated by `,`) may grant the read, and the default "
            "`granularity` is the finest they allow; as Fluvius's ESP API v2 took it and "
            "clients built on it (EDDIE) still send it. None of yours: 404; an unknown "
            "value: 400.",
        ),
    ] = None,
) -> Response:
    """Exactly Fluvius's `GetEnergyResponseApiDataResponse`. The headpoint's `$type` is how
    the access point is metered: `metering-on-meter` (a `physicalMeters` entry per meter
    installed in the period), `metering-on-headpoint` (series on the headpoint, and
    `subHeadpoints`) or `metering-on-headpoint-and-meter` (both).

    `from` and `to` are read as the caller meant them, as Fluvius's own service does: a
    midnight on the clock it is written in (UTC `Z`, an offset, none) or in Brussels names
    that Brussels day for every granularity; a `to` in the last second of a minute
    (`23:59:59Z`, `23:59:59.9999999Z`) ends at the next minute; other instants widen to
    the slots they touch. So `from=2024-01-01T00:00:00Z&to=2024-06-01T00:00:00Z` reads 1
    January up to and including 31 May, and `from=<day>T00:00:00Z&to=<day>T23:59:59Z` that
    Brussels day (92 quarter-hours on 31 March 2024, 100 on 27 October 2024). For a gas
    EAN the days named are gas days. A `to` not after `from` or an unparseable bound: 400.

    With `readTime` every slot
    of the period appears (a DST day has 92 or 100 quarter-hours); a gap is
    `{"value": null, "unit": ...}`. Values in kWh, kVArh or m3 with three decimals; states
    `READ`, `EST`, `VAL`, `NVAL`.

    The mandate is checked before anything but the EAN's form, so an EAN you hold no
    mandate for answers exactly like one that does not exist (404
    `MandatesNotFoundException`). Every successful read is recorded in the customer's access
    log."""
    gate = await _read_gate(session, principal, ean, reference_number, data_service_type)
    access_point = await access_points_service.find_with_meters(session, gate.ean)
    if access_point is None:
        raise MandatesNotFound()
    query = energy_query(
        gate=gate,
        energy_type=access_point.energy_type.value,
        period_type=period_type,
        granularity=granularity,
        complex_energy_types=complex_energy_types,
        start=start,
        end=end,
    )
    try:
        body = await energy.read_energy(session, gate, access_point, query)
    except service.UnknownOrNotYours:  # a mandate ended while we read
        raise MandatesNotFound() from None
    except reads.TooManyChanges as error:
        raise V3ValidationFailed(error.detail) from None
    return Response(body, media_type="application/json")


async def _read_gate(
    session: ReadSession,
    principal: Principal,
    ean: str | None,
    reference_number: str | None,
    data_service_type: str | None,
) -> reads.ReadGate:
    """The read service's gate on this face: the EAN's form (400), then the caller's
    mandates (only those with ``referenceNumber`` and of ``dataServiceType`` when given;
    none: 404 ``MandatesNotFoundException``, as for an unknown EAN), before any other
    parameter is looked at."""
    if not ean:
        raise V3ValidationFailed("Parameter 'ean' is mandatory.")
    if not _is_ean(ean):
        raise V3ValidationFailed("Parameter 'ean' must contain 18 digits.")
    services = parse_data_service_types(data_service_type, "dataServiceType")
    try:
        return await reads.gate(
            session,
            principal,
            ean,
            V3,
            reference_number=reference_number or None,
            data_service_types=services,
        )
    except service.UnknownOrNotYours:
        raise MandatesNotFound() from None


# --- installation data ---------------------------------------------------------------------


@router.get(
    "/mandate/installation",
    response_model=v3.GetInstallationResponseApiDataResponse,
    responses={
        **_V3_ERRORS,
        403: {
            "description": "Forbidden: your mandates on this EAN grant no installation data "
            "now (none is for data service `IG`, or it does not cover today)."
        },
        404: {
            "model": v3.ErrorResponse,
            "description": "No approved mandate of yours on this EAN (with this "
            "`referenceNumber`): the same answer as for an EAN that does not exist.",
        },
    },
    summary="Get the installation data of an access point you hold an IG mandate for (Fluvius v3)",
    operation_id="v3_get_installation",
)
async def get_installation(
    principal: MeterDataReader,
    session: WriteSessionDep,
    ean: Annotated[
        str | None, Query(description="Required. The GSRN EAN-code of the installation.")
    ] = None,
    reference_number: Annotated[
        str | None,
        Query(
            alias="referenceNumber",
            description="Only the mandate with this reference number may grant the read.",
        ),
    ] = None,
) -> JSONResponse:
    """Fluvius's `GetInstallationResponseApiDataResponse`: energy type, meter type, `smr3`
    (a dynamic contract is active), the local production installations (VREG id, type,
    converter power and unit, inspection date) and the estimated annual volumes (`EAV`) per
    register with their consumption period; dates are the UTC instants of Brussels
    midnights.

    Only a mandate for data service `IG` grants installation data (a `VH_dag` or
    `VH_kwartier_uur` mandate answers 403). The facts are as they are now: served while the
    mandate's period holds today, before its expiry and while the customer who gave it still
    holds the access point; only the estimated volumes whose period overlaps the mandate's
    window. An EAN you hold no mandate for answers exactly like one that does not exist (404
    `MandatesNotFoundException`). Every read is recorded in the customer's access log."""
    if not ean:
        raise V3ValidationFailed("Parameter 'ean' is mandatory.")
    if not _is_ean(ean):
        raise V3ValidationFailed("Parameter 'ean' must contain 18 digits.")
    try:
        facts = await installations_service.read_installation(
            session,
            principal,
            ean,
            V3,
            reference_number=reference_number or None,
        )
    except service.UnknownOrNotYours:
        raise MandatesNotFound() from None
    wrapped = v3.GetInstallationResponseApiDataResponse.of(installation_body(facts))
    return JSONResponse(wrapped.model_dump(mode="json", by_alias=True, exclude_none=True))
