"""The operator's pages: pending contract applications (approve, or reject with a reason),
organisations (suspend with a reason, resume), access point search, the SLA dashboard with
the SLA tracker's charts, and NPS audits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import AccessPoint, EnergyType, PartyRole
from datahub_api.accounts import service as accounts_service
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import today_in_brussels
from datahub_api.contracts import service as contracts_service
from datahub_api.contracts.models import ContractStatus
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import Conflict, DatahubError, NotFound, UnprocessableContent
from datahub_api.nps.models import AuditStatus
from datahub_api.nps.service import audits as audit_service
from datahub_api.organisations import service as organisations_service
from datahub_api.portal import sla_charts
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.pages import checked_form, form_person_of, message, page, person_of
from datahub_api.sla import chart as sla_chart
from datahub_api.sla import service as sla_service

router = APIRouter(include_in_schema=False)

OPERATORS = (Role.operator,)
SHOWN = 200
SEARCH_SHOWN = 50
RECENT = 20
REASON_MAX = 1000


# --- contract applications ---------------------------------------------------------------


@router.get("/portal/operator/contracts")
async def contract_applications(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(OPERATORS))],
) -> Response:
    pending = await contracts_service.page(
        session, person, limit=SHOWN, statuses=[ContractStatus.requested]
    )
    decided = await contracts_service.page(
        session,
        person,
        limit=RECENT,
        statuses=[ContractStatus.approved, ContractStatus.rejected],
        newest_first=True,
    )
    return page(
        request,
        person,
        "operator_contracts.html",
        pending=pending,
        decided=decided,
        done=request.query_params.get("done"),
        number=request.query_params.get("number"),
    )


@router.post("/portal/operator/contracts/{number}/{action}")
async def decide_contract(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[
        Principal, Depends(form_person_of(OPERATORS, back_to="/portal/operator/contracts"))
    ],
    number: str,
    action: str,
) -> Response:
    back = "/portal/operator/contracts"
    form = await checked_form(request, person, back_to=back)
    if action not in ("approve", "reject"):
        return message(request, person, "contracts_title", "bad_decision", 404, link=back)
    reason = str(form.get("reason", "")).strip()[:REASON_MAX] or None
    if action == "reject" and reason is None:
        return message(request, person, "contracts_title", "reason_needed", 422, link=back)
    transition = contracts_service.Transition(action)
    try:
        contracts_service.validate_number(number)
        async with session.begin_nested():  # a refusal leaves nothing behind
            await contracts_service.transition(session, person, number, transition, reason)
    except NotFound:
        return message(request, person, "contracts_title", "no_such_contract", 404, link=back)
    except Conflict:
        return message(request, person, "contracts_title", "already_decided", 409, link=back)
    except UnprocessableContent:
        return message(request, person, "contracts_title", "reason_needed", 422, link=back)
    done = "approved" if action == "approve" else "rejected"
    return RedirectResponse(f"{back}?done={done}&number={number}", status_code=303)


# --- organisations -----------------------------------------------------------------------


@router.get("/portal/operator/organisations")
async def organisations_page(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(OPERATORS))],
) -> Response:
    organisations, changes = await organisations_service.all_with_status_changes(session)
    done = request.query_params.get("done")
    return page(
        request,
        person,
        "operator_organisations.html",
        organisations=organisations,
        changes=changes,
        done=done if done in ("suspended", "resumed") else None,
        number=request.query_params.get("number", "")[:20],
    )


@router.post("/portal/operator/organisations/{number}/{action}")
async def change_organisation(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[
        Principal, Depends(form_person_of(OPERATORS, back_to="/portal/operator/organisations"))
    ],
    number: str,
    action: str,
) -> Response:
    """Suspend (a reason is required) or resume an organisation: the same service as
    ``POST /api/v1/operator/organisations/{number}/suspend|resume``."""
    back = "/portal/operator/organisations"
    form = await checked_form(request, person, back_to=back)
    if action not in ("suspend", "resume"):
        return message(request, person, "organisations_title", "org_bad_action", 404, link=back)
    reason = str(form.get("reason", "")).strip()[:REASON_MAX] or None
    if action == "suspend" and reason is None:
        return message(request, person, "organisations_title", "org_reason_needed", 422, link=back)
    try:
        async with session.begin_nested():  # a refusal leaves nothing behind
            if action == "suspend":
                assert reason is not None
                organisation, _ = await organisations_service.suspend(
                    session, person, number[:20], reason
                )
            else:
                organisation, _ = await organisations_service.resume(
                    session, person, number[:20], reason
                )
    except NotFound:
        return message(request, person, "organisations_title", "org_not_found", 404, link=back)
    except Conflict:
        return message(request, person, "organisations_title", "org_conflict", 409, link=back)
    done = "suspended" if action == "suspend" else "resumed"
    return RedirectResponse(
        f"{back}?done={done}&number={organisation.enterprise_number}", status_code=303
    )


# --- access points -----------------------------------------------------------------------


@dataclass(frozen=True)
class FoundPoint:
    point: AccessPoint
    grid_user: str | None
    customers: list[str]
    communicating: bool


async def _describe(session: ReadSession, points: list[AccessPoint]) -> list[FoundPoint]:
    today = today_in_brussels()
    found = []
    for point in points:
        live = [
            party
            for party in point.parties
            if party.valid_from <= today and (party.valid_to is None or party.valid_to > today)
        ]
        names: dict[int, str] = {}
        for party in live:
            account = await accounts_service.get_account(session, party.account_id)
            names[party.account_id] = account.display_name if account else "?"
        grid_users = [names[p.account_id] for p in live if p.role is PartyRole.grid_user]
        found.append(
            FoundPoint(
                point=point,
                grid_user=grid_users[0] if grid_users else None,
                customers=[names[p.account_id] for p in live if p.role is PartyRole.customer],
                communicating=await access_points_service.is_communicating_on(
                    session, point.ean, today
                ),
            )
        )
    return found


@router.get("/portal/operator/access-points")
async def access_point_search(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(OPERATORS))],
) -> Response:
    query = (request.query_params.get("q") or "").strip().replace(" ", "")[:18]
    energy = request.query_params.get("energy_type") or ""
    error = None
    results: list[FoundPoint] = []
    searched = "q" in request.query_params
    if searched:
        if query and not query.isdigit():
            error = "search_digits"
        elif energy not in ("", "E", "G"):
            error = "search_energy"
        else:
            points, _ = await access_points_service.list_access_points(
                session,
                after_ean=None,
                limit=SEARCH_SHOWN,
                where=access_points_service.AccessPointFilter(
                    ean_prefix=query or None,
                    energy_type=EnergyType(energy) if energy else None,
                ),
            )
            results = await _describe(session, points)
    return page(
        request,
        person,
        "operator_access_points.html",
        400 if error else 200,
        q=query,
        energy=energy,
        error=error,
        searched=searched,
        results=results,
        limit=SEARCH_SHOWN,
    )


# --- SLA ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    report: sla_service.Report
    month_chart: sla_charts.SlaChart | None  # None when no data was expected this month
    trend_chart: sla_charts.SlaChart | None  # None when none was in the last 12 months


TREND_MONTHS = 12


def _this_month() -> str:
    today = today_in_brussels()
    return f"{today.year:04d}-{today.month:02d}"


def _trend_start(start: date, longest_days: int) -> date:
    """The first of the 12 months up to ``start``'s, fewer when the longest SLA report a
    call may ask for is shorter."""
    end = sla_service.next_month(start)
    first = start
    for _ in range(TREND_MONTHS - 1):
        earlier = (first - timedelta(days=1)).replace(day=1)
        if (end - earlier).days > longest_days:
            break
        first = earlier
    return first


async def _channel_figures(
    request: Request,
    session: ReadSession,
    person: Principal,
    channel: sla_service.SlaChannel,
    month: str,
) -> ChannelFigures:
    start = sla_chart.parse_month(month)
    settings = app_state(request).settings
    language = language_of(request)
    words = texts(language)
    now = datetime.now(UTC)
    report = await sla_service.report(
        session,
        person,
        settings,
        channel=channel,
        start=start,
        end=sla_service.next_month(start),
        group_by=sla_service.GroupBy.day,
        organisation_id=None,
        now=now,
    )
    trend = await sla_service.report(
        session,
        person,
        settings,
        channel=channel,
        start=_trend_start(start, settings.sla_max_report_days),
        end=sla_service.next_month(start),
        group_by=sla_service.GroupBy.month,
        organisation_id=None,
        now=now,
    )
    return ChannelFigures(
        channel=channel.value,
        report=report,
        month_chart=sla_charts.month_chart(report, words, language)
        if report.total.expected
        else None,
        trend_chart=sla_charts.trend_chart(trend, start, words, language)
        if trend.total.expected
        else None,
    )


@router.get("/portal/operator/sla")
async def sla_dashboard(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(OPERATORS))],
) -> Response:
    month = (request.query_params.get("month") or _this_month()).strip()[:20]
    channels = [
        sla_service.SlaChannel.api,
        sla_service.SlaChannel.portal,
        sla_service.SlaChannel.nps,
    ]
    try:
        figures = [await _channel_figures(request, session, person, ch, month) for ch in channels]
    except DatahubError:
        return page(
            request,
            person,
            "operator_sla.html",
            422,
            month=month,
            figures=[],
            error="bad_month",
        )
    return page(request, person, "operator_sla.html", month=month, figures=figures, error=None)


# --- NPS audits --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    id: int
    status: str
    esp: str
    ean: str
    reference_number: str
    opened_by: str
    opened_at: datetime
    due_at: datetime
    has_document: bool
    decision_note: str | None
    data_held: bool = False  # a registry-check mismatch or a contest: no data until decided
    contest_reason: str | None = None


@router.get("/portal/operator/nps-audits")
async def nps_audits(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(OPERATORS))],
) -> Response:
    wanted = request.query_params.get("status") or ""
    statuses = [AuditStatus(wanted)] if wanted in {s.value for s in AuditStatus} else []
    rows: list[AuditRow] = []
    audits = await audit_service.audits_page(
        session, None, statuses=statuses, mandate_id=None, after_id=None, limit=SHOWN
    )
    names: dict[int, str] = {}
    for audit in audits:
        audit, mandate, document = await audit_service.audit_with_mandate(session, None, audit.id)
        paper = await audit_service.paper_of(session, mandate.id)
        if audit.organisation_id not in names:
            organisation = await organisations_service.get(session, audit.organisation_id)
            names[audit.organisation_id] = organisation.name if organisation else "?"
        rows.append(
            AuditRow(
                id=audit.id,
                status=audit.status.value,
                esp=names[audit.organisation_id],
                ean=mandate.ean,
                reference_number=mandate.reference_number,
                opened_by=audit.opened_by,
                opened_at=audit.opened_at,
                due_at=audit.due_at,
                has_document=document is not None,
                decision_note=audit.decision_note,
                data_held=paper is not None
                and paper.hold is not None
                and audit.status.value in ("open", "submitted"),
                contest_reason=paper.contest_reason if paper is not None else None,
            )
        )
    rows.sort(key=lambda row: row.id, reverse=True)
    return page(
        request,
        person,
        "operator_nps_audits.html",
        audits=rows,
        status=wanted,
        statuses=[s.value for s in AuditStatus],
        done=request.query_params.get("done"),
    )


@router.post("/portal/operator/nps-audits/{audit_id}")
async def decide_nps_audit(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[
        Principal, Depends(form_person_of(OPERATORS, back_to="/portal/operator/nps-audits"))
    ],
    audit_id: str,
) -> Response:
    back = "/portal/operator/nps-audits"
    form = await checked_form(request, person, back_to=back)
    decision = str(form.get("decision", ""))
    note = str(form.get("note", "")).strip()[:REASON_MAX] or None
    if decision not in ("accept", "refuse"):
        return message(request, person, "nps_title", "bad_decision", 422, link=back)
    try:
        if not (audit_id.isdigit() and 0 < int(audit_id) < 2**62):
            raise NotFound("No such audit.")
        async with session.begin_nested():  # a refusal leaves nothing behind
            await audit_service.decide_audit(
                session, person, int(audit_id), accept=decision == "accept", note=note
            )
    except NotFound:
        return message(request, person, "nps_title", "no_such_audit", 404, link=back)
    except Conflict:
        return message(request, person, "nps_title", "audit_not_submitted", 409, link=back)
    except UnprocessableContent:
        return message(request, person, "nps_title", "reason_needed", 422, link=back)
    return RedirectResponse(f"{back}?done={decision}", status_code=303)
