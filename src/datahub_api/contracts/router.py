"""Contracts: the ESP's applications, and the operator's decisions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.contracts import service
from datahub_api.contracts.models import Channel, ContractStatus, DataAccessContract
from datahub_api.contracts.schemas import (
    ContractApplication,
    ContractOut,
    ContractPage,
    OptionalReason,
    Reason,
    StatusChangeOut,
    SubscriptionKeyOut,
)
from datahub_api.contracts.service import Transition
from datahub_api.deps import ReadSessionDep, WriteSessionDep
from datahub_api.errors import NotFound, problem_responses
from datahub_api.idempotency.service import IdempotencyDep
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.models import Organisation
from datahub_api.paging import cursor_int, encode_cursor

router = APIRouter(tags=["contracts"])

ContractNumber = Annotated[
    str, Path(description="The 10-digit contract number.", pattern=r"^\d{10}$")
]
EspCaller = Annotated[Principal, Depends(require_scopes(Scope.contracts))]
OperatorCaller = Annotated[Principal, Depends(require_scopes(Scope.operator_contracts))]

ERRORS = problem_responses(
    401,
    403,
    404,
    409,
    422,
    429,
    s404="No such contract (or not yours)",
    s409="The lifecycle does not allow this",
)


def contract_out(contract: DataAccessContract, organisation: Organisation) -> ContractOut:
    return ContractOut(
        number=contract.number,
        organisation_enterprise_number=organisation.enterprise_number,
        organisation_name=organisation.name,
        channels=[Channel(c) for c in contract.channels],
        status=contract.status,
        valid_from=contract.valid_from,
        valid_to=contract.valid_to,
        created_at=contract.created_at,
        updated_at=contract.updated_at,
        history=[
            StatusChangeOut(
                from_status=ContractStatus(change.from_status) if change.from_status else None,
                to_status=ContractStatus(change.to_status),
                at=change.at,
                actor=change.actor,
                reason=change.reason,
            )
            for change in contract.history
        ],
    )


async def _page(
    session: ReadSessionDep,
    principal: Principal,
    limit: int,
    cursor: str | None,
    statuses: list[ContractStatus] | None,
) -> ContractPage:
    rows = await service.page(
        session, principal, after_id=cursor_int(cursor), limit=limit + 1, statuses=statuses
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return ContractPage(
        items=[contract_out(c, o) for c, o in rows],
        next_cursor=encode_cursor({"id": rows[-1][0].id}) if more and rows else None,
    )


Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
]


@router.post(
    "/api/v1/contracts",
    status_code=201,
    response_model=ContractOut,
    responses=ERRORS,
    summary="Apply for a data-access contract (scope `contracts`)",
)
async def apply_for_contract(
    request: Request,
    body: ContractApplication,
    principal: EspCaller,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Pick the channels: `portal` (deze website), `api` (via API), `nps`, `annual_history`.
    A channel already covered by a pending, approved or suspended contract is a 409."""
    organisation_id = esp_organisation(principal)
    if (replayed := await idempotency.replay(session)) is not None:
        return replayed
    organisation = await organisations_service.get(session, organisation_id)
    if organisation is None:
        raise NotFound("Unknown organisation.")
    contract = await service.apply(session, organisation, body, principal)
    found = await service.get(session, principal, contract.number)
    assert found is not None
    payload = contract_out(*found).model_dump(mode="json")
    await idempotency.remember(session, 201, payload)
    return JSONResponse(payload, status_code=201)


@router.get(
    "/api/v1/contracts",
    response_model=ContractPage,
    responses=ERRORS,
    summary="List your organisation's contracts and applications (scope `contracts`)",
)
async def list_contracts(
    principal: EspCaller,
    session: ReadSessionDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    status: Annotated[list[ContractStatus] | None, Query()] = None,
) -> ContractPage:
    esp_organisation(principal)
    return await _page(session, principal, limit, cursor, status)


