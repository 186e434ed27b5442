"""Webhook endpoints of an ESP: register, list, read, change, delete, rotate the secret,
send a test message, read the delivery log. Scope `webhooks`; another ESP's endpoint is a
404, the same answer as an unknown id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import NotFound, problem_responses
from datahub_api.http_caching import ETAG_HEADER_DOC, NOT_MODIFIED_RESPONSE, json_response_with_etag
from datahub_api.idempotency.service import IdempotencyDep
from datahub_api.paging import cursor_int, encode_cursor
from datahub_api.settings import Settings
from datahub_api.webhooks import service
from datahub_api.webhooks.models import DeliveryStatus, WebhookEndpoint
from datahub_api.webhooks.schemas import (
    DeliveryAttemptOut,
    DeliveryOut,
    DeliveryPage,
    TestDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookEndpointPage,
    WebhookEndpointUpdate,
    WebhookSecretOut,
)

router = APIRouter(tags=["webhooks"])

WebhooksCaller = Annotated[Principal, Depends(require_scopes(Scope.webhooks))]
EndpointId = Annotated[int, Path(ge=1, le=2**62, description="The endpoint's id.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
]
ERRORS = problem_responses(
    401, 403, 404, 409, 422, 429, s404="No such webhook endpoint (or not yours)"
)
CACHED = {200: {"headers": ETAG_HEADER_DOC}, **NOT_MODIFIED_RESPONSE}


def _settings(request: Request) -> Settings:
    settings: Settings = app_state(request).settings
    return settings


async def _endpoint(
    session: ReadSession, principal: Principal, endpoint_id: int, *, for_update: bool = False
) -> WebhookEndpoint:
    esp_organisation(principal)
    endpoint = await service.get_endpoint(session, principal, endpoint_id, for_update=for_update)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


@router.post(
    "/api/v1/webhooks",
    status_code=201,
    response_model=WebhookEndpointCreated,
    responses=ERRORS,
    summary="Register a webhook endpoint (scope `webhooks`)",
)
async def register_endpoint(
    request: Request,
    body: WebhookEndpointCreate,
    principal: WebhooksCaller,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """The URL must be https and resolve to public addresses only (422 otherwise). The
    answer holds the signing secret (`whsec_...`), shown this once. Deliveries follow
    Standard Webhooks: headers `webhook-id`, `webhook-timestamp` and `webhook-signature`
    (`v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the base64-decoded
    secret). Failed deliveries are retried for about 3 days; a 410 answer disables the
    endpoint."""
    organisation_id = esp_organisation(principal)
    if (replayed := await idempotency.replay(session)) is not None:
        return replayed
    endpoint = await service.register(
        session, organisation_id, body, _settings(request), actor=principal
    )
    created = WebhookEndpointCreated(
        **WebhookEndpointOut.model_validate(endpoint).model_dump(), secret=endpoint.secret
    )
    payload = created.model_dump(mode="json")
    await idempotency.remember(session, 201, payload)
    return JSONResponse(payload, status_code=201)


@router.get(
    "/api/v1/webhooks",
    response_model=WebhookEndpointPage,
    responses={**ERRORS, **CACHED},
    summary="List your webhook endpoints (scope `webhooks`)",
)
async def list_endpoints(
    request: Request,
    principal: WebhooksCaller,
    session: ReadSessionDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    esp_organisation(principal)
    rows = await service.list_endpoints(
        session, principal, after_id=cursor_int(cursor), limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    page = WebhookEndpointPage(
        items=[WebhookEndpointOut.model_validate(row) for row in rows],
        next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None,
    )
    return json_response_with_etag(request, page)


@router.get(
    "/api/v1/webhooks/{endpoint_id}",
    response_model=WebhookEndpointOut,
    responses={**ERRORS, **CACHED},
    summary="Read one of your webhook endpoints (scope `webhooks`)",
)
async def get_endpoint(
    request: Request, endpoint_id: EndpointId, principal: WebhooksCaller, session: ReadSessionDep
) -> Response:
    endpoint = await _endpoint(session, principal, endpoint_id)
    return json_response_with_etag(request, WebhookEndpointOut.model_validate(endpoint))


@router.patch(
    "/api/v1/webhooks/{endpoint_id}",
    response_model=WebhookEndpointOut,
    responses=ERRORS,
    summary="Change a webhook endpoint: URL, event types, description, enabled (scope `webhooks`)",
)
async def change_endpoint(
    request: Request,
    endpoint_id: EndpointId,
    body: WebhookEndpointUpdate,
    principal: WebhooksCaller,
    session: WriteSessionDep,
) -> WebhookEndpointOut:
    """Disabling cancels the deliveries still pending; enabling again (also after a 410)
    delivers the events published from then on."""
    endpoint = await _endpoint(session, principal, endpoint_id, for_update=True)
    endpoint = await service.change(session, endpoint, body, _settings(request), actor=principal)
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete(
    "/api/v1/webhooks/{endpoint_id}",
    status_code=204,
    responses=ERRORS,
    summary="Delete a webhook endpoint and its delivery log (scope `webhooks`)",
)
async def delete_endpoint(
    request: Request, endpoint_id: EndpointId, principal: WebhooksCaller, session: WriteSessionDep
) -> Response:
    endpoint = await _endpoint(session, principal, endpoint_id, for_update=True)
    await service.delete(session, endpoint, actor=principal)
    return Response(status_code=204)


@router.post(
    "/api/v1/webhooks/{endpoint_id}/rotate-secret",
    response_model=WebhookSecretOut,
    responses=ERRORS,
    summary="Give the endpoint a new signing secret (scope `webhooks`)",
)
async def rotate_secret(
    request: Request, endpoint_id: EndpointId, principal: WebhooksCaller, session: WriteSessionDep
) -> WebhookSecretOut:
    """The new secret is shown this once. For `DATAHUB_WEBHOOK_SECRET_OVERLAP_HOURS` the old
    one signs too: `webhook-signature` then holds two signatures, separated by a space."""
    endpoint = await _endpoint(session, principal, endpoint_id, for_update=True)
    endpoint = await service.rotate_secret(session, endpoint, _settings(request), actor=principal)
    return WebhookSecretOut(
        secret=endpoint.secret, previous_secret_valid_until=endpoint.previous_secret_expires_at
    )


@router.post(
    "/api/v1/webhooks/{endpoint_id}/test",
    status_code=202,
    response_model=TestDeliveryOut,
    responses=ERRORS,
    summary="Send a signed test message (type `webhook.test`) to the endpoint (scope `webhooks`)",
)
async def send_test_message(
    endpoint_id: EndpointId, principal: WebhooksCaller, session: WriteSessionDep
) -> TestDeliveryOut:
    """Queued at once; follow it in the delivery log. Test messages are not in the feed."""
    endpoint = await _endpoint(session, principal, endpoint_id)
    delivery_id = await service.send_test(session, endpoint)
    delivery = await service.get_delivery(session, delivery_id)
    assert delivery is not None
    return TestDeliveryOut(
        delivery_id=delivery_id, message_id=delivery.message_id, status=DeliveryStatus.pending
    )


@router.get(
    "/api/v1/webhooks/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    responses={**ERRORS, **CACHED},
    summary="The endpoint's delivery log, newest first (scope `webhooks`)",
)
async def list_deliveries(
    request: Request,
    endpoint_id: EndpointId,
    principal: WebhooksCaller,
    session: ReadSessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Each delivery with every attempt: when, HTTP status, duration, error, and what came
    next."""
    await _endpoint(session, principal, endpoint_id)
    rows = await service.list_deliveries(
        session, principal, endpoint_id, before_id=cursor_int(cursor), limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    attempts = await service.attempts_of(session, [row.id for row in rows])
    page = DeliveryPage(
        items=[
            DeliveryOut(
                id=row.id,
                message_id=row.message_id,
                event_id=row.event_id,
                event_type=row.event_type,
                status=row.status,
                next_attempt_at=row.next_attempt_at,
                created_at=row.created_at,
                finished_at=row.finished_at,
                attempts=[DeliveryAttemptOut.model_validate(a) for a in attempts[row.id]],
            )
            for row in rows
        ],
        next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None,
    )
    return json_response_with_etag(request, page)
