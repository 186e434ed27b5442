"""The portal's pages for ESP staff, scoped to their organisation: contracts and
applications, API clients, mandates and access points, per access point a chart and a CSV
report of its metering data, webhooks with their delivery log, NPS audits, yearly history
exports with their download; and the self-registration of a new organisation. One module
per page group; ``context`` holds what they share (who may open them).

Every page is a thin view over the domain services the API uses (the same gate for metering
data: an approved mandate on a channel the portal serves, under an approved contract), so
the portal shows and refuses exactly what the API does. Unsafe requests carry the session's
``csrf_token``; an access point that is not the organisation's is the unknown-page 404.
"""

from __future__ import annotations

from fastapi import APIRouter

from datahub_api.portal.esp import (
    access_points,
    contracts,
    history_exports,
    nps_audits,
    registration,
    webhooks,
)

router = APIRouter(include_in_schema=False)
for pages in (access_points, contracts, webhooks, nps_audits, history_exports, registration):
    router.include_router(pages.router)
