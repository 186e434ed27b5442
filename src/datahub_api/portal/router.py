"""The portal's server-rendered pages: login and the customer's consent page.

Forms carry a ``csrf_token`` field: before login a double-submit cookie, after login the
session's own token. Sessions are the same as ``POST /api/v1/auth/login``'s.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from datahub_api.accounts import service as accounts_service
from datahub_api.accounts.router import set_session_cookie
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import in_brussels
from datahub_api.client_address import client_address
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import (
    Conflict,
    DatahubError,
    Forbidden,
    Gone,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import ConsentSessionStatus
from datahub_api.portal.i18n import LANGUAGE_COOKIE, LANGUAGES, language_of, texts
from datahub_api.portal.navigation import NAV
from datahub_api.portal.svg_chart import percent

router = APIRouter(include_in_schema=False)
STATIC_PATH = "/portal/static"
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
LOGIN_CSRF_COOKIE = "datahub_login_csrf"


def _brussels_date(value: str | datetime) -> str:
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return in_brussels(instant).strftime("%d-%m-%Y")


def _brussels_datetime(value: datetime) -> str:
    return in_brussels(value).strftime("%d-%m-%Y %H:%M")


templates.env.filters["brussels_date"] = _brussels_date
templates.env.filters["brussels_datetime"] = _brussels_datetime
templates.env.filters["percent"] = percent  # {{ share | percent(lang) }}: 83,87% in Dutch


def install_portal_static(app: FastAPI) -> None:
    """The portal's own script and style files (chart tooltips), served by this process so
    pages run under a ``script-src 'self'`` policy with no inline script."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="portal-static")


def safe_next(target: str | None) -> str:
    """Only paths on this site (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/portal/"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = language_of(request)
    switch = {
        code: f"{request.url.path}?{urlencode({**request.query_params, 'lang': code})}"
        for code in LANGUAGES
    }
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": language,
            "t": texts(language),
            "logged_in": False,
            "csrf_token": "",
            "nav": [],
            "language_links": switch,
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") == language:
        response.set_cookie(LANGUAGE_COOKIE, language, samesite="lax", httponly=True)
    return response


async def logged_in_person(request: Request, session: ReadSessionDep) -> Principal | None:
    """The person of the session cookie, if any (a dependency)."""
    token = request.cookies.get(accounts_service.SESSION_COOKIE)
    if not token:
        return None
    return await accounts_service.principal_from_cookie(session, token)


MaybePerson = Annotated[Principal | None, Depends(logged_in_person)]


async def posting_person(request: Request, session: WriteSessionDep) -> Principal | None:
    """:func:`logged_in_person` for a form post, read in the request's write session (the
    one the post's route asks for too: one session per post)."""
    return await logged_in_person(request, session)


MaybePostingPerson = Annotated[Principal | None, Depends(posting_person)]


