"""Contracts and applications (apply, withdraw, rotate the subscription key) and the
organisation's API clients (create, rotate the secret, revoke)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from datahub_api.auth import service as auth_service
from datahub_api.auth.clients_router import client_out
from datahub_api.auth.principal import Role
from datahub_api.contracts import service as contracts_service
from datahub_api.contracts.models import Channel
from datahub_api.contracts.schemas import ContractApplication
from datahub_api.db import ReadSession, WriteSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import DatahubError, NotFound
from datahub_api.organisations import service as organisations_service
from datahub_api.portal.esp.context import (
    LIST_LIMIT,
    ContractForm,
    ContractPage,
    EspPage,
)

router = APIRouter(include_in_schema=False)


# --- contracts ------------------------------------------------------------------------


async def _contracts_page(
    page: EspPage,
    session: ReadSession,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    rows = await contracts_service.page(session, page.person, limit=LIST_LIMIT, statuses=None)
    keys = await contracts_service.subscription_keys(session, [c for c, _ in rows])
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
async def esp_contracts(page: ContractPage, session: ReadSessionDep) -> Response:
    return await _contracts_page(page, session)


@router.post("/portal/esp/contracts")
async def esp_apply(posted: ContractForm, session: WriteSessionDep) -> Response:
    page, fields = posted.page, posted.fields
    try:
        application = ContractApplication(
            channels=[c for c in fields.get("channels", "").split(",") if c],
            valid_from=fields.get("valid_from") or None,
        )
    except ValidationError:
        return await _contracts_page(
            page, session, error=page.t["esp_apply_invalid"], status_code=422
        )
    organisation = await organisations_service.get(session, page.organisation.id)
    assert organisation is not None
    try:
        async with session.begin_nested():
            contract = await contracts_service.apply(
                session, organisation, application, page.person
            )
    except DatahubError as error:  # the form again, with the reason
        return await _contracts_page(page, session, error=error.detail, status_code=error.status)
    return RedirectResponse(f"/portal/esp/contracts?applied={contract.number}", status_code=303)


@router.post("/portal/esp/contracts/{number}/withdraw")
async def esp_withdraw(posted: ContractForm, session: WriteSessionDep, number: str) -> Response:
    page = posted.page
    if not (len(number) == 10 and number.isdigit()):
        raise page.not_found()
    try:
        async with session.begin_nested():
            await contracts_service.transition(
                session, page.person, number, contracts_service.Transition.withdraw, None
            )
    except NotFound:
        raise page.not_found() from None
    except DatahubError as error:  # the list again, with the reason
        return await _contracts_page(page, session, error=error.detail, status_code=error.status)
    return RedirectResponse("/portal/esp/contracts", status_code=303)


@router.post("/portal/esp/contracts/{number}/rotate-key")
async def esp_rotate_subscription_key(
    posted: ContractForm, session: WriteSessionDep, number: str
) -> Response:
    page = posted.page
    if not (len(number) == 10 and number.isdigit()):
        raise page.not_found()
    try:
        async with session.begin_nested():
            await contracts_service.rotate_subscription_key(session, page.person, number)
    except NotFound:
        raise page.not_found() from None
    except DatahubError as error:  # the list again, with the reason
        return await _contracts_page(page, session, error=error.detail, status_code=error.status)
    notice = page.t["esp_key_rotated"].format(number=number)
    return await _contracts_page(page, session, notice=notice)


# --- API clients ----------------------------------------------------------------------


async def _clients_page(
    page: EspPage,
    session: ReadSession,
    *,
    secret: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    clients = [
        await client_out(session, client)
        for client in await auth_service.list_visible_clients(session, page.person)
    ]
    return page.show("esp_clients.html", status_code, clients=clients, secret=secret, error=error)


@router.get("/portal/esp/clients")
async def esp_clients(page: ContractPage, session: ReadSessionDep) -> Response:
    return await _clients_page(page, session)


@router.post("/portal/esp/clients")
async def esp_create_client(posted: ContractForm, session: WriteSessionDep) -> Response:
    page = posted.page
    name = posted.fields.get("name", "").strip()
    if not 1 <= len(name) <= 200:
        error = page.t["esp_client_name_needed"]
        return await _clients_page(page, session, error=error, status_code=422)
    created = await auth_service.create_client(
        session,
        name=name,
        role=Role.esp,
        organisation_id=page.organisation.id,
        actor=page.person,
    )
    secret = {"client_id": created.client.client_id, "secret": created.secret, "until": None}
    return await _clients_page(page, session, secret=secret, status_code=201)


async def _client_action(
    page: EspPage, session: WriteSession, client_id: str, action: str
) -> Response:
    client = await auth_service.get_visible_client(session, page.person, client_id[:64])
    if client is None or client.revoked_at is not None:
        raise page.not_found()
    secret = None
    if action == "rotate":
        settings = app_state(page.request).settings
        overlap = timedelta(hours=settings.client_secret_overlap_hours)
        rotated = await auth_service.rotate_secret(session, client, overlap, actor=page.person)
        secret = {
            "client_id": client_id,
            "secret": rotated.secret,
            "until": rotated.secret_expires_at,
        }
    else:
        await auth_service.revoke_client(session, client, actor=page.person)
    if secret is None:
        return RedirectResponse("/portal/esp/clients", status_code=303)
    return await _clients_page(page, session, secret=secret)


@router.post("/portal/esp/clients/{client_id}/rotate")
async def esp_rotate_client(
    posted: ContractForm, session: WriteSessionDep, client_id: str
) -> Response:
    return await _client_action(posted.page, session, client_id, "rotate")


@router.post("/portal/esp/clients/{client_id}/revoke")
async def esp_revoke_client(
    posted: ContractForm, session: WriteSessionDep, client_id: str
) -> Response:
    return await _client_action(posted.page, session, client_id, "revoke")
