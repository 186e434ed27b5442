"""The portal's pages for ESP staff, scoped to their organisation: contracts and
applications, API clients, mandates and access points, per access point a chart and a CSV
report of its metering data, webhooks with their delivery log, NPS audits, yearly history
exports with their download; and the
self-registration of a new organisation.

Every page is a thin view over the domain services the API uses (the same gate for metering
data: an approved mandate on a channel the portal serves, under an approved contract), so
the portal shows and refuses exactly what the API does. Unsafe requests carry the session's
``csrf_token``; an access point that is not the organisation's is the unknown-page 404.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import is_valid
from datahub_api.access_points.models import EnergyType
from datahub_api.audit.service import record_action
from datahub_api.auth import repository as auth_repository
from datahub_api.auth import service as auth_service
from datahub_api.auth.clients_router import client_out
from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.brussels_days import in_brussels, today_in_brussels
from datahub_api.client_address import client_address
from datahub_api.contracts import repository as contracts_repository
from datahub_api.contracts import service as contracts_service
from datahub_api.contracts.models import Channel, ContractStatus
from datahub_api.contracts.schemas import ContractApplication
from datahub_api.db import ReadSession, commit_and_run_hooks
from datahub_api.errors import DatahubError, NotFound, TooManyRequests
from datahub_api.history_exports import repository as history_exports_repository
from datahub_api.history_exports import service as history_exports_service
from datahub_api.history_exports.models import ExportStatus, HistoryExport
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.access import readable_portfolio
from datahub_api.meter_data import reads
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.meter_data.channels import PORTAL_CHANNELS
from datahub_api.meter_data.portal_export import TariffCalendar, exported_access_point
from datahub_api.meter_data.read_router import FileExport
from datahub_api.meter_data.series import ReadWindow
from datahub_api.nps import repository as nps_repository
from datahub_api.organisations import repository as organisations_repository
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.models import Organisation, OrganisationStatus
from datahub_api.organisations.schemas import OrganisationCreate
from datahub_api.portal.capacity_chart import peaks_section
from datahub_api.portal.esp_chart import (
    STEP_OF_SPAN,
    BadPeriod,
    Period,
    Span,
    chart_context,
    parse_period,
)
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.navigation import NAV
from datahub_api.portal.router import (
    LOGIN_CSRF_COOKIE,
    current_person,
    login_csrf_ok,
    render,
    render_with_login_csrf,
    to_login,
)
from datahub_api.webhooks import repository as webhooks_repository

router = APIRouter(include_in_schema=False)

ESP_HOME = "/portal/esp/"
LIST_LIMIT = 500
MIN_PASSWORD = 12


# --- who may see the pages ------------------------------------------------------------


class _Page:
    """A logged-in ESP person's page: their principal, organisation, words and token."""

    def __init__(self, request: Request, person: Principal, organisation: Organisation) -> None:
        self.request = request
        self.person = person
        self.organisation = organisation
        self.language = language_of(request)
        self.t = texts(self.language)

    def show(self, template: str, status_code: int = 200, **context: Any) -> Response:
        return render(
            self.request,
            template,
            status_code,
            logged_in=True,
            csrf_token=self.person.csrf_token,
            organisation=self.organisation,
            esp_nav=True,
            nav=NAV[Role.esp],
            here=self.request.url.path,
            **context,
        )

    def message(self, heading: str, message: str, status_code: int) -> Response:
        return self.show("message.html", status_code, heading=heading, message=message)

    def not_found(self) -> Response:
        return self.message(self.t["esp_not_found_title"], self.t["esp_not_found"], 404)

    def csrf_ok(self, token: str) -> bool:
        return bool(token) and secrets.compare_digest(token, self.person.csrf_token or "")


