"""The organisation's yearly history exports, with their download."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from datahub_api.deps import ReadSessionDep, app_state
from datahub_api.history_exports.models import ExportStatus, HistoryExport
from datahub_api.history_exports.service import requests as history_exports_service
from datahub_api.portal.esp.context import (
    LIST_LIMIT,
    ExportPage,
)

router = APIRouter(include_in_schema=False)


def _export_period(export: HistoryExport) -> str:
    """A whole calendar year as the year, else the days (Brussels) from and to."""
    year = export.period_from.year
    if export.period_from == date(year, 1, 1) and export.period_to == date(year, 12, 31):
        return str(year)
    return f"{export.period_from:%d-%m-%Y} \N{EN DASH} {export.period_to:%d-%m-%Y}"


def _export_row(
    export: HistoryExport, eans: int, target_days: int, now: datetime, *, withdrawn: bool
) -> dict[str, Any]:
    """One request as the page shows it: ``expired`` once the file is gone, ``withdrawn``
    while it holds data of an EAN whose mandate ended, and a download link (the API's, which
    takes the session cookie) only for a ready file still kept and not withdrawn."""
    expired = history_exports_service.expired(export, now)
    ready = export.status is ExportStatus.ready and export.file_name is not None
    ready = ready and not withdrawn
    status = "withdrawn" if withdrawn else "expired" if expired else export.status.value
    return {
        "export": export,
        "period": _export_period(export),
        "eans": eans,
        "status": status,
        "due": history_exports_service.due_at(export, target_days),
        "download": f"/api/v1/history-exports/{export.id}/file" if ready and not expired else None,
        "file": history_exports_service.download_name(export) if ready and not expired else None,
    }


@router.get("/portal/esp/history-exports")
async def esp_history_exports(page: ExportPage, session: ReadSessionDep) -> Response:
    exports, counts = await history_exports_service.latest_with_counts(
        session, page.organisation.id, limit=LIST_LIMIT
    )
    now = history_exports_service.utcnow()
    withdrawn = await history_exports_service.withdrawn_exports(
        session, [e.id for e in exports], now
    )
    target_days = app_state(page.request).settings.sla_targets["annual_history"].days
    rows = [
        _export_row(e, counts.get(e.id, 0), target_days, now, withdrawn=e.id in withdrawn)
        for e in exports
    ]
    return page.show("esp_history_exports.html", rows=rows, limit=LIST_LIMIT)
