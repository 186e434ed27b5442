"""API clients: an ESP manages its own; an operator manages any (also operator and
head-end clients)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from datahub_api.auth import service
from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.models import ApiClient
from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.auth.schemas import (
    CertificateIn,
    CertificateOut,
    ClientCreate,
    ClientOut,
    ClientWithSecret,
    OperatorClientCreate,
)
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import NotFound, UnprocessableContent, problem_responses
from datahub_api.organisations import enterprise_number
from datahub_api.organisations import service as organisations_service

router = APIRouter(tags=["clients"])

ClientId = Annotated[str, Path(max_length=64, description="The client's `client_id`.")]
ClientsCaller = Annotated[Principal, Depends(require_scopes(Scope.contracts))]
OperatorCaller = Annotated[Principal, Depends(require_scopes(Scope.operator_contracts))]

ERRORS = problem_responses(401, 403, 404, 409, 422, 429, s404="No such client (or not yours)")


async def client_out(session: ReadSession, client: ApiClient) -> ClientOut:
    organisation = (
        await organisations_service.get(session, client.organisation_id)
        if client.organisation_id
        else None
    )
    now = datetime.now(UTC)
    return ClientOut(
        client_id=client.client_id,
        name=client.name,
        role=client.role,
        organisation_enterprise_number=organisation.enterprise_number if organisation else None,
        created_at=client.created_at,
        revoked_at=client.revoked_at,
        secret_hints=[s.hint for s in client.secrets if s.expires_at is None or s.expires_at > now],
        certificates=[
            CertificateOut(thumbprint=c.thumbprint, not_after=c.not_after, created_at=c.created_at)
            for c in client.certificates
            if c.revoked_at is None
        ],
    )


async def _visible_client(session: ReadSession, principal: Principal, client_id: str) -> ApiClient:
    client = await service.get_visible_client(session, principal, client_id)
    if client is None:
        raise NotFound("No such client.")
    return client


async def _with_secret(session: WriteSessionDep, created: service.NewSecret) -> ClientWithSecret:
    client = await service.get_visible_client(
        session,
        Principal(subject="-", role=Role.operator, scopes=frozenset()),
        created.client.client_id,
    )
    assert client is not None
    out = await client_out(session, client)
    return ClientWithSecret(
        **out.model_dump(),
        client_secret=created.secret,
        previous_secrets_valid_until=created.secret_expires_at,
    )


@router.post(
    "/api/v1/clients",
    status_code=201,
    response_model=ClientWithSecret,
    responses=ERRORS,
    summary="Create an API client for your organisation (scope `contracts`)",
)
async def create_client(
    request: Request, body: ClientCreate, principal: ClientsCaller, session: WriteSessionDep
) -> ClientWithSecret:
    """The secret is in this answer only. The client's data scopes follow your approved
    contracts."""
    organisation_id = esp_organisation(principal)
    created = await service.create_client(
        session,
        name=body.name,
        role=Role.esp,
        organisation_id=organisation_id,
        actor=principal,
    )
    return await _with_secret(session, created)


@router.get(
    "/api/v1/clients",
    response_model=list[ClientOut],
    responses=ERRORS,
    summary="Your organisation's API clients (scope `contracts`)",
)
async def list_clients(principal: ClientsCaller, session: ReadSessionDep) -> list[ClientOut]:
    esp_organisation(principal)
    return [
        await client_out(session, c) for c in await service.list_visible_clients(session, principal)
    ]


@router.get(
    "/api/v1/clients/{client_id}",
    response_model=ClientOut,
    responses=ERRORS,
    summary="One of your API clients (scope `contracts`)",
)
async def get_client(
    client_id: ClientId, principal: ClientsCaller, session: ReadSessionDep
) -> ClientOut:
    esp_organisation(principal)
    return await client_out(session, await _visible_client(session, principal, client_id))


@router.post(
    "/api/v1/clients/{client_id}/rotate-secret",
    response_model=ClientWithSecret,
    responses=ERRORS,
    summary="New secret; the old one keeps working for the overlap window (scope `contracts`)",
)
async def rotate_client_secret(
    request: Request, client_id: ClientId, principal: ClientsCaller, session: WriteSessionDep
) -> ClientWithSecret:
    esp_organisation(principal)
    client = await _visible_client(session, principal, client_id)
    if client.revoked_at is not None:
        raise NotFound("No such client.")
    overlap = timedelta(hours=app_state(request).settings.client_secret_overlap_hours)
    rotated = await service.rotate_secret(session, client, overlap, actor=principal)
    return await _with_secret(session, rotated)


@router.post(
    "/api/v1/clients/{client_id}/revoke",
    response_model=ClientOut,
    responses=ERRORS,
    summary="Revoke a client: its tokens stop working at once (scope `contracts`)",
)
async def revoke_client(
    request: Request, client_id: ClientId, principal: ClientsCaller, session: WriteSessionDep
) -> ClientOut:
    esp_organisation(principal)
    client = await _visible_client(session, principal, client_id)
    await service.revoke_client(session, client, actor=principal)
    return await client_out(session, await _visible_client(session, principal, client_id))


@router.post(
    "/api/v1/clients/{client_id}/certificates",
    status_code=201,
    response_model=CertificateOut,
    responses=ERRORS,
    summary="Register a certificate for `private_key_jwt` (scope `contracts`)",
)
async def add_certificate(
    request: Request,
    client_id: ClientId,
    body: CertificateIn,
    principal: ClientsCaller,
    session: WriteSessionDep,
) -> CertificateOut:
    esp_organisation(principal)
    client = await _visible_client(session, principal, client_id)
    row = await service.register_certificate(session, client, body.certificate_pem, actor=principal)
    return CertificateOut(
        thumbprint=row.thumbprint, not_after=row.not_after, created_at=row.created_at
    )


@router.post(
    "/api/v1/operator/clients",
    status_code=201,
    response_model=ClientWithSecret,
    responses=ERRORS,
    tags=["operator"],
    summary="Create any API client: ESP, operator or head-end (scope `operator:contracts`)",
)
async def operator_create_client(
    request: Request,
    body: OperatorClientCreate,
    principal: OperatorCaller,
    session: WriteSessionDep,
) -> ClientWithSecret:
    organisation_id = None
    if body.role is Role.esp:
        if not body.organisation_enterprise_number:
            raise UnprocessableContent("An ESP client needs organisation_enterprise_number.")
        try:
            number = enterprise_number.canonical(body.organisation_enterprise_number)
        except enterprise_number.InvalidEnterpriseNumber as exc:
            raise UnprocessableContent(str(exc)) from None
        organisation = await organisations_service.get_by_enterprise_number(session, number)
        if organisation is None:
            raise NotFound("No organisation with that enterprise number.")
        organisation_id = organisation.id
    created = await service.create_client(
        session,
        name=body.name,
        role=body.role,
        organisation_id=organisation_id,
        actor=principal,
    )
    return await _with_secret(session, created)


@router.post(
    "/api/v1/operator/clients/{client_id}/revoke",
    response_model=ClientOut,
    responses=ERRORS,
    tags=["operator"],
    summary="Revoke any API client (scope `operator:contracts`)",
)
async def operator_revoke_client(
    request: Request, client_id: ClientId, principal: OperatorCaller, session: WriteSessionDep
) -> ClientOut:
    client = await _visible_client(session, principal, client_id)
    await service.revoke_client(session, client, actor=principal)
    return await client_out(session, await _visible_client(session, principal, client_id))