# What each page needs of the scopes the organisation's contracts grant today (any one of
# them), the same as the API routes showing the same things: the contracts and clients pages
# need what every admitted ESP holds; mandates, charts and CSV a contract on a channel with
# mandates (api, portal or nps); the rest their channel's scope.
CONTRACT_PAGES = frozenset({Scope.contracts})
MANDATE_PAGES = frozenset({Scope.consents, Scope.mandates_read, Scope.meter_data_read})
WEBHOOK_PAGES = frozenset({Scope.webhooks})
NPS_PAGES = frozenset({Scope.nps})
EXPORT_PAGES = frozenset({Scope.exports})


async def _esp_page(request: Request, needs: frozenset[str]) -> _Page | Response:
    """The page context, or the way out: to the login (then back here) without a session,
    a clear 403 page for a person who is not ESP staff, for staff of a suspended or closed
    organisation (on every page and form: they read nothing and change nothing), and for a
    page no contract of the organisation covers today (as the API's scopes decide)."""
    person = await current_person(request)
    if person is None:
        return to_login(request)
    t = texts(language_of(request))
    if person.role is not Role.esp or person.organisation_id is None:
        return render(
            request,
            "message.html",
            403,
            heading=t["esp_only_title"],
            message=t["esp_only"],
            logged_in=True,
            csrf_token=person.csrf_token,
        )
    async with request.app.state.database.read_sessions() as session:
        access = await organisations_service.staff_access(
            session, request.app.state.access_grants, person
        )
    if access.principal is None:
        closed = access.organisation.status is OrganisationStatus.closed
        return render(
            request,
            "message.html",
            403,
            heading=t["esp_suspended_title"],
            message=t["esp_org_closed" if closed else "esp_org_suspended"],
            logged_in=True,
            csrf_token=person.csrf_token,
        )
    page = _Page(request, access.principal, access.organisation)
    if not needs & access.principal.scopes:
        return page.show(
            "message.html",
            403,
            heading=page.t["esp_no_contract_title"],
            message=page.t["esp_no_contract"],
            link="/portal/esp/contracts",
            link_text=page.t["esp_nav_contracts"],
        )
    return page


PageHandler = Callable[[_Page], Awaitable[Response]]


async def _with_page(request: Request, needs: frozenset[str], handler: PageHandler) -> Response:
    page = await _esp_page(request, needs)
    if isinstance(page, Response):
        return page
    return await handler(page)


async def _posted(
    request: Request, needs: frozenset[str]
) -> tuple[_Page | Response, dict[str, str]]:
    """The page of a form post and its fields; a post without the session's CSRF token is
    answered with the clear 403 page (nothing changes)."""
    page = await _esp_page(request, needs)
    if isinstance(page, Response):
        if isinstance(page, RedirectResponse):  # session over: back to the login
            return to_login(request, ESP_HOME), {}
        return page, {}
    form = await request.form()
    fields = {key: str(value) for key, value in form.multi_items() if isinstance(value, str)}
    fields["channels"] = ",".join(str(v) for v in form.getlist("channels"))
    if not page.csrf_ok(fields.get("csrf_token", "")):
        return page.message(page.t["esp_csrf_title"], page.t["csrf"], 403), {}
    return page, fields


# --- overview -------------------------------------------------------------------------


@router.get("/portal/esp/")
async def esp_home(request: Request) -> Response:
    """The access points; the contracts page while no contract covers them."""
    page = await _esp_page(request, CONTRACT_PAGES)
    if isinstance(page, Response):
        return page
    if not MANDATE_PAGES & page.person.scopes:
        return RedirectResponse("/portal/esp/contracts", status_code=303)
    return await _access_points(page)


@router.get("/portal/esp/access-points")
async def esp_access_points(request: Request) -> Response:
    return await _with_page(request, MANDATE_PAGES, _access_points)


