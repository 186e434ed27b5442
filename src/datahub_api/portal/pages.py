"""What every logged-in portal page needs: the person (or a trip to the login page that
comes back here), the role check, the menu of the role, and the CSRF check of a form."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from datahub_api.auth.principal import Principal, Role
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.navigation import NAV
from datahub_api.portal.router import current_person, render, to_login

PEOPLE = (Role.customer, Role.grid_user)


def page(
    request: Request,
    person: Principal,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A page for a logged-in person: their menu, the logout form's CSRF token."""
    return render(
        request,
        template,
        status_code,
        logged_in=True,
        csrf_token=person.csrf_token,
        nav=NAV.get(person.role, []),
        here=request.url.path,
        **context,
    )


def message(
    request: Request,
    person: Principal | None,
    heading_key: str,
    message_key: str,
    status_code: int,
    *,
    link: str | None = None,
    link_key: str = "back",
) -> Response:
    t = texts(language_of(request))
    if person is None:
        return render(
            request, "message.html", status_code, heading=t[heading_key], message=t[message_key]
        )
    return page(
        request,
        person,
        "message.html",
        status_code,
        heading=t[heading_key],
        message=t[message_key],
        link=link,
        link_text=t[link_key],
    )


async def person_for(
    request: Request, roles: Collection[Role], *, back_to: str | None = None
) -> Principal | Response:
    """The logged-in person when their role may open this page; otherwise the answer to
    send (the login page, or a clear 403 page)."""
    person = await current_person(request)
    if person is None:
        return to_login(request, back_to)
    if person.role not in roles:
        return message(request, person, "forbidden_title", "forbidden", 403, link="/portal/")
    return person


async def checked_form(request: Request, person: Principal, *, back_to: str) -> FormData | Response:
    """The posted form when its ``csrf_token`` is the session's; else a clear 403 page
    with a link back to the form's page."""
    form = await request.form()
    sent = str(form.get("csrf_token", ""))
    if not sent or not secrets.compare_digest(sent, person.csrf_token or ""):
        return message(request, person, "csrf_title", "csrf", 403, link=back_to)
    return form
