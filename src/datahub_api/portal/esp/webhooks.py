"""The organisation's webhooks and each one's delivery log."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from datahub_api.deps import ReadSessionDep
from datahub_api.portal.esp.context import (
    LIST_LIMIT,
    WebhookPage,
)
from datahub_api.webhooks import service as webhooks_service

router = APIRouter(include_in_schema=False)


@router.get("/portal/esp/webhooks")
async def esp_webhooks(page: WebhookPage, session: ReadSessionDep) -> Response:
    endpoints = await webhooks_service.list_endpoints(
        session, page.person, after_id=None, limit=LIST_LIMIT
    )
    return page.show("esp_webhooks.html", endpoints=endpoints)


@router.get("/portal/esp/webhooks/{endpoint_id}")
async def esp_webhook_log(page: WebhookPage, session: ReadSessionDep, endpoint_id: str) -> Response:
    if not endpoint_id.isdigit() or len(endpoint_id) > 18:
        raise page.not_found()
    endpoint = await webhooks_service.get_endpoint(session, page.person, int(endpoint_id))
    if endpoint is None:
        raise page.not_found()
    deliveries, attempts = await webhooks_service.delivery_log(
        session, page.person, endpoint.id, before_id=None, limit=200
    )
    return page.show(
        "esp_webhook_log.html", endpoint=endpoint, deliveries=deliveries, attempts=attempts
    )
