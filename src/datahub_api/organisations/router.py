"""Organisations: an ESP reads and updates its own; an operator registers them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from datahub_api.audit.service import record_action
from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.db import ReadSessionDep, WriteSessionDep
from datahub_api.errors import NotFound, problem_responses
from datahub_api.organisations import enterprise_number, repository, service
from datahub_api.organisations.models import Organisation
from datahub_api.organisations.schemas import (
    OrganisationCreate,
    OrganisationOut,
    OrganisationUpdate,
)

router = APIRouter(tags=["organisations"])

EspCaller = Annotated[Principal, Depends(require_scopes(Scope.contracts))]
OperatorCaller = Annotated[Principal, Depends(require_scopes(Scope.operator_contracts))]
ERRORS = problem_responses(
    401, 403, 404, 409, 422, 429, s409="Enterprise number already registered"
)


def organisation_out(organisation: Organisation) -> OrganisationOut:
    return OrganisationOut(
        name=organisation.name,
        enterprise_number=organisation.enterprise_number,
        enterprise_number_formatted=enterprise_number.formatted(organisation.enterprise_number),
        contact_email=organisation.contact_email,
        status=organisation.status,
        return_url_prefixes=list(organisation.return_url_prefixes),
        created_at=organisation.created_at,
    )


@router.get(
    "/api/v1/organisation",
    response_model=OrganisationOut,
    responses=ERRORS,
    summary="Your organisation (scope `contracts`)",
)
async def get_own_organisation(principal: EspCaller, session: ReadSessionDep) -> OrganisationOut:
    organisation = await repository.get(session, esp_organisation(principal))
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
    organisation = await repository.get(session, esp_organisation(principal))
    if organisation is None:
        raise NotFound("Unknown organisation.")
    if body.contact_email is not None:
        organisation.contact_email = body.contact_email
    if body.return_url_prefixes is not None:
        organisation.return_url_prefixes = body.return_url_prefixes
    await session.flush()
    record_action(
        session,
        actor=principal,
        action="organisation.update",
        target=organisation.enterprise_number,
        request=request,
    )
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
    organisation = await service.create(session, body)
    record_action(
        session,
        actor=principal,
        action="organisation.create",
        target=organisation.enterprise_number,
        request=request,
    )
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
    return [organisation_out(o) for o in await repository.list_all(session)]


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
    organisation = await service.approve(session, canonical)
    record_action(
        session, actor=principal, action="organisation.approve", target=canonical, request=request
    )
    return organisation_out(organisation)
