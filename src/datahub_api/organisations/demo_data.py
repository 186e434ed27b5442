"""The demo world's parties with an account or a client: the DSO operator, the head-end,
and two ESPs ("ESP A", "ESP B"), each with an approved contract on all four channels, an
API client, a subscription key and a portal login."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.auth import service as auth_service
from datahub_api.auth.principal import OPERATOR_SCOPES, Principal, Role
from datahub_api.contracts import service as contracts_service
from datahub_api.contracts.models import Channel
from datahub_api.contracts.schemas import ContractApplication
from datahub_api.db import WriteSession
from datahub_api.demo.world import DemoWorldBuilder
from datahub_api.organisations import enterprise_number
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.schemas import OrganisationCreate

DEMO_ESPS = ("ESP A", "ESP B")


def _secret(world: DemoWorldBuilder) -> str:
    return f"demo-{world.rng.getrandbits(128):032x}"


def _password(world: DemoWorldBuilder, role: str) -> str:
    return f"{role}-{world.rng.getrandbits(40):010x}"


def _uuid(world: DemoWorldBuilder) -> str:
    return str(uuid.UUID(int=world.rng.getrandbits(128), version=4))


async def seed_organisations_and_clients(session: WriteSession, world: DemoWorldBuilder) -> None:
    settings = world.settings
    operator_password = _password(world, "operator")
    session.add(
        Account(
            username="operator",
            password_hash=hash_password(operator_password),
            display_name="DSO operator",
            role=AccountRole.operator,
        )
    )
    operator_client = await auth_service.create_client(
        session,
        name="Demo operator backend",
        role=Role.operator,
        organisation_id=None,
        client_id=_uuid(world),
        secret=_secret(world),
    )
    head_end = await auth_service.create_client(
        session,
        name="Demo head-end",
        role=Role.head_end,
        organisation_id=None,
        client_id=_uuid(world),
        secret=_secret(world),
    )
    operator = Principal(subject="demo:seed", role=Role.operator, scopes=OPERATOR_SCOPES)
    started = contracts_service.today_in_brussels() - timedelta(days=2 * 366)
    esps: list[dict[str, Any]] = []
    for index, name in enumerate(DEMO_ESPS):
        number = enterprise_number.from_body(world.rng.randrange(2_000_000, 19_999_999))
        slug = name.lower().replace(" ", "-")
        organisation = await organisations_service.create(
            session,
            OrganisationCreate(
                name=name,
                enterprise_number=number,
                contact_email=f"data@{slug}.example",
                return_url_prefixes=[f"https://{slug}.example/", "http://localhost"],
            ),
        )
        contract = await contracts_service.apply(
            session,
            organisation,
            ContractApplication(channels=list(Channel), valid_from=started),
            actor=f"demo:{slug}",
            number=str(1_000_000_000 + world.rng.randrange(9_000_000_000)),
        )
        subscription_key = f"{world.rng.getrandbits(128):032x}"
        await contracts_service.transition(
            session,
            operator,
            contract.number,
            contracts_service.Transition.approve,
            None,
            subscription_key=subscription_key,
        )
        client = await auth_service.create_client(
            session,
            name=f"{name} backend",
            role=Role.esp,
            organisation_id=organisation.id,
            client_id=_uuid(world),
            secret=_secret(world),
        )
        password = _password(world, slug)
        session.add(
            Account(
                username=f"{slug}-staff",
                password_hash=hash_password(password),
                display_name=f"{name} staff",
                role=AccountRole.esp_user,
                organisation_id=organisation.id,
            )
        )
        esps.append(
            {
                "name": name,
                "enterprise_number": number,
                "contract_number": contract.number,
                "client_id": client.client.client_id,
                "client_secret": client.secret,
                "subscription_key": subscription_key,
                "username": f"{slug}-staff",
                "password": password,
                "index": index,
            }
        )
    await session.flush()
    for esp in esps:
        esp.pop("index")
    world.credentials.update(
        {
            "token_url": settings.token_endpoint_url,
            "operator": {
                "client_id": operator_client.client.client_id,
                "client_secret": operator_client.secret,
                "username": "operator",
                "password": operator_password,
            },
            "head_end": {"client_id": head_end.client.client_id, "client_secret": head_end.secret},
            "esps": esps,
        }
    )


def describe_parties(credentials: dict[str, Any]) -> list[str]:
    if "esps" not in credentials:
        return []
    esp = credentials["esps"][0]
    token_url = credentials["token_url"]
    return [
        f"  token URL:  {token_url}",
        f"  {esp['name']} backend: client_id {esp['client_id']}  (secret in the credentials file)",
        "  try:  curl -s -d grant_type=client_credentials "
        f"-d client_id={esp['client_id']} -d client_secret=... {token_url}",
    ]
