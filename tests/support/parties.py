"""Test parties made through the real services: ESPs with contracts and clients, operators."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

import httpx
from fastapi import FastAPI

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.auth import service as auth_service
from datahub_api.auth.grants import AccessGrants
from datahub_api.auth.principal import OPERATOR_SCOPES, Principal, Role
from datahub_api.contracts import service as contracts_service
from datahub_api.contracts.models import Channel
from datahub_api.contracts.schemas import ContractApplication
from datahub_api.db import commit_and_run_hooks
from datahub_api.organisations import enterprise_number
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.schemas import OrganisationCreate

_bodies = itertools.count(1_000_000)
SEED_OPERATOR = Principal(subject="test:seed", role=Role.operator, scopes=OPERATOR_SCOPES)


@dataclass
class Esp:
    name: str
    organisation_id: int
    enterprise_number: str
    contract_number: str | None
    client_id: str
    client_secret: str


@dataclass
class MachineClient:
    client_id: str
    client_secret: str


async def make_esp(
    app: FastAPI,
    name: str,
    *,
    channels: list[Channel] | None = None,
    approve: bool = True,
    valid_from: date | None = None,
) -> Esp:
    database = app.state.database
    number = enterprise_number.from_body(next(_bodies))
    async with database.write_sessions() as session:
        organisation = await organisations_service.create(
            session,
            OrganisationCreate(
                name=name,
                enterprise_number=number,
                contact_email=f"{name.lower().replace(' ', '')}@example.org",
                return_url_prefixes=["https://esp.example/", "http://localhost"],
            ),
        )
        contract_number = None
        if channels is None or channels:
            contract = await contracts_service.apply(
                session,
                organisation,
                ContractApplication(
                    channels=channels or list(Channel),
                    valid_from=valid_from or date(2020, 1, 1),
                ),
                actor="test",
            )
            contract_number = contract.number
            if approve:
                await contracts_service.transition(
                    session,
                    SEED_OPERATOR,
                    contract.number,
                    contracts_service.Transition.approve,
                    None,
                )
        created = await auth_service.create_client(
            session, name=f"{name} backend", role=Role.esp, organisation_id=organisation.id
        )
        await session.commit()
    await reload_grants(app)
    return Esp(
        name=name,
        organisation_id=organisation.id,
        enterprise_number=number,
        contract_number=contract_number,
        client_id=created.client.client_id,
        client_secret=created.secret,
    )


async def make_machine_client(app: FastAPI, role: Role) -> MachineClient:
    async with app.state.database.write_sessions() as session:
        created = await auth_service.create_client(
            session, name=f"test {role.value}", role=role, organisation_id=None
        )
        await session.commit()
    return MachineClient(client_id=created.client.client_id, client_secret=created.secret)


async def reload_grants(app: FastAPI) -> None:
    grants: AccessGrants = app.state.access_grants
    await grants.reload()


async def token(client: httpx.AsyncClient, client_id: str, secret: str, **form: str) -> str:
    response = await client.post(
        "/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **form,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def auth_headers(client: httpx.AsyncClient, party: Esp | MachineClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token(client, party.client_id, party.client_secret)}"}


async def make_account(app: FastAPI, username: str, password: str, role: AccountRole) -> int:
    async with app.state.database.write_sessions() as session:
        account = Account(
            username=username,
            password_hash=hash_password(password),
            display_name=username.title(),
            role=role,
        )
        session.add(account)
        await session.commit()
        return account.id


async def decide_contract(app: FastAPI, number: str, action: str, reason: str | None) -> None:
    """The operator's decision, committed as a request commits (its after-commit hooks)."""
    async with app.state.database.write_sessions() as session:
        await contracts_service.transition(
            session, SEED_OPERATOR, number, contracts_service.Transition(action), reason
        )
        await commit_and_run_hooks(session, app)
