"""The SLA routes: ``GET /api/v1/sla/report``, ``/late-items`` and ``/chart``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from datahub_api.access_points import ean as ean_rules
from datahub_api.auth.dependencies import require_any_scope
from datahub_api.auth.principal import Principal
from datahub_api.brussels_days import day_start
from datahub_api.deps import ReadSessionDep, app_state
from datahub_api.errors import UnprocessableContent, problem_responses
from datahub_api.iso_dates import IsoDate
from datahub_api.portal import sla_charts
from datahub_api.settings import Settings
from datahub_api.sla import chart, service
from datahub_api.sla.schemas import (
    DEFINITIONS,
    ExclusionsOut,
    FiguresOut,
    GroupOut,
    LateItemOut,
    LateItemsPageOut,
    OrganisationFiguresOut,
    SlaReportOut,
    TargetOut,
)
from datahub_api.sla.service import GroupBy, SlaChannel

router = APIRouter(tags=["sla"])

Reader = Annotated[Principal, Depends(require_any_scope(*service.READER_SCOPES))]
ChannelQuery = Annotated[
    SlaChannel,
    Query(
        description="The service level to measure: `api`, `portal`, `nps` (NPS informative "
        "data), `nps_historical` (NPS historical, validated data) or `annual_history`."
    ),
]
FromQuery = Annotated[IsoDate, Query(alias="from", description="First Brussels day of the period.")]
ToQuery = Annotated[
    IsoDate,
    Query(description="The day after the period's last day (exclusive); at most "
          "`DATAHUB_SLA_MAX_REPORT_DAYS` (400) days after `from`."),
]  # fmt: skip
OrganisationQuery = Annotated[
    int | None,
    Query(description="Operators: one ESP's figures. An ESP may give only its own."),
]


def _settings(request: Request) -> Settings:
    settings: Settings = app_state(request).settings
    return settings


@router.get(
    "/api/v1/sla/report",
    response_model=SlaReportOut,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 422, 429),
    summary="Service levels of a channel over a period (scope `sla:all`, or an ESP's own)",
    description=DEFINITIONS,
)
async def sla_report(
    request: Request,
    principal: Reader,
    session: ReadSessionDep,
    channel: ChannelQuery,
    from_: FromQuery,
    to: ToQuery,
    group_by: Annotated[
        GroupBy, Query(description="One row per day or per month.")
    ] = GroupBy.month,
    organisation_id: OrganisationQuery = None,
) -> SlaReportOut:
    now = datetime.now(UTC)
    found = await service.report(
        session,
        principal,
        _settings(request),
        channel=channel,
        start=from_,
        end=to,
        group_by=group_by,
        organisation_id=organisation_id,
        now=now,
    )
    share = found.target.share
    return SlaReportOut(
        channel=found.channel,
        from_=found.start,
        to=found.end,
        group_by=group_by.value,
        organisation_id=found.organisation_id,
        target=TargetOut(days=found.target.days, share=share),
        total=FiguresOut.of(found.total, share),
        groups=[
            GroupOut(
                from_=group.start, to=group.end, **FiguresOut.of(group.figures, share).model_dump()
            )
            for group in found.groups
        ],
        per_organisation=[
            OrganisationFiguresOut(
                organisation_id=organisation, **FiguresOut.of(figures, share).model_dump()
            )
            for organisation, figures in sorted(found.per_organisation.items())
        ],
        excluded=None if found.exclusions is None else ExclusionsOut(**vars(found.exclusions)),
        as_of=now,
        note=found.note,
    )


@router.get(
    "/api/v1/sla/late-items",
    response_model=LateItemsPageOut,
    responses=problem_responses(401, 403, 422, 429),
    summary="EAN-days late or missing on a channel, with their delay (paged)",
    description=DEFINITIONS,
)
async def sla_late_items(
    request: Request,
    principal: Reader,
    session: ReadSessionDep,
    channel: ChannelQuery,
    from_: FromQuery,
    to: ToQuery,
    organisation_id: OrganisationQuery = None,
    ean: Annotated[str | None, Query(max_length=40, description="Only this EAN.")] = None,
    cursor: Annotated[
        str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most items to return.")] = 100,
) -> LateItemsPageOut:
    now = datetime.now(UTC)
    if ean is not None:
        try:
            ean = ean_rules.validated(ean)
        except ValueError as exc:
            raise UnprocessableContent(f"ean: {exc}") from None
    page = await service.late_items(
        session,
        principal,
        _settings(request),
        channel=channel,
        start=from_,
        end=to,
        organisation_id=organisation_id,
        ean=ean,
        cursor=cursor,
        limit=limit,
        now=now,
    )
    items = []
    for item in page.items:
        foreseen = day_start(item.day + timedelta(days=1))
        items.append(
            LateItemOut(
                ean=item.ean,
                day=item.day,
                status="missing" if item.delivered_at is None else "late",
                foreseen_at=foreseen,
                deadline=foreseen + timedelta(hours=page.target_hours),
                delivered_at=item.delivered_at,
                delay_hours=item.delay_hours,
            )
        )
    return LateItemsPageOut(items=items, next_cursor=page.next_cursor)


@router.get(
    "/api/v1/sla/chart",
    response_class=Response,
    responses={
        **problem_responses(401, 403, 422, 429),
        200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}},
    },
    summary="Daily share on time of a month against the target line, as SVG",
    description="The month chart of the portal's SLA page (one bar per day, the target line), "
    "as a standalone SVG document in English; the same figures and rules as "
    "`GET /api/v1/sla/report` with `group_by=day`.",
)
async def sla_chart(
    request: Request,
    principal: Reader,
    session: ReadSessionDep,
    channel: ChannelQuery,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="The month, YYYY-MM.")],
    organisation_id: OrganisationQuery = None,
) -> Response:
    start = chart.parse_month(month)
    found = await service.report(
        session,
        principal,
        _settings(request),
        channel=channel,
        start=start,
        end=service.next_month(start),
        group_by=GroupBy.day,
        organisation_id=organisation_id,
        now=datetime.now(UTC),
    )
    return Response(sla_charts.svg_file(found), media_type="image/svg+xml")
