"""The self-registration of a new organisation and its first staff member (before any
login: the form's CSRF token is a double-submit cookie)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from datahub_api.accounts import service as accounts_service
from datahub_api.client_address import client_address
from datahub_api.deps import WriteSessionDep, app_state
from datahub_api.errors import TooManyRequests
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.schemas import OrganisationCreate
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.router import (
    LOGIN_CSRF_COOKIE,
    login_csrf_ok,
    render,
    render_with_login_csrf,
)

router = APIRouter(include_in_schema=False)


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
    session: WriteSessionDep,
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
    problems += accounts_service.credential_problems(username, password)
    if problems:
        message = t["esp_register_invalid"] + " " + ", ".join(t["esp_field_" + p] for p in problems)
        return _registration_form(request, error=message, values=values, status_code=422)
    staff = organisations_service.NewStaff(
        username=username.strip(),
        password=password,
        display_name=display_name.strip() or username.strip(),
    )
    try:
        await app_state(request).registration_ceiling.take(client_address(request))
    except TooManyRequests as error:
        return _registration_form(
            request, error=t["too_many"], values=values, status_code=429, headers=error.headers
        )
    # The same answer whether the username (or enterprise number) was free or taken; the
    # applicant learns which at the next step, by logging in.
    try:
        async with session.begin_nested():
            await organisations_service.register(session, body, staff)
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