async def _access_points(page: _Page) -> Response:
    async with page.request.app.state.database.read_sessions() as session:
        mandates = await mandates_repository.listed(session, page.person, limit=LIST_LIMIT)
        # The mandates this page can show data of (a portal or API mandate under a contract
        # covering it today), as the chart's gate decides; the data they received is told
        # of the days they release only (not of an earlier or a later occupant's).
        grants = {
            window.mandate.id: window.grant()
            for window in await readable_portfolio(session, page.person, channels=PORTAL_CHANNELS)
        }
        shown = [m for m in mandates if m.id in grants]
        received = await meter_data_repository.last_received(
            session, [(m.ean, *grants[m.id].released_days()) for m in shown]
        )
        last = {m.id: found for m, found in zip(shown, received, strict=True) if found}
    rows = [
        {
            "mandate": m,
            "readable": m.id in grants,
            "last_day": last[m.id][0] if m.id in last else None,
            "received": last[m.id][1] if m.id in last else None,
        }
        for m in mandates
    ]
    return page.show(
        "esp_access_points.html", rows=rows, limit=LIST_LIMIT, today=today_in_brussels()
    )


# --- contracts ------------------------------------------------------------------------


async def _contracts_page(
    page: _Page, *, error: str | None = None, notice: str | None = None, status_code: int = 200
) -> Response:
    async with page.request.app.state.database.read_sessions() as session:
        rows = await contracts_repository.page(
            session, page.person, after_id=None, limit=LIST_LIMIT, statuses=None
        )
        keys = {}
        for contract, _ in rows:
            if contract.status is ContractStatus.approved and Channel.api in contract.channels:
                key = await auth_repository.active_subscription_key(session, contract.id)
                if key is not None:
                    keys[contract.number] = key.key
    return page.show(
        "esp_contracts.html",
        status_code,
        contracts=[c for c, _ in rows],
        keys=keys,
        channels=list(Channel),
        error=error,
        notice=notice,
    )


@router.get("/portal/esp/contracts")
async def esp_contracts(request: Request) -> Response:
    return await _with_page(request, CONTRACT_PAGES, _contracts_page)


@router.post("/portal/esp/contracts")
async def esp_apply(request: Request) -> Response:
    page, fields = await _posted(request, CONTRACT_PAGES)
    if isinstance(page, Response):
        return page
    try:
        application = ContractApplication(
            channels=[c for c in fields.get("channels", "").split(",") if c],
            valid_from=fields.get("valid_from") or None,
        )
    except ValidationError:
        return await _contracts_page(page, error=page.t["esp_apply_invalid"], status_code=422)
    try:
        async with request.app.state.database.write_sessions() as session:
            organisation = await organisations_repository.get(session, page.organisation.id)
            assert organisation is not None
            contract = await contracts_service.apply(
                session, organisation, application, page.person.subject
            )
            record_action(
                session,
                actor=page.person,
                action="contract.apply",
                target=contract.number,
                request=request,
            )
            await commit_and_run_hooks(session, request.app)
    except DatahubError as error:
        return await _contracts_page(page, error=error.detail, status_code=error.status)
    return RedirectResponse(f"/portal/esp/contracts?applied={contract.number}", status_code=303)


@router.post("/portal/esp/contracts/{number}/withdraw")
async def esp_withdraw(request: Request, number: str) -> Response:
    page, _ = await _posted(request, CONTRACT_PAGES)
    if isinstance(page, Response):
        return page
    if not (len(number) == 10 and number.isdigit()):
        return page.not_found()
    try:
        async with request.app.state.database.write_sessions() as session:
            await contracts_service.transition(
                session, page.person, number, contracts_service.Transition.withdraw, None
            )
            record_action(
                session,
                actor=page.person,
                action="contract.withdraw",
                target=number,
                request=request,
            )
            await commit_and_run_hooks(session, request.app)
    except NotFound:
        return page.not_found()
    except DatahubError as error:
        return await _contracts_page(page, error=error.detail, status_code=error.status)
    return RedirectResponse("/portal/esp/contracts", status_code=303)


