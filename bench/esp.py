"""An ESP for a benchmark: an organisation with an approved `api` contract and a backend
client, made through the services as an operator would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from datahub_api.auth import service as auth_service
from datahub_api.auth.principal import OPERATOR_SCOPES, Principal, Role
from datahub_api.contracts import service as contracts_service
from datahub_api.contracts.models import Channel
from datahub_api.contracts.schemas import ContractApplication
from datahub_api.db import WriteSession
from datahub_api.organisations import enterprise_number
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.schemas import OrganisationCreate

BENCH_OPERATOR = Principal(subject="bench:operator", role=Role.operator, scopes=OPERATOR_SCOPES)


@dataclass(frozen=True)
class BenchEsp:
    organisation_id: int
    client_id: str
    client_secret: str


async def add_api_esp(
    session: WriteSession,
    name: str,
    number_body: int,
    channels: tuple[Channel, ...] = (Channel.api,),
) -> BenchEsp:
    """The ESP ``name`` (enterprise number made from ``number_body``) with a contract on
    ``channels``, in ``session`` (the caller commits)."""
    organisation = await organisations_service.create(
        session,
        OrganisationCreate(
            name=name,
            enterprise_number=enterprise_number.from_body(number_body),
            contact_email="bench@example.org",
            return_url_prefixes=["https://bench.example/"],
        ),
    )
    contract = await contracts_service.apply(
        session,
        organisation,
        ContractApplication(channels=list(channels), valid_from=date(2020, 1, 1)),
        actor="bench",
    )
    await contracts_service.transition(
        session, BENCH_OPERATOR, contract.number, contracts_service.Transition.approve, None
    )
    created = await auth_service.create_client(
        session, name=f"{name} backend", role=Role.esp, organisation_id=organisation.id
    )
    return BenchEsp(organisation.id, created.client.client_id, created.secret)
