"""The native consent and mandate API."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from datahub_api.accounts import service as accounts_service
from datahub_api.accounts.models import Account
from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_any_scope, require_scopes
from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import Forbidden, NotFound, problem_responses
from datahub_api.http_caching import (
    ETAG_HEADER_DOC,
    NOT_MODIFIED_RESPONSE,
    NotModified,
    conditional_response,
    json_response_with_etag,
    matches_if_none_match,
)
from datahub_api.idempotency.service import IdempotencyDep
from datahub_api.mandates import listing, service
from datahub_api.mandates.models import (
    ConsentSession,
    DataServiceType,
    Mandate,
    MandateSource,
    MandateStatus,
    RenewalStatus,
)
from datahub_api.mandates.query import parse_instant
from datahub_api.mandates.schemas import (
    CoConsentDecisionIn,
    CoConsentOut,
    ConsentDecisionIn,
    ConsentDecisionOut,
    ConsentRequestForCustomer,
    ConsentSessionCreate,
    ConsentSessionOut,
    DataServiceOut,
    EligibleAccessPointOut,
    MandateOut,
    MandatePage,
)
from datahub_api.mandates.versions import MandateVersions
from datahub_api.organisations import service as organisations_service
from datahub_api.paging import cursor_int, encode_cursor

router = APIRouter(tags=["consent and mandates"])

Identifier = Annotated[str, Path(max_length=32, description="The consent session's identifier.")]
MandateId = Annotated[int, Path(ge=1, le=2**62)]
ConsentsCaller = Annotated[Principal, Depends(require_scopes(Scope.consents))]
MandateReader = Annotated[
    Principal, Depends(require_any_scope(Scope.mandates_read, Scope.own_data))
]
Person = Annotated[Principal, Depends(require_scopes(Scope.own_data))]
AnyCaller = Annotated[Principal, Depends(require_any_scope(Scope.consents, Scope.own_data))]


def consent_rules(request: Request) -> service.ConsentRules:
    return service.ConsentRules.of(app_state(request).settings)


def consent_url(request: Request, identifier: str) -> str:
    return f"{app_state(request).settings.base_url}/consent/{identifier}"


def consent_session_out(request: Request, consent: ConsentSession) -> ConsentSessionOut:
    return ConsentSessionOut(
        identifier=consent.short_url_identifier,
        consent_url=consent_url(request, consent.short_url_identifier),
        status=consent.status,
        valid_to=consent.valid_to,
        reference_number=consent.reference_number,
        channel=consent.channel,
        flow=consent.flow,
        number_of_eans=consent.number_of_eans,
        data_services=[DataServiceOut.model_validate(item) for item in consent.data_services],
        created_at=consent.created_at,
        decided_at=consent.decided_at,
    )


def mandate_out(mandate: Mandate) -> MandateOut:
    return MandateOut(
        id=mandate.id,
        ean=mandate.ean,
        reference_number=mandate.reference_number,
        channel=mandate.channel,
        energy_type=mandate.energy_type,
        data_service_type=mandate.data_service_type,
        data_period_from=mandate.data_period_from,
        data_period_to=mandate.data_period_to,
        expiration_date=mandate.expiration_date,
        status=mandate.status,
        renewal_status=mandate.renewal_status,
        source=mandate.source,
        finished_reason=mandate.finished_reason,
        ends_at=mandate.tenure_to,
        waiting_for_grid_user=mandate.status is MandateStatus.requested
        and mandate.grid_user_account_id not in (None, mandate.given_by_account_id),
        created_at=mandate.created_at,
        updated_at=mandate.updated_at,
    )


async def person(session: ReadSession, principal: Principal) -> Account:
    if principal.user_id is None:
        raise Forbidden("This call is for a customer or grid user logged in with a session.")
    account = await accounts_service.get_account(session, principal.user_id)
    if account is None:
        raise Forbidden("This call is for a customer or grid user logged in with a session.")
    return account


@router.post(
    "/api/v1/consent-sessions",
    status_code=201,
    response_model=ConsentSessionOut,
    responses=problem_responses(
        401, 403, 404, 409, 422, 429, s404="Unknown contract (or not yours)"
    ),
    summary="Ask a customer for consent (scope `consents`)",
)
async def open_consent_session(
    request: Request,
    body: ConsentSessionCreate,
    principal: ConsentsCaller,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Send the customer to `consent_url`. They log in, pick up to `number_of_eans` of their
    own access points with a digital meter and approve or reject; you learn the outcome by
    polling mandates, the change feed or webhooks, and they return to your return URL."""
    esp_organisation(principal)
    if (replayed := await idempotency.replay(session)) is not None:
        return replayed
    consent = await service.open_consent_session(
        session,
        principal,
        service.ConsentSessionRequest(
            contract_number=body.contract_number,
            reference_number=body.reference_number,
            flow=body.flow,
            data_services=[
                service.DataServiceRequest(
                    s.data_service_type, s.data_period_from, s.data_period_to
                )
                for s in body.data_services
            ],
            number_of_eans=body.number_of_eans,
            return_url_success=body.return_url_success,
            return_url_failed=body.return_url_failed,
            enterprise_number=body.enterprise_number,
            channel=body.channel,
        ),
        consent_rules(request),
    )
    payload = consent_session_out(request, consent).model_dump(mode="json")
    await idempotency.remember(session, 201, payload)
    return JSONResponse(payload, status_code=201)


