"""``/api/v1/access-points/{ean}/installation``: an access point's installation facts, read
by an ESP with an ``IG`` mandate (or an operator), replaced by an operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import Ean
from datahub_api.access_points.schemas import InstallationBody
from datahub_api.auth.dependencies import require_any_scope, require_scopes
from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.deps import WriteSessionDep
from datahub_api.errors import problem_responses
from datahub_api.http_caching import ETAG_HEADER_DOC, NOT_MODIFIED_RESPONSE, json_response_with_etag
from datahub_api.installations import service
from datahub_api.installations.schemas import InstallationOut
from datahub_api.meter_data.channels import NATIVE

router = APIRouter(tags=["installation data"])

Reader = Annotated[
    Principal, Depends(require_any_scope(Scope.meter_data_read, Scope.operator_access_points))
]


@router.get(
    "/api/v1/access-points/{ean}/installation",
    response_model=InstallationOut,
    responses={
        **NOT_MODIFIED_RESPONSE,
        200: {"headers": ETAG_HEADER_DOC},
        **problem_responses(
            401,
            403,
            404,
            429,
            s403="Missing scope; or your mandates on this EAN grant no installation data "
            "now (none is an `IG` mandate, or it does not cover today).",
            s404="No approved mandate of yours on this EAN: the same answer as for an EAN "
            "that does not exist.",
        ),
    },
    summary="Installation data of one access point (IG mandate needed)",
)
async def installation(
    request: Request,
    ean: Annotated[str, Path(max_length=40)],
    principal: Reader,
    session: WriteSessionDep,
) -> Response:
    """Energy type, meter type, whether a dynamic contract is active (`smr3`), the local
    production installations (VREG id, type, converter power and unit, inspection date) and
    the estimated annual volumes per register with their consumption period.

    ESPs (scope `meter-data:read`) read with an approved mandate for data service **`IG`**
    on a channel this face serves (`api` or `nps`; `portal` and `api` for ESP staff logged
    in), under a contract for it. Only `IG` grants installation data, as at Fluvius: a
    `VH_dag` or `VH_kwartier_uur` mandate answers 403. The facts are as they are now, so they
    are served while the mandate's period holds today, before its expiry, and while the
    customer who gave it still holds the access point; of the estimated annual volumes only
    those whose period overlaps the mandate's window (its data period, never from before
    the customer's tenure). An EAN without your mandate answers exactly like an unknown one
    (404). Every read is recorded in the customer's access log (detail `IG`).

    Operators (scope `operator:access-points`) get the registry's facts as stored. Answers
    `If-None-Match` with 304."""
    if principal.role is Role.operator and Scope.operator_access_points in principal.scopes:
        facts = await service.registry_installation(session, ean)
    else:
        facts = await service.read_installation(session, principal, ean, NATIVE)
    return json_response_with_etag(request, InstallationOut.of(facts))


@router.put(
    "/api/v1/access-points/{ean}/installation",
    response_model=InstallationOut,
    responses=problem_responses(
        401,
        403,
        404,
        422,
        429,
        s404="No access point with this EAN.",
        s422="Malformed facts, or facts that do not fit the access point (an unknown "
        "register, a converter power not above 0, overlapping estimated annual volumes of "
        "one register, a gas register or unit on electricity, ...); nothing was stored.",
    ),
    summary="Replace the installation facts of an access point (operator)",
)
async def put_installation(
    ean: Annotated[Ean, Path(description="The EAN of the access point.")],
    body: InstallationBody,
    _: Annotated[Principal, Depends(require_scopes(Scope.operator_access_points))],
    session: WriteSessionDep,
) -> InstallationOut:
    """The access point must be registered. The facts replace the stored ones whole (`smr3`,
    the local production installations, the estimated annual volumes); the same facts again
    change nothing (`updated_at` stays). Also settable with the access point itself (`PUT
    /api/v1/access-points/{ean}`, `POST /api/v1/access-points:bulk`, `installation`)."""
    access_point = await access_points_service.put_installation(session, ean, body)
    return InstallationOut.of(service.facts_of(access_point))
