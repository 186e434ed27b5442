"""The customer's own metering data: ``/portal/my-data`` (their access points as customer)
and, per access point, the chart page the ESP portal has, with CSV (Fluvius layout) and
JSON downloads. The gate is :mod:`datahub_api.meter_data.own_reads`: the customer's own
days there, never another occupant's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import EnergyType
from datahub_api.access_points.service import CustomerTenures
from datahub_api.auth.principal import Principal
from datahub_api.capacity.service import own_monthly_peaks
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, app_state
from datahub_api.errors import NotFound
from datahub_api.meter_data import own_reads
from datahub_api.meter_data.fluvius_csv import TariffCalendar, exported_access_point
from datahub_api.meter_data.read_router import FileExport
from datahub_api.meter_data.reads import series_of
from datahub_api.meter_data.series import ReadWindow
from datahub_api.portal.capacity_chart import OWN_ROUTE, months_up_to
from datahub_api.portal.capacity_chart import draw as draw_peaks
from datahub_api.portal.esp_chart import (
    STEP_OF_SPAN,
    BadPeriod,
    Period,
    Span,
    chart_context,
    parse_period,
)
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.pages import PEOPLE, page, person_of, refused

router = APIRouter(include_in_schema=False)

HOME = "/portal/my-data"


@router.get(HOME)
async def my_data(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(PEOPLE))],
) -> Response:
    owned = await own_reads.own_access_points(session, person)
    points = list(zip(owned, await own_reads.last_days_with_data(session, owned), strict=True))
    return page(request, person, "my_data.html", points=points)


@dataclass(frozen=True)
class _Shown:
    """The period asked for on a page of one access point, its window, or the words of why
    the question names no period."""

    point: CustomerTenures
    period: Period
    window: ReadWindow
    error: str | None


async def _shown(request: Request, person: Principal, session: ReadSession, ean: str) -> _Shown:
    """The customer's access point and the period asked (default: the last day with data,
    yesterday at most); the not-found page (raised) for any EAN that is not theirs."""
    try:
        point = await own_reads.own_access_point(session, person, ean[:40])
    except NotFound:
        raise refused(request, "my_data_title", "my_data_not_yours", 404, link=HOME) from None
    default = await own_reads.default_day(session, point)
    query = request.query_params
    error = None
    try:
        period = parse_period(query.get("span"), query.get("date"), default)
    except BadPeriod as bad:
        period = Period.holding(Span.day, default)
        error = texts(language_of(request))["esp_" + bad.key]
    window = period.window()
    if point.energy_type is EnergyType.gas:
        window = window.as_gas()  # gas days run 06:00 to 06:00
    return _Shown(point, period, window, error)


@router.get(HOME + "/{ean}")
async def my_access_point(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(PEOPLE, back_to=HOME))],
    ean: str,
) -> Response:
    language = language_of(request)
    words = texts(language)
    shown = await _shown(request, person, session, ean)
    point, period, window = shown.point, shown.period, shown.window
    context: dict[str, Any] = {
        "ean": point.ean,
        "point": point,
        "period": period,
        "spans": list(Span),
        "narrowed": False,
        "picker_action": f"{HOME}/{point.ean}",
        "chart_title": words["my_data_chart_title"],
        "chart_styles": True,
    }
    if shown.error is not None:
        return page(request, person, "my_access_point.html", 422, error=shown.error, **context)
    series = await series_of(session, own_reads.released(point, window), window)
    peaks = None
    if point.energy_type is EnergyType.electricity:  # the capacity tariff's monthly peaks
        months = months_up_to(period.last)
        own = await own_monthly_peaks(session, point, months)
        peaks = draw_peaks(own, months[-1], words, language, route=OWN_ROUTE)
    selection = {"span": period.span.value, "date": period.anchor.isoformat()}
    json_query = {
        "from": period.first.isoformat(),
        "to": period.end.isoformat(),
        "granularity": STEP_OF_SPAN[period.span].value,
        "format": "json",
    }
    return page(
        request,
        person,
        "my_access_point.html",
        csv_link=f"{HOME}/{point.ean}/csv?{urlencode(selection)}",
        json_link=f"/api/v1/me/access-points/{point.ean}/meter-data?{urlencode(json_query)}",
        **chart_context(series, window, language, words),
        peaks=peaks,
        **context,
    )


@router.get(HOME + "/{ean}/csv")
async def my_access_point_csv(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(PEOPLE, back_to=HOME))],
    ean: str,
) -> Response:
    """Exactly the chart's selection in the Fluvius export layout (the rows of
    ``GET /api/v1/me/access-points/{ean}/meter-data?format=csv``)."""
    shown = await _shown(request, person, session, ean)
    if shown.error is not None:
        return page(
            request,
            person,
            "message.html",
            422,
            heading=texts(language_of(request))["my_data_title"],
            message=shown.error,
            link=f"{HOME}/{shown.point.ean}",
            link_text=texts(language_of(request))["back"],
            chart_styles=True,
        )
    access_point = await access_points_service.get_access_point(session, shown.point.ean)
    export = FileExport(
        request,
        exported_access_point(access_point),
        shown.window,
        own_reads.released(shown.point, shown.window),
        {"direction": None, "register": None},
        TariffCalendar.from_settings(app_state(request).settings),
    )
    return export.csv_response()
