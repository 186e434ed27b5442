"""Organisations: an ESP reads and updates its own; an operator registers them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.deps import ReadSessionDep, WriteSessionDep
from datahub_api.errors import NotFound, problem_responses
from datahub_api.organisations import enterprise_number, service
from datahub_api.organisations.models import Organisation, OrganisationStatusChange
from datahub_api.organisations.schemas import (
    OrganisationCreate,
    OrganisationOut,
    OrganisationUpdate,
    ResumptionRequest,
    StatusChangeOut,
    SuspensionRequest,
)

router = APIRouter(tags=["organisations"])

EspCaller = Annotated[Principal, Depends(require_scopes(Scope.contracts))]
OperatorCaller = Annotated[Principal, Depends(require_scopes(Scope.operator_contracts))]
ERRORS = problem_responses(
    401, 403, 404, 409, 422, 429, s409="Enterprise number already registered"
)


def organisation_out(
    organisation: Organisation, change: OrganisationStatusChange | None = None
) -> OrganisationOut:
    return OrganisationOut(
        name=organisation.name,
        enterprise_number=organisation.enterprise_number,
        enterprise_number_formatted=enterprise_number.formatted(organisation.enterprise_number),
        contact_email=organisation.contact_email,
        status=organisation.status,
        return_url_prefixes=list(organisation.return_url_prefixes),
        created_at=organisation.created_at,
        last_status_change=None
        if change is None
        else StatusChangeOut(
            from_status=change.from_status,
            to_status=change.to_status,
            by=change.actor,
            at=change.at,
            reason=change.reason,
        ),
    )


@router.get(
    "/api/v1/organisation",
    response_model=OrganisationOut,
    responses=ERRORS,
    summary="Your organisation (scope `contracts`)",
)
async def get_own_organisation(principal: EspCaller, session: ReadSessionDep) -> OrganisationOut:
    organisation = await service.get(session, esp_organisation(principal))
    if organisation is None:
        raise NotFound("Unknown organisation.")
    return organisation_out(organisation)


@router.patch(
    "/api/v1/organisation",
    response_model=OrganisationOut,
    responses=ERRORS,
    summary="Update your contact e-mail and consent return-URL allow-list (scope `contracts`)",
)
async def update_own_organisation(
    request: Request, body: OrganisationUpdate, principal: EspCaller, session: WriteSessionDep
) -> OrganisationOut:
    organisation = await service.update_own(session, principal, esp_organisation(principal), body)
    return organisation_out(organisation)


@router.post(
    "/api/v1/operator/organisations",
    status_code=201,
    response_model=OrganisationOut,
    responses=ERRORS,
    tags=["operator"],
    summary="Register an ESP organisation (scope `operator:contracts`)",
)
async def create_organisation(
    request: Request, body: OrganisationCreate, principal: OperatorCaller, session: WriteSessionDep
) -> OrganisationOut:
    organisation = await service.create(session, body, actor=principal)
    return organisation_out(organisation)


@router.get(
    "/api/v1/operator/organisations",
    response_model=list[OrganisationOut],
    responses=ERRORS,
    tags=["operator"],
    summary="Every ESP organisation (scope `operator:contracts`)",
)
async def list_organisations(
    principal: OperatorCaller, session: ReadSessionDep
) -> list[OrganisationOut]:
    organisations = await service.list_all(session)
    changes = await service.latest_status_changes(session, [o.id for o in organisations])
    return [organisation_out(o, changes.get(o.id)) for o in organisations]


@router.post(
    "/api/v1/operator/organisations/{number}/approve",
    response_model=OrganisationOut,
    responses=ERRORS,
    tags=["operator"],
    summary="Admit a self-registered (pending) organisation (scope `operator:contracts`)",
)
async def approve_organisation(
    request: Request,
    number: Annotated[str, Path(max_length=20, description="Its enterprise number.")],
    principal: OperatorCaller,
    session: WriteSessionDep,
) -> OrganisationOut:
    """Until then the organisation's staff can log in but not apply for a contract."""
    try:
        canonical = enterprise_number.canonical(number)
    except enterprise_number.InvalidEnterpriseNumber:
        raise NotFound(f"No organisation with enterprise number {number}.") from None
    organisation = await service.approve(session, principal, canonical)
    return organisation_out(organisation)


NumberPath = Annotated[str, Path(max_length=20, description="Its enterprise number.")]


@router.post(
    "/api/v1/operator/organisations/{number}/suspend",
    response_model=OrganisationOut,
    responses=ERRORS,
    tags=["operator"],
    summary="Suspend an active organisation (scope `operator:contracts`)",
)
async def suspend_organisation(
    request: Request,
    number: NumberPath,
    body: SuspensionRequest,
    principal: OperatorCaller,
    session: WriteSessionDep,
) -> OrganisationOut:
    """Until it is resumed, the organisation's API clients and staff read nothing and change
    nothing on any face (`/v3`, `/api/v1`, portal, NPS and history export downloads); its
    mandates, contracts and clients are kept. Recorded with who, when and the reason,
    audited, and told to the organisation (`organisation.suspended`). 409 unless active."""
    organisation, change = await service.suspend(session, principal, number, body.reason)
    return organisation_out(organisation, change)


@router.post(
    "/api/v1/operator/organisations/{number}/resume",
    response_model=OrganisationOut,
    responses=ERRORS,
    tags=["operator"],
    summary="Lift an organisation's suspension (scope `operator:contracts`)",
)
async def resume_organisation(
    request: Request,
    number: NumberPath,
    principal: OperatorCaller,
    session: WriteSessionDep,
    body: ResumptionRequest | None = None,
) -> OrganisationOut:
    """Everything the organisation had works again (`organisation.resumed`). 409 unless
    suspended."""
    organisation, change = await service.resume(
        session, principal, number, body.reason if body else None
    )
    return organisation_out(organisation, change)