@router.get(
    "/api/v1/consent-sessions/{identifier}",
    response_model=ConsentRequestForCustomer | ConsentSessionOut,
    responses=problem_responses(401, 403, 404, 429),
    summary="A consent request: for the customer (what is asked, which EANs they may pick) "
    "or for the ESP that made it",
)
async def get_consent_session(
    request: Request, identifier: Identifier, principal: AnyCaller, session: ReadSessionDep
) -> ConsentRequestForCustomer | ConsentSessionOut:
    if principal.role is Role.esp:
        consent = await service.consent_session_of_organisation(
            session, esp_organisation(principal), identifier
        )
        if consent is None:
            raise NotFound("No such consent request.")
        return consent_session_out(request, consent)
    account = await person(session, principal)
    view = await service.view_consent_session(session, account, identifier)
    return ConsentRequestForCustomer(
        **consent_session_out(request, view.consent).model_dump(),
        requested_by=view.organisation_name,
        your_access_points=[
            EligibleAccessPointOut(
                ean=p.ean, energy_type=p.energy_type, is_grid_user=p.is_grid_user
            )
            for p in view.eligible
        ],
    )


@router.post(
    "/api/v1/consent-sessions/{identifier}/decision",
    response_model=ConsentDecisionOut,
    responses=problem_responses(
        401,
        403,
        404,
        409,
        410,
        422,
        429,
        s403="Not your access point, or another enterprise's request",
        s409="Already answered",
        s410="The consent request has expired",
    ),
    summary="The customer approves (picking EANs) or rejects a consent request",
)
async def decide_consent_session(
    request: Request,
    identifier: Identifier,
    body: ConsentDecisionIn,
    principal: Person,
    session: WriteSessionDep,
) -> ConsentDecisionOut:
    account = await person(session, principal)
    decision = await service.decide_consent_session(
        session,
        account,
        identifier,
        approve=body.decision == "approve",
        eans=body.eans,
        rules=consent_rules(request),
        actor=principal,
    )
    return ConsentDecisionOut(
        status=decision.consent.status,
        redirect_url=decision.redirect_url,
        mandates=[mandate_out(m) for m in decision.mandates],
    )


def _list_etag(organisation_version: int, principal: Principal, request: Request) -> str:
    query = request.scope["query_string"].decode("latin-1")  # as sent, without building a URL
    key = f"{principal.organisation_id}:{organisation_version}:{query}"
    return f'W/"mandates-{hashlib.sha256(key.encode()).hexdigest()[:24]}"'


@dataclass(frozen=True)
class ListCaller:
    principal: Principal
    etag: str | None  # an ESP's lists: from its organisation's mandates version


