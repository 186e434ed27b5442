"""What every logged-in portal page needs: the person (or a trip to the login page that
comes back here), the role check, the menu of the role, and the CSRF check of a form.

Pages take these as FastAPI dependencies that *raise* instead of returning the way out:
:class:`LoginNeeded` (to the login page, then back) and :class:`PageError` (a message page,
such as the 403 of a page for another role). :func:`render_portal_error`, the error renderer
of everything under ``/portal``, draws those and any other error a page lets through."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Collection
from typing import Any, ClassVar

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from datahub_api.auth.principal import Principal, Role
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep
from datahub_api.errors import DatahubError
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.navigation import NAV
from datahub_api.portal.router import logged_in_person, render, to_login

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


# --- the way out of a page, raised ------------------------------------------------------


class LoginNeeded(DatahubError):
    """No live session: to the login page, which sends the person back to ``back_to``
    (default: the page asked for). Not a refusal worth an audit record."""

    status, code, title = 303, "login-needed", "Login needed"
    audited: ClassVar[bool] = False

    def __init__(self, back_to: str | None = None) -> None:
        super().__init__()
        self.back_to = back_to


class PageError(DatahubError):
    """A portal page answers with a message page instead of itself (its heading and message
    already in the person's words), such as the 403 of a page for another role."""

    audited: ClassVar[bool] = False

    def __init__(
        self,
        status: int,
        heading: str,
        message: str,
        *,
        link: str | None = None,
        link_text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, headers=headers)
        self.status = status
        self.heading = heading
        self.link = link
        self.link_text = link_text


FRAME = "portal_frame"  # request.state: what a page's message pages show around the message


def set_frame(request: Request, **frame: Any) -> None:
    """What :func:`render_portal_error` draws around a message on this request (the menu,
    the logout form's token); set by the page dependencies once the person is known."""
    setattr(request.state, FRAME, frame)


def person_frame(request: Request, person: Principal) -> dict[str, Any]:
    return {
        "logged_in": True,
        "csrf_token": person.csrf_token,
        "nav": NAV.get(person.role, []),
        "here": request.url.path,
    }


def render_portal_error(request: Request, error: DatahubError) -> Response:
    """The one error renderer of ``/portal``: the login page, or the message page (within
    the person's menu once a page dependency knew them)."""
    if isinstance(error, LoginNeeded):
        return to_login(request, error.back_to)
    frame: dict[str, Any] = getattr(request.state, FRAME, {})
    if isinstance(error, PageError):
        heading, link, link_text = error.heading, error.link, error.link_text
    else:
        heading, link, link_text = error.title, None, None
    response = render(
        request,
        "message.html",
        error.status,
        heading=heading,
        message=error.detail,
        link=link,
        link_text=link_text,
        **frame,
    )
    response.headers.update(error.headers)
    return response


def refused(
    request: Request,
    heading_key: str,
    message_key: str,
    status_code: int,
    *,
    link: str | None = None,
    link_key: str = "back",
) -> PageError:
    """A :class:`PageError` from the portal's texts (as :func:`message` draws them)."""
    t = texts(language_of(request))
    return PageError(status_code, t[heading_key], t[message_key], link=link, link_text=t[link_key])


# --- who may open a page -------------------------------------------------------------------


def person_of(
    roles: Collection[Role], *, back_to: str | None = None
) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the logged-in person when their role may open the page; else
    :class:`LoginNeeded` (back to ``back_to``, default this page) or a clear 403 page."""

    async def person(request: Request, session: ReadSessionDep) -> Principal:
        return await _person(request, session, roles, back_to)

    return person


def form_person_of(roles: Collection[Role], *, back_to: str) -> Callable[..., Awaitable[Principal]]:
    """:func:`person_of` for a form post: the person is read in the request's write session,
    the one the post's route asks for too (FastAPI hands both the same session), so a post
    holds one session, not a read session beside its write session."""

    async def person(request: Request, session: WriteSessionDep) -> Principal:
        return await _person(request, session, roles, back_to)

    return person


async def _person(
    request: Request, session: ReadSession, roles: Collection[Role], back_to: str | None
) -> Principal:
    found = await logged_in_person(request, session)
    if found is None:
        raise LoginNeeded(back_to)
    set_frame(request, **person_frame(request, found))
    if found.role not in roles:
        raise refused(request, "forbidden_title", "forbidden", 403, link="/portal/")
    return found


async def checked_form(request: Request, person: Principal, *, back_to: str) -> FormData:
    """The posted form when its ``csrf_token`` is the session's; else a clear 403 page
    with a link back to the form's page (raised)."""
    form = await request.form()
    sent = str(form.get("csrf_token", ""))
    if not sent or not secrets.compare_digest(sent, person.csrf_token or ""):
        raise refused(request, "csrf_title", "csrf", 403, link=back_to)
    return form
