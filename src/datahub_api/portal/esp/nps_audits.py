"""The NPS audits of the organisation's mandates."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from datahub_api.deps import ReadSessionDep
from datahub_api.mandates import repository as mandates_repository
from datahub_api.nps import repository as nps_repository
from datahub_api.portal.esp.context import (
    LIST_LIMIT,
    NpsPage,
)

router = APIRouter(include_in_schema=False)


@router.get("/portal/esp/nps-audits")
async def esp_nps_audits(page: NpsPage, session: ReadSessionDep) -> Response:
    audits = await nps_repository.audits_page(
        session,
        page.organisation.id,
        statuses=(),
        mandate_id=None,
        after_id=None,
        limit=LIST_LIMIT,
    )
    mandates = {
        a.mandate_id: await mandates_repository.get(session, page.person, a.mandate_id)
        for a in audits
    }
    return page.show("esp_nps_audits.html", audits=audits, mandates=mandates)