@router.post("/portal/esp/contracts/{number}/rotate-key")
async def esp_rotate_subscription_key(request: Request, number: str) -> Response:
    page, _ = await _posted(request, CONTRACT_PAGES)
    if isinstance(page, Response):
        return page
    if not (len(number) == 10 and number.isdigit()):
        return page.not_found()
    try:
        async with request.app.state.database.write_sessions() as session:
            await contracts_service.rotate_subscription_key(session, page.person, number)
            record_action(
                session,
                actor=page.person,
                action="contract.rotate_subscription_key",
                target=number,
                request=request,
            )
            await commit_and_run_hooks(session, request.app)
    except NotFound:
        return page.not_found()
    except DatahubError as error:
        return await _contracts_page(page, error=error.detail, status_code=error.status)
    return await _contracts_page(page, notice=page.t["esp_key_rotated"].format(number=number))


# --- API clients ----------------------------------------------------------------------


async def _clients_page(
    page: _Page,
    *,
    secret: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    async with page.request.app.state.database.read_sessions() as session:
        clients = [
            await client_out(session, client)
            for client in await auth_repository.list_visible_clients(session, page.person)
        ]
    return page.show("esp_clients.html", status_code, clients=clients, secret=secret, error=error)


@router.get("/portal/esp/clients")
async def esp_clients(request: Request) -> Response:
    return await _with_page(request, CONTRACT_PAGES, _clients_page)


@router.post("/portal/esp/clients")
async def esp_create_client(request: Request) -> Response:
    page, fields = await _posted(request, CONTRACT_PAGES)
    if isinstance(page, Response):
        return page
    name = fields.get("name", "").strip()
    if not 1 <= len(name) <= 200:
        return await _clients_page(page, error=page.t["esp_client_name_needed"], status_code=422)
    async with request.app.state.database.write_sessions() as session:
        created = await auth_service.create_client(
            session, name=name, role=Role.esp, organisation_id=page.organisation.id
        )
        record_action(
            session,
            actor=page.person,
            action="client.create",
            target=created.client.client_id,
            request=request,
        )
        await commit_and_run_hooks(session, request.app)
    secret = {"client_id": created.client.client_id, "secret": created.secret, "until": None}
    return await _clients_page(page, secret=secret, status_code=201)


async def _client_action(request: Request, client_id: str, action: str) -> Response:
    page, _ = await _posted(request, CONTRACT_PAGES)
    if isinstance(page, Response):
        return page
    async with request.app.state.database.write_sessions() as session:
        client = await auth_repository.get_visible_client(session, page.person, client_id[:64])
        if client is None or client.revoked_at is not None:
            return page.not_found()
        secret = None
        if action == "rotate":
            overlap = timedelta(hours=request.app.state.settings.client_secret_overlap_hours)
            rotated = await auth_service.rotate_secret(session, client, overlap)
            secret = {
                "client_id": client_id,
                "secret": rotated.secret,
                "until": rotated.secret_expires_at,
            }
        else:
            await auth_service.revoke_client(session, client)
        record_action(
            session,
            actor=page.person,
            action="client.rotate_secret" if action == "rotate" else "client.revoke",
            target=client_id,
            request=request,
        )
        await commit_and_run_hooks(session, request.app)
    if secret is None:
        return RedirectResponse("/portal/esp/clients", status_code=303)
    return await _clients_page(page, secret=secret)


@router.post("/portal/esp/clients/{client_id}/rotate")
async def esp_rotate_client(request: Request, client_id: str) -> Response:
    return await _client_action(request, client_id, "rotate")


@router.post("/portal/esp/clients/{client_id}/revoke")
async def esp_revoke_client(request: Request, client_id: str) -> Response:
    return await _client_action(request, client_id, "revoke")


# --- one access point: chart and CSV ---------------------------------------------------


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


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


async def _selection(page: _Page, session: ReadSession, ean: str) -> _Selection:
    """The period asked for (default: the read service's day, inside the mandate), or a
    refusal: the 404 page when the access point is not the organisation's (checked first,
    as on the API); a clear message for nonsense dates."""
    if not is_valid(ean, belgian=False):
        raise _Refused(page.not_found())
    try:
        gate = await reads.gate(session, page.person, ean, reads.PORTAL)
    except NotFound:
        raise _Refused(page.not_found()) from None
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
async def esp_access_point(request: Request, ean: str) -> Response:
    page = await _esp_page(request, MANDATE_PAGES)
    if isinstance(page, Response):
        return page
    ean = ean[:40]
    async with request.app.state.database.write_sessions() as session:
        try:
            selection = await _selection(page, session, ean)
        except _Refused as refused:
            return refused.response
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
            release = await reads.grant_for(session, selection.gate, window)
        except NotFound:
            return page.not_found()
        except DatahubError as refused:
            return page.show(
                "esp_access_point.html", refused.status, error=_refusal(page, refused), **context
            )
        series = await reads.series_of(session, release, window)
        peaks = None
        if point.energy_type is EnergyType.electricity:  # the capacity tariff's monthly peaks
            peaks = await peaks_section(
                session,
                page.person,
                ean,
                period.last,
                page.t,
                page.language,
                channels=PORTAL_CHANNELS,
            )
        await commit_and_run_hooks(session, request.app)
    return page.show(
        "esp_access_point.html",
        csv_link=f"/portal/esp/access-points/{ean}/csv?span={period.span.value}"
        f"&date={period.anchor.isoformat()}",
        **chart_context(series, window, page.language, page.t),
        peaks=peaks,
        **context,
    )


def _refusal(page: _Page, error: DatahubError) -> str:
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
async def esp_access_point_csv(request: Request, ean: str) -> Response:
    """The CSV report of exactly the chart's selection, in the Fluvius export layout (the
    same rows as ``GET /api/v1/access-points/{ean}/meter-data?format=csv``)."""
    page = await _esp_page(request, MANDATE_PAGES)
    if isinstance(page, Response):
        return page
    ean = ean[:40]
    async with request.app.state.database.write_sessions() as session:
        try:
            selection = await _selection(page, session, ean)
        except _Refused as refused:
            return refused.response
        if selection.error is not None:
            return page.message(page.t["esp_chart_title"], selection.error, 422)
        window = selection.window
        access_point = await access_points_service.get_access_point(session, ean)
        if access_point.energy_type is EnergyType.gas:
            window = window.as_gas()  # gas days run 06:00 to 06:00
        try:
            release = await reads.grant_for(session, selection.gate, window)
        except NotFound:
            return page.not_found()
        except DatahubError as refused:
            return page.message(page.t["esp_chart_title"], _refusal(page, refused), refused.status)
        point = exported_access_point(access_point)
        await commit_and_run_hooks(session, request.app)
    calendar = TariffCalendar.from_settings(request.app.state.settings)
    export = FileExport(
        request,
        point,
        window,
        release,
        {"direction": None, "register": None},
        calendar,
    )
    return export.csv_response()


# --- webhooks, NPS audits and history exports -----------------------------------------------------


@router.get("/portal/esp/webhooks")
async def esp_webhooks(request: Request) -> Response:
    async def show(page: _Page) -> Response:
        async with request.app.state.database.read_sessions() as session:
            endpoints = await webhooks_repository.page(
                session, page.person, after_id=None, limit=LIST_LIMIT
            )
        return page.show("esp_webhooks.html", endpoints=endpoints)

    return await _with_page(request, WEBHOOK_PAGES, show)


@router.get("/portal/esp/webhooks/{endpoint_id}")
async def esp_webhook_log(request: Request, endpoint_id: str) -> Response:
    async def show(page: _Page) -> Response:
        if not endpoint_id.isdigit() or len(endpoint_id) > 18:
            return page.not_found()
        async with request.app.state.database.read_sessions() as session:
            endpoint = await webhooks_repository.get(session, page.person, int(endpoint_id))
            if endpoint is None:
                return page.not_found()
            deliveries = await webhooks_repository.deliveries_page(
                session, page.person, endpoint.id, before_id=None, limit=200
            )
            attempts = await webhooks_repository.attempts_of(session, [d.id for d in deliveries])
        return page.show(
            "esp_webhook_log.html", endpoint=endpoint, deliveries=deliveries, attempts=attempts
        )

    return await _with_page(request, WEBHOOK_PAGES, show)


@router.get("/portal/esp/nps-audits")
async def esp_nps_audits(request: Request) -> Response:
    async def show(page: _Page) -> Response:
        async with request.app.state.database.read_sessions() as session:
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

    return await _with_page(request, NPS_PAGES, show)


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
async def esp_history_exports(request: Request) -> Response:
    async def show(page: _Page) -> Response:
        async with request.app.state.database.read_sessions() as session:
            exports = await history_exports_repository.latest(
                session, page.organisation.id, limit=LIST_LIMIT
            )
            counts = await history_exports_repository.item_counts(session, [e.id for e in exports])
            now = history_exports_service.utcnow()
            withdrawn = await history_exports_service.withdrawn_exports(
                session, [e.id for e in exports], now
            )
        target_days = request.app.state.settings.sla_targets["annual_history"].days
        rows = [
            _export_row(e, counts.get(e.id, 0), target_days, now, withdrawn=e.id in withdrawn)
            for e in exports
        ]
        return page.show("esp_history_exports.html", rows=rows, limit=LIST_LIMIT)

    return await _with_page(request, EXPORT_PAGES, show)


# --- self-registration ------------------------------------------------------------------


def _registration_form(
    request: Request,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    response = render_with_login_csrf(
        request, "esp_register.html", status_code, error=error, values=values or {}
    )
    response.headers.update(headers or {})
    return response


@router.get("/portal/register")
async def register_page(request: Request) -> Response:
    return _registration_form(request)


@router.post("/portal/register")
async def register(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    enterprise_number: Annotated[str, Form(max_length=30)] = "",
    contact_email: Annotated[str, Form(max_length=320)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    t = texts(language_of(request))
    values = {
        "name": name,
        "enterprise_number": enterprise_number,
        "contact_email": contact_email,
        "display_name": display_name,
        "username": username,
    }
    if not login_csrf_ok(request, csrf_token):
        return _registration_form(request, error=t["csrf"], values=values, status_code=403)
    problems = []
    try:
        body = OrganisationCreate(
            name=name.strip(), enterprise_number=enterprise_number, contact_email=contact_email
        )
    except ValidationError as invalid:
        problems = [str(e["loc"][0]) for e in invalid.errors()]
    if not (3 <= len(username.strip()) <= 150) or not username.strip().isprintable():
        problems.append("username")
    if len(password) < MIN_PASSWORD:
        problems.append("password")
    if problems:
        message = t["esp_register_invalid"] + " " + ", ".join(t["esp_field_" + p] for p in problems)
        return _registration_form(request, error=message, values=values, status_code=422)
    staff = organisations_service.NewStaff(
        username=username.strip(),
        password=password,
        display_name=display_name.strip() or username.strip(),
    )
    try:
        await request.app.state.registration_ceiling.take(client_address(request))
    except TooManyRequests as error:
        return _registration_form(
            request, error=t["too_many"], values=values, status_code=429, headers=error.headers
        )
    # The same answer whether the username (or enterprise number) was free or taken; the
    # applicant learns which at the next step, by logging in.
    try:
        async with request.app.state.database.write_sessions() as session:
            registered = await organisations_service.register(session, body, staff)
            record_action(
                session,
                actor=f"self-registration:{staff.username}",
                action="organisation.register" if registered else "organisation.register.taken",
                target=body.enterprise_number,
                request=request,
            )
            await commit_and_run_hooks(session, request.app)
    except IntegrityError:  # the same username registered at the same moment: taken too
        pass
    response = render(
        request,
        "message.html",
        201,
        heading=t["esp_register_title"],
        message=t["esp_registered"],
        link="/portal/login",
        link_text=t["login"],
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response
