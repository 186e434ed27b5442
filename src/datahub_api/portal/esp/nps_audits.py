"""The NPS audits of the organisation's mandates."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from datahub_api.deps import ReadSessionDep
from datahub_api.nps.service import audits as audit_service
from datahub_api.portal.esp.context import (
    LIST_LIMIT,
    NpsPage,
)

router = APIRouter(include_in_schema=False)


@router.get("/portal/esp/nps-audits")
async def esp_nps_audits(page: NpsPage, session: ReadSessionDep) -> Response:
    audits, mandates = await audit_service.audits_with_mandates(
        session, page.person, page.organisation.id, limit=LIST_LIMIT
    )
    return page.show("esp_nps_audits.html", audits=audits, mandates=mandates)
