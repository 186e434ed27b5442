"""Logging in and out: a session cookie for people (the portal reuses it; the same cookie
authenticates their API calls)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from datahub_api.accounts import service
from datahub_api.accounts.schemas import LoginRequest, Me
from datahub_api.auth.dependencies import authenticate
from datahub_api.auth.principal import Principal
from datahub_api.client_address import client_address
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import Unauthorized, problem_responses

router = APIRouter(tags=["auth"])


def set_session_cookie(request: Request, response: Response, login: service.NewLogin) -> None:
    # A session cookie (no max-age: gone when the browser closes); the server-side session
    # expires on its own. Secure whenever the request came over TLS (proxy headers honoured).
    secure = request.url.scheme == "https"
    response.set_cookie(
        service.SESSION_COOKIE,
        login.token,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


@router.post(
    "/api/v1/auth/login",
    response_model=Me,
    responses=problem_responses(401, 422, 429, s401="Wrong username or password"),
    summary="Log in with username and password; sets the session cookie",
)
async def log_in(
    request: Request, body: LoginRequest, response: Response, session: WriteSessionDep
) -> Me:
    """For customers, grid users, ESP staff and operators. The same message for an unknown
    user and a wrong password; failed attempts are throttled per username and address."""
    settings = app_state(request).settings
    address = client_address(request)
    try:
        login = await service.log_in(
            session,
            app_state(request).login_throttle,
            username=body.username,
            password=body.password,
            address=address,
            lifetime=timedelta(hours=settings.session_lifetime_hours),
        )
    except Unauthorized:
        # Audited as one row per username and address per window, with a count.
        request.state.audit_tally = f"login:{body.username.lower()[:150]}|{address}"
        raise
    set_session_cookie(request, response, login)
    return Me(
        username=login.account.username,
        display_name=login.account.display_name,
        role=login.account.role,
        organisation_id=login.account.organisation_id,
        csrf_token=login.csrf_token,
        expires_at=login.expires_at,
    )


@router.post(
    "/api/v1/auth/logout",
    status_code=204,
    responses=problem_responses(401, 403),
    summary="End the session",
)
async def log_out(
    request: Request,
    principal: Annotated[Principal, Depends(authenticate)],
    session: WriteSessionDep,
) -> Response:
    """Needs the session's CSRF token (`X-CSRF-Token`), like every unsafe call."""
    token = request.cookies.get(service.SESSION_COOKIE)
    if token:
        await service.log_out(session, token)
    answer = Response(status_code=204)
    answer.delete_cookie(service.SESSION_COOKIE, path="/")
    return answer


@router.get(
    "/api/v1/auth/me",
    response_model=Me,
    responses=problem_responses(401),
    summary="The logged-in person",
)
async def me(principal: Annotated[Principal, Depends(authenticate)], session: ReadSessionDep) -> Me:
    if principal.user_id is None or principal.csrf_token is None:
        raise Unauthorized("This call is for people logged in with a session.")
    account = await service.get_account(session, principal.user_id)
    if account is None:
        raise Unauthorized("This call is for people logged in with a session.")
    return Me(
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        organisation_id=account.organisation_id,
        csrf_token=principal.csrf_token,
    )
