"""Who may open the ESP pages, as FastAPI dependencies that raise the way out: the page
context (person, organisation, words, the organisation's frame around every page) and the
form post with its CSRF check."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response

from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.models import Organisation, OrganisationStatus
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.navigation import NAV
from datahub_api.portal.pages import LoginNeeded, PageError, set_frame
from datahub_api.portal.router import logged_in_person, render

ESP_HOME = "/portal/esp/"
LIST_LIMIT = 500


# --- who may see the pages ------------------------------------------------------------


class EspPage:
    """A logged-in ESP person's page: their principal, organisation, words and token."""

    def __init__(self, request: Request, person: Principal, organisation: Organisation) -> None:
        self.request = request
        self.person = person
        self.organisation = organisation
        self.language = language_of(request)
        self.t = texts(self.language)

    def frame(self) -> dict[str, Any]:
        """What every ESP page shows around its content (also its message pages)."""
        return {
            "logged_in": True,
            "csrf_token": self.person.csrf_token,
            "organisation": self.organisation,
            "esp_nav": True,
            "nav": NAV[Role.esp],
            "here": self.request.url.path,
        }

    def show(self, template: str, status_code: int = 200, **context: Any) -> Response:
        return render(self.request, template, status_code, **self.frame(), **context)

    def not_found(self) -> PageError:
        return PageError(404, self.t["esp_not_found_title"], self.t["esp_not_found"])

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


def esp_page(
    needs: frozenset[str], *, back_to: str | None = None
) -> Callable[..., Awaitable[EspPage]]:
    """A dependency: the page context, or the way out (raised): to the login (then back to
    ``back_to``, default this page) without a session, a clear 403 page for a person who is
    not ESP staff, for staff of a suspended or closed organisation (on every page and form:
    they read nothing and change nothing), and for a page no contract of the organisation
    covers today (as the API's scopes decide)."""

    async def page(request: Request, session: ReadSessionDep) -> EspPage:
        person = await logged_in_person(request, session)
        if person is None:
            raise LoginNeeded(back_to)
        t = texts(language_of(request))
        set_frame(request, logged_in=True, csrf_token=person.csrf_token)
        if person.role is not Role.esp or person.organisation_id is None:
            raise PageError(403, t["esp_only_title"], t["esp_only"])
        access = await organisations_service.staff_access(
            session, app_state(request).access_grants, person
        )
        if access.principal is None:
            closed = access.organisation.status is OrganisationStatus.closed
            raise PageError(
                403,
                t["esp_suspended_title"],
                t["esp_org_closed" if closed else "esp_org_suspended"],
            )
        found = EspPage(request, access.principal, access.organisation)
        set_frame(request, **found.frame())
        if not needs & access.principal.scopes:
            raise PageError(
                403,
                t["esp_no_contract_title"],
                t["esp_no_contract"],
                link="/portal/esp/contracts",
                link_text=t["esp_nav_contracts"],
            )
        return found

    return page


@dataclass(frozen=True)
class EspForm:
    """A form posted on an ESP page, its CSRF token checked, and its fields."""

    page: EspPage
    fields: dict[str, str]


def esp_form(needs: frozenset[str]) -> Callable[..., Awaitable[EspForm]]:
    """A dependency: the page of a form post and its fields; a post without a session goes
    to the login (then the ESP home), one without the session's CSRF token is answered
    with the clear 403 page (raised: nothing changes)."""
    page_of = esp_page(needs, back_to=ESP_HOME)

    # The page context is read in the request's write session, the one the post's route asks
    # for too (FastAPI hands both the same): a post holds one session.
    async def posted(request: Request, session: WriteSessionDep) -> EspForm:
        page = await page_of(request, session)
        form = await request.form()
        fields = {key: str(value) for key, value in form.multi_items() if isinstance(value, str)}
        fields["channels"] = ",".join(str(v) for v in form.getlist("channels"))
        if not page.csrf_ok(fields.get("csrf_token", "")):
            raise PageError(403, page.t["esp_csrf_title"], page.t["csrf"])
        return EspForm(page, fields)

    return posted


ContractPage = Annotated[EspPage, Depends(esp_page(CONTRACT_PAGES))]
MandatePage = Annotated[EspPage, Depends(esp_page(MANDATE_PAGES))]
WebhookPage = Annotated[EspPage, Depends(esp_page(WEBHOOK_PAGES))]
NpsPage = Annotated[EspPage, Depends(esp_page(NPS_PAGES))]
ExportPage = Annotated[EspPage, Depends(esp_page(EXPORT_PAGES))]
ContractForm = Annotated[EspForm, Depends(esp_form(CONTRACT_PAGES))]
