"""The organisation's access points: the list (the ESP home), and per access point a chart
and a CSV report of its metering data, behind the same gate as the API (an approved mandate
on a channel the portal serves, under an approved contract). An access point that is not
the organisation's is the unknown-page 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import is_valid
from datahub_api.access_points.models import EnergyType
from datahub_api.brussels_days import in_brussels, today_in_brussels
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import DatahubError, NotFound
from datahub_api.mandates import listing as mandate_listing
from datahub_api.meter_data import reads
from datahub_api.meter_data.channels import PORTAL
from datahub_api.meter_data.fluvius_csv import TariffCalendar, exported_access_point
from datahub_api.meter_data.read_router import FileExport
from datahub_api.meter_data.series import ReadWindow
from datahub_api.portal.capacity_chart import peaks_section
from datahub_api.portal.esp.context import (
    LIST_LIMIT,
    MANDATE_PAGES,
    ContractPage,
    EspPage,
    MandatePage,
)
from datahub_api.portal.esp_chart import (
    STEP_OF_SPAN,
    BadPeriod,
    Period,
    Span,
    chart_context,
    parse_period,
)
from datahub_api.portal.pages import PageError

router = APIRouter(include_in_schema=False)


# --- overview -------------------------------------------------------------------------


@router.get("/portal/esp/")
async def esp_home(page: ContractPage, session: ReadSessionDep) -> Response:
    """The access points; the contracts page while no contract covers them."""
    if not MANDATE_PAGES & page.person.scopes:
        return RedirectResponse("/portal/esp/contracts", status_code=303)
    return await _access_points(page, session)


@router.get("/portal/esp/access-points")
async def esp_access_points(page: MandatePage, session: ReadSessionDep) -> Response:
    return await _access_points(page, session)


async def _access_points(page: EspPage, session: ReadSession) -> Response:
    mandates = await mandate_listing.by_ean(session, page.person, limit=LIST_LIMIT)
    readable = await reads.last_readable_data(session, page.person, PORTAL, mandates)
    last = {m_id: found for m_id, found in readable.items() if found}
    rows = [
        {
            "mandate": m,
            "readable": m.id in readable,
            "last_day": last[m.id][0] if m.id in last else None,
            "received": last[m.id][1] if m.id in last else None,
        }
        for m in mandates
    ]
    return page.show(
        "esp_access_points.html", rows=rows, limit=LIST_LIMIT, today=today_in_brussels()
    )


# --- one access point: chart and CSV ---------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    """What the period picker asked for and the window shown: the period narrowed to the
    part of a mandate's data period it holds, when it holds only part (``narrowed``). (Days
    of the data period that are not the consenting customer's show as gaps, never named.)"""

    gate: reads.ReadGate
    period: Period
    window: ReadWindow
    narrowed: bool
    error: str | None


async def _selection(page: EspPage, session: ReadSession, ean: str) -> _Selection:
    """The period asked for (default: the read service's day, inside the mandate), or a
    refusal: the 404 page when the access point is not the organisation's (checked first,
    as on the API); a clear message for nonsense dates."""
    if not is_valid(ean, belgian=False):
        raise page.not_found()
    try:
        gate = await reads.gate(session, page.person, ean, PORTAL)
    except NotFound:
        raise page.not_found() from None
    query = page.request.query_params
    try:
        span = Span(query.get("span") or "day")
    except ValueError:  # parse_period says so below
        defaults = reads.Defaults(reads.newest_day(None, []), ())
    else:
        defaults = await reads.defaults(session, gate, STEP_OF_SPAN[span])
    try:
        period = parse_period(query.get("span"), query.get("date"), defaults.day)
    except BadPeriod as bad:
        fallback = Period.holding(Span.day, defaults.day)
        return _Selection(gate, fallback, fallback.window(), False, page.t["esp_" + bad.key])
    window = period.window()
    shown = reads.widest_allowed(window, defaults.grants)
    return _Selection(gate, period, shown, shown != window, None)


@router.get("/portal/esp/access-points/{ean}")
async def esp_access_point(page: MandatePage, session: WriteSessionDep, ean: str) -> Response:
    ean = ean[:40]
    selection = await _selection(page, session, ean)
    period, window = selection.period, selection.window
    point = await access_points_service.get_access_point(session, ean)
    if point.energy_type is EnergyType.gas:
        window = window.as_gas()  # gas days run 06:00 to 06:00
    context: dict[str, Any] = {
        "ean": ean,
        "point": point,
        "period": period,
        "spans": list(Span),
        "narrowed": selection.narrowed,
        "shown_from": window.start,
        "shown_to": window.end,
        "picker_action": f"/portal/esp/access-points/{ean}",
        "chart_title": page.t["esp_chart_title"],
    }
    if selection.error is not None:
        return page.show("esp_access_point.html", 422, error=selection.error, **context)
    try:
        async with session.begin_nested():  # a refusal leaves nothing behind
            release = await reads.grant_for(session, selection.gate, window)
    except NotFound:
        raise page.not_found() from None
    except DatahubError as refused:  # the page again, with the reason
        return page.show(
            "esp_access_point.html", refused.status, error=_refusal(page, refused), **context
        )
    series = await reads.series_of(session, release, window)
    peaks = None
    if point.energy_type is EnergyType.electricity:  # the capacity tariff's monthly peaks
        peaks = await peaks_section(session, selection.gate, period.last, page.t, page.language)
    return page.show(
        "esp_access_point.html",
        csv_link=f"/portal/esp/access-points/{ean}/csv?span={period.span.value}"
        f"&date={period.anchor.isoformat()}",
        **chart_context(series, window, page.language, page.t),
        peaks=peaks,
        **context,
    )


def _refusal(page: EspPage, error: DatahubError) -> str:
    """The gate's 403 in the person's words: the window they may read, or the data service
    that does not allow this step."""
    extra = error.extra or {}
    if "allowed_from" in extra:
        return page.t["esp_outside_mandate"].format(
            start=_local(extra["allowed_from"]), end=_local(extra["allowed_to"])
        )
    if "data_service_types" in extra:
        return page.t["esp_step_not_allowed"]
    return str(error.detail)


def _local(text: str) -> str:
    """An instant as a Brussels date, with the time when it is not midnight."""
    local = in_brussels(datetime.fromisoformat(text))
    return f"{local:%d-%m-%Y}" if local.hour == local.minute == 0 else f"{local:%d-%m-%Y %H:%M}"


@router.get("/portal/esp/access-points/{ean}/csv")
async def esp_access_point_csv(page: MandatePage, session: WriteSessionDep, ean: str) -> Response:
    """The CSV report of exactly the chart's selection, in the Fluvius export layout (the
    same rows as ``GET /api/v1/access-points/{ean}/meter-data?format=csv``)."""
    ean = ean[:40]
    selection = await _selection(page, session, ean)
    if selection.error is not None:
        raise PageError(422, page.t["esp_chart_title"], selection.error)
    window = selection.window
    access_point = await access_points_service.get_access_point(session, ean)
    if access_point.energy_type is EnergyType.gas:
        window = window.as_gas()  # gas days run 06:00 to 06:00
    try:
        release = await reads.grant_for(session, selection.gate, window)
    except NotFound:
        raise page.not_found() from None
    except DatahubError as refused:
        heading = page.t["esp_chart_title"]
        raise PageError(refused.status, heading, _refusal(page, refused)) from None
    point = exported_access_point(access_point)
    calendar = TariffCalendar.from_settings(app_state(page.request).settings)
    export = FileExport(
        page.request,
        point,
        window,
        release,
        {"direction": None, "register": None},
        calendar,
    )
    return export.csv_response()