async def list_caller(request: Request, principal: MandateReader) -> ListCaller:
    """An ESP's list ETag comes from its organisation's mandates version (cached in the
    process, see mandates/versions.py). When `If-None-Match` names it, the answer is 304,
    given here, before the filters are even parsed: a poll that finds nothing new costs
    the token check and a dictionary lookup."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        return ListCaller(principal, None)
    versions: MandateVersions = app_state(request).mandate_versions
    version = await versions.version(principal.organisation_id)
    etag = _list_etag(version, principal, request)
    if matches_if_none_match(request.headers.get("if-none-match"), etag):
        raise NotModified(etag)
    return ListCaller(principal, etag)


@router.get(
    "/api/v1/mandates",
    response_model=MandatePage,
    responses={
        **problem_responses(401, 403, 422, 429),
        **NOT_MODIFIED_RESPONSE,
        200: {"headers": ETAG_HEADER_DOC, "description": "A page of mandates"},
    },
    summary="Your mandates, filtered and cursor-paged, with ETags "
    "(scope `mandates:read`; customers and grid users see theirs)",
)
async def list_mandates(
    request: Request,
    caller: Annotated[ListCaller, Depends(list_caller)],
    session: ReadSessionDep,
    reference_number: Annotated[str | None, Query(max_length=100)] = None,
    ean: Annotated[str | None, Query(pattern=r"^\d{18}$")] = None,
    data_service_type: Annotated[list[DataServiceType] | None, Query()] = None,
    energy_type: Annotated[str | None, Query(pattern="^[EG]$")] = None,
    status: Annotated[list[MandateStatus] | None, Query()] = None,
    renewal_status: RenewalStatus | None = None,
    expiring_by: Annotated[str | None, Query(description="ISO instant")] = None,
    updated_since: Annotated[str | None, Query(description="ISO instant with offset")] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """For an ESP the list's ETag comes from a per-organisation change counter, so an
    `If-None-Match` poll when nothing changed costs one key lookup and answers 304."""
    principal, etag = caller.principal, caller.etag
    mandate_filter = listing.MandateFilter(
        reference_number=reference_number,
        ean=ean,
        data_service_types=data_service_type or (),
        energy_type=energy_type,
        statuses=status or (),
        renewal_status=renewal_status,
        expiring_by=parse_instant(expiring_by, "expiring_by"),
        updated_from=parse_instant(updated_since, "updated_since"),
        channels=channel or (),
    )
    page = await listing.mandate_page(
        session,
        principal,
        listing.NATIVE,
        mandate_filter,
        after_id=cursor_int(cursor),
        limit=limit,
    )
    # A `MandatePage`; PostgreSQL wrote the items.
    next_cursor = encode_cursor({"id": page.last_id}) if page.more and page.last_id else None
    body = f'{{"items":{page.items},"next_cursor":{json.dumps(next_cursor)}}}'.encode()
    if etag is not None:
        return Response(body, media_type="application/json", headers={"ETag": etag})
    return conditional_response(request, body)


@router.get(
    "/api/v1/mandates/{mandate_id}",
    response_model=MandateOut,
    responses={**problem_responses(401, 403, 404, 429), **NOT_MODIFIED_RESPONSE},
    summary="One mandate, with ETag",
)
async def get_mandate(
    request: Request, mandate_id: MandateId, principal: MandateReader, session: ReadSessionDep
) -> Response:
    mandate = await service.get(session, principal, mandate_id)
    if mandate is None:
        raise NotFound("No such mandate.")
    return json_response_with_etag(request, mandate_out(mandate))


@router.post(
    "/api/v1/mandates/{mandate_id}/terminate",
    response_model=MandateOut,
    responses=problem_responses(401, 403, 404, 409, 429),
    summary="End one of your mandates (scope `consents`)",
)
async def terminate_mandate(
    request: Request, mandate_id: MandateId, principal: ConsentsCaller, session: WriteSessionDep
) -> MandateOut:
    esp_organisation(principal)
    mandate = await service.terminate(session, principal, mandate_id)
    return mandate_out(mandate)


@router.post(
    "/api/v1/mandates/{mandate_id}/revoke",
    response_model=MandateOut,
    responses=problem_responses(401, 403, 404, 409, 429),
    summary="The customer or grid user takes consent back",
)
async def revoke_mandate(
    request: Request, mandate_id: MandateId, principal: Person, session: WriteSessionDep
) -> MandateOut:
    mandate = await service.revoke(session, principal, mandate_id)
    return mandate_out(mandate)


async def co_consent_out(
    session: ReadSession, task_id: int, status: object, due_at: object, mandate: Mandate
) -> CoConsentOut:
    organisation = await organisations_service.get(session, mandate.organisation_id)
    customer = (
        await accounts_service.get_account(session, mandate.given_by_account_id)
        if mandate.given_by_account_id
        else None
    )
    return CoConsentOut.model_validate(
        {
            "id": task_id,
            "status": status,
            "due_at": due_at,
            "ean": mandate.ean,
            "requested_by": organisation.name if organisation else "?",
            "customer": customer.display_name
            if customer
            else "signatory of a signed paper mandate"
            if mandate.source is MandateSource.signed
            else "?",
            "data_service_type": mandate.data_service_type,
            "data_period_from": mandate.data_period_from,
            "data_period_to": mandate.data_period_to,
        }
    )


@router.get(
    "/api/v1/co-consents",
    response_model=list[CoConsentOut],
    responses=problem_responses(401, 403, 429),
    summary="The grid user's co-consent inbox",
)
async def co_consent_inbox(principal: Person, session: ReadSessionDep) -> list[CoConsentOut]:
    account = await person(session, principal)
    return [
        await co_consent_out(session, task.id, task.status, task.due_at, mandate)
        for task, mandate in await service.co_consent_inbox(session, account.id)
    ]


@router.post(
    "/api/v1/co-consents/{task_id}/decision",
    response_model=CoConsentOut,
    responses=problem_responses(401, 403, 404, 409, 410, 429),
    summary="The grid user approves or rejects a mandate given by someone else",
)
async def decide_co_consent(
    request: Request,
    task_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: CoConsentDecisionIn,
    principal: Person,
    session: WriteSessionDep,
) -> CoConsentOut:
    account = await person(session, principal)
    task, mandate = await service.decide_co_consent(
        session, account, task_id, approve=body.decision == "approve", actor=principal
    )
    return await co_consent_out(session, task.id, task.status, task.due_at, mandate)