def to_login(request: Request, back_to: str | None = None) -> Response:
    """To the login page, which sends the person back to ``back_to`` (default: this page)
    afterwards; it says "your session ended" when a session cookie came along."""
    target = back_to or (request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    expired = "&expired=1" if request.cookies.get(accounts_service.SESSION_COOKIE) else ""
    language = request.query_params.get("lang")
    keep = f"&lang={language}" if language in LANGUAGES else ""
    return RedirectResponse(f"/portal/login?next={quote(target, safe='/')}{expired}{keep}", 303)


def render_with_login_csrf(
    request: Request, template: str, status_code: int, **context: Any
) -> Response:
    """A form shown before anyone is logged in (login, registration): its CSRF token is a
    fresh random one, also set in a strict HttpOnly cookie that the post must match."""
    token = secrets.token_urlsafe(24)
    response = render(request, template, status_code, csrf_token=token, **context)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def login_csrf_ok(request: Request, sent: str) -> bool:
    """Whether a form from :func:`render_with_login_csrf` came back with its cookie's token."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(sent) and secrets.compare_digest(sent, expected)


def _login_page(
    request: Request, *, error: str | None, username: str = "", status_code: int = 200
) -> Response:
    return render_with_login_csrf(
        request,
        "login.html",
        status_code,
        error=error,
        username=username,
        next=safe_next(request.query_params.get("next") or request.headers.get("x-next")),
    )


@router.get("/portal/login")
async def login_page(request: Request) -> Response:
    t = texts(language_of(request))
    error = t["session_expired"] if request.query_params.get("expired") else None
    return _login_page(request, error=error)


@router.post("/portal/login")
async def login(
    request: Request,
    session: WriteSessionDep,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/portal/",
) -> Response:
    t = texts(language_of(request))
    if not login_csrf_ok(request, csrf_token):
        return _login_page(request, error=t["csrf"], username=username, status_code=403)
    settings = app_state(request).settings
    try:
        async with session.begin_nested():  # a refused login leaves nothing behind
            new_login = await accounts_service.log_in(
                session,
                app_state(request).login_throttle,
                username=username,
                password=password,
                address=client_address(request),
                lifetime=timedelta(hours=settings.session_lifetime_hours),
            )
    except Unauthorized:
        return _login_page(
            request, error=t["wrong_credentials"], username=username, status_code=401
        )
    except TooManyRequests as error:
        page = _login_page(request, error=t["too_many"], username=username, status_code=429)
        page.headers.update(error.headers)  # Retry-After
        return page
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, new_login)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/portal/logout")
async def logout(
    request: Request,
    person: MaybePostingPerson,
    session: WriteSessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    token = request.cookies.get(accounts_service.SESSION_COOKIE)
    if person is not None and token and secrets.compare_digest(csrf_token, person.csrf_token or ""):
        await accounts_service.log_out(session, token)
    response = RedirectResponse("/portal/login", status_code=303)
    response.delete_cookie(accounts_service.SESSION_COOKIE, path="/")
    return response


@router.get("/portal/")
async def portal_home(request: Request, person: MaybePerson) -> Response:
    """The role's menu."""
    if person is None:
        return to_login(request)
    return render(
        request,
        "home.html",
        logged_in=True,
        csrf_token=person.csrf_token,
        nav=NAV.get(person.role, []),
        here="/portal/",
        role=person.role.value,
    )


def _consent_message(request: Request, person: Principal, key: str, status_code: int) -> Response:
    t = texts(language_of(request))
    return render(
        request,
        "message.html",
        status_code,
        heading=t["consent_title"],
        message=t[key],
        logged_in=True,
        nav=NAV.get(person.role, []),
        csrf_token=person.csrf_token,
        link="/portal/mandates" if person.role in (Role.customer, Role.grid_user) else None,
        link_text=t["nav_mandates"],
    )


@router.get("/consent/{identifier}")
async def consent_page(
    request: Request, person: MaybePerson, session: ReadSessionDep, identifier: str
) -> Response:
    """The page a consent session's URL opens."""
    if person is None:
        return to_login(request)
    return await _show_consent(request, session, person, identifier)


async def _show_consent(
    request: Request,
    session: ReadSession,
    person: Principal,
    identifier: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    if person.role not in (Role.customer, Role.grid_user) or person.user_id is None:
        return _consent_message(request, person, "not_customer", 403)
    account = await accounts_service.get_account(session, person.user_id)
    assert account is not None
    try:
        view = await mandates_service.view_consent_session(session, account, identifier[:32])
    except NotFound:
        return _consent_message(request, person, "unknown", 404)
    consent = view.consent
    if consent.status is ConsentSessionStatus.expired or (
        consent.status is ConsentSessionStatus.open
        and consent.valid_to <= datetime.now(consent.valid_to.tzinfo)
    ):
        return _consent_message(request, person, "expired", 410)
    if consent.status is not ConsentSessionStatus.open:
        return _consent_message(request, person, "answered", 409)
    return render(
        request,
        "consent.html",
        status_code,
        consent=consent,
        requested_by=view.organisation_name,
        eligible=view.eligible,
        error=error,
        logged_in=True,
        nav=NAV.get(person.role, []),
        csrf_token=person.csrf_token,
    )


@router.post("/consent/{identifier}")
async def decide_consent(
    request: Request, person: MaybePostingPerson, session: WriteSessionDep, identifier: str
) -> Response:
    if person is None:
        return to_login(request)
    form = await request.form()
    t = texts(language_of(request))
    token = str(form.get("csrf_token", ""))
    if not token or not secrets.compare_digest(token, person.csrf_token or ""):
        return await _show_consent(
            request, session, person, identifier, error=t["csrf"], status_code=403
        )
    decision = str(form.get("decision", ""))
    eans = [str(ean) for ean in form.getlist("eans")][:1000]
    if person.user_id is None or decision not in ("approve", "reject"):
        return await _show_consent(request, session, person, identifier, status_code=422)
    try:
        async with session.begin_nested():  # a refusal leaves nothing behind
            account = await accounts_service.get_account(session, person.user_id)
            assert account is not None
            outcome = await mandates_service.decide_consent_session(
                session,
                account,
                identifier[:32],
                approve=decision == "approve",
                eans=eans,
                rules=mandates_service.ConsentRules.of(app_state(request).settings),
                actor=person,
            )
    except Gone:
        return _consent_message(request, person, "expired", 410)
    except Conflict:
        return _consent_message(request, person, "answered", 409)
    except NotFound:
        return _consent_message(request, person, "unknown", 404)
    except (Forbidden, DatahubError) as error:
        return await _show_consent(
            request, session, person, identifier, error=error.detail, status_code=error.status
        )
    if outcome.redirect_url:
        return RedirectResponse(outcome.redirect_url, status_code=303)
    return render(
        request,
        "message.html",
        heading=t["consent_title"],
        message=t["done_approved" if decision == "approve" else "done_rejected"],
        mandates=outcome.mandates,
        logged_in=True,
        nav=NAV.get(person.role, []),
        csrf_token=person.csrf_token,
    )