@router.get(
    "/api/v1/contracts/{number}",
    response_model=ContractOut,
    responses=ERRORS,
    summary="Read one of your contracts (scope `contracts`)",
)
async def get_contract(
    number: ContractNumber, principal: EspCaller, session: ReadSessionDep
) -> ContractOut:
    esp_organisation(principal)
    found = await service.get(session, principal, number)
    if found is None:
        raise NotFound(f"No contract {number}.")
    return contract_out(*found)


@router.post(
    "/api/v1/contracts/{number}/withdraw",
    response_model=ContractOut,
    responses=ERRORS,
    summary="Withdraw a pending application (scope `contracts`)",
)
async def withdraw_contract(
    request: Request,
    number: ContractNumber,
    principal: EspCaller,
    session: WriteSessionDep,
    body: OptionalReason | None = None,
) -> ContractOut:
    esp_organisation(principal)
    found = await service.transition(
        session, principal, number, Transition.withdraw, body.reason if body else None
    )
    return contract_out(*found)


@router.get(
    "/api/v1/contracts/{number}/subscription-key",
    response_model=SubscriptionKeyOut,
    responses=ERRORS,
    summary="The `Ocp-Apim-Subscription-Key` of an approved `api` contract (scope `contracts`)",
)
async def get_subscription_key(
    number: ContractNumber, principal: EspCaller, session: ReadSessionDep
) -> SubscriptionKeyOut:
    esp_organisation(principal)
    found = await service.get(session, principal, number)
    key = await service.active_subscription_key(session, found[0].id) if found else None
    if found is None or key is None:
        raise NotFound(f"No subscription key for contract {number}.")
    return SubscriptionKeyOut(
        contract_number=number, subscription_key=key.key, created_at=key.created_at
    )


# --- operator side -------------------------------------------------------------------


@router.get(
    "/api/v1/operator/contracts",
    response_model=ContractPage,
    responses=ERRORS,
    tags=["operator"],
    summary="All contracts and applications, filtered by status (scope `operator:contracts`)",
)
async def operator_list_contracts(
    principal: OperatorCaller,
    session: ReadSessionDep,
    status: Annotated[list[ContractStatus] | None, Query()] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ContractPage:
    return await _page(session, principal, limit, cursor, status)


async def _decide(
    request: Request,
    session: WriteSessionDep,
    principal: Principal,
    number: str,
    action: Transition,
    reason: str | None,
) -> ContractOut:
    found = await service.transition(session, principal, number, action, reason)
    return contract_out(*found)


def _decision_endpoint(
    action: Transition, with_reason: bool
) -> Callable[..., Awaitable[ContractOut]]:
    if with_reason:

        async def decide_with_reason(
            request: Request,
            number: ContractNumber,
            body: Reason,
            principal: OperatorCaller,
            session: WriteSessionDep,
        ) -> ContractOut:
            return await _decide(request, session, principal, number, action, body.reason)

        return decide_with_reason

    async def decide(
        request: Request,
        number: ContractNumber,
        principal: OperatorCaller,
        session: WriteSessionDep,
        body: OptionalReason | None = None,
    ) -> ContractOut:
        return await _decide(
            request, session, principal, number, action, body.reason if body else None
        )

    return decide


for _action, _with_reason in (
    (Transition.approve, False),
    (Transition.resume, False),
    (Transition.reject, True),
    (Transition.suspend, True),
    (Transition.terminate, True),
):
    router.add_api_route(
        f"/api/v1/operator/contracts/{{number}}/{_action.value}",
        _decision_endpoint(_action, _with_reason),
        methods=["POST"],
        response_model=ContractOut,
        responses=ERRORS,
        tags=["operator"],
        summary=f"{_action.value.capitalize()} a contract (scope `operator:contracts`)"
        + (" with a reason" if _with_reason else ""),
        operation_id=f"operator_{_action.value}_contract",
    )
