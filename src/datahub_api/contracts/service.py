"""The rules of data-access contracts: application, the operator's decisions, and what
an approved contract grants."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo

from datahub_api.audit.service import record_action
from datahub_api.auth import repository as auth_repository
from datahub_api.auth.models import SubscriptionKey
from datahub_api.auth.principal import Principal, Role
from datahub_api.contracts import repository
from datahub_api.contracts.models import (
    Channel,
    ContractStatus,
    ContractStatusChange,
    DataAccessContract,
)
from datahub_api.contracts.schemas import ContractApplication
from datahub_api.db import ReadSession, WriteSession, after_commit
from datahub_api.deps import reload_grants_after_commit
from datahub_api.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from datahub_api.mail import service as mail_service
from datahub_api.organisations.models import Organisation, OrganisationStatus

BRUSSELS = ZoneInfo("Europe/Brussels")


class Transition(StrEnum):
    withdraw = "withdraw"
    approve = "approve"
    reject = "reject"
    suspend = "suspend"
    resume = "resume"
    terminate = "terminate"


# transition -> (statuses it starts from, status it leads to, reason required, who)
TRANSITIONS: dict[Transition, tuple[frozenset[ContractStatus], ContractStatus, bool, Role]] = {
    Transition.withdraw: (
        frozenset({ContractStatus.requested}),
        ContractStatus.withdrawn,
        False,
        Role.esp,
    ),
    Transition.approve: (
        frozenset({ContractStatus.requested}),
        ContractStatus.approved,
        False,
        Role.operator,
    ),
    Transition.reject: (
        frozenset({ContractStatus.requested}),
        ContractStatus.rejected,
        True,
        Role.operator,
    ),
    Transition.suspend: (
        frozenset({ContractStatus.approved}),
        ContractStatus.suspended,
        True,
        Role.operator,
    ),
    Transition.resume: (
        frozenset({ContractStatus.suspended}),
        ContractStatus.approved,
        False,
        Role.operator,
    ),
    Transition.terminate: (
        frozenset({ContractStatus.approved, ContractStatus.suspended}),
        ContractStatus.terminated,
        True,
        Role.operator,
    ),
}


def today_in_brussels() -> date:
    from datetime import datetime

    return datetime.now(BRUSSELS).date()


async def _new_number(session: WriteSession) -> str:
    for _ in range(20):
        number = str(1_000_000_000 + secrets.randbelow(9_000_000_000))
        if not await repository.number_taken(session, number):
            return number
    raise RuntimeError("could not find a free contract number")


def _record(
    session: WriteSession,
    contract: DataAccessContract,
    from_status: ContractStatus | None,
    to_status: ContractStatus,
    actor: str,
    reason: str | None,
) -> None:
    change = ContractStatusChange(
        contract_id=contract.id,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        actor=actor,
        reason=reason,
    )
    repository.add_status_change(session, change)


async def apply(
    session: WriteSession,
    organisation: Organisation,
    application: ContractApplication,
    actor: Principal | str,
    *,
    number: str | None = None,
) -> DataAccessContract:
    """Apply for a contract on behalf of ``organisation`` (audited as ``contract.apply``)."""
    if organisation.status is not OrganisationStatus.active:
        raise Forbidden("The organisation is not active.")
    channels = [channel.value for channel in application.channels]
    covering = await repository.covering(session, organisation.id, channels)
    if covering:
        taken = sorted(set(channels) & {c for contract in covering for c in contract.channels})
        raise Conflict(
            f"Channel(s) {', '.join(taken)} are already covered by contract "
            f"{covering[0].number} ({covering[0].status.value}).",
            extra={"contract_number": covering[0].number},
        )
    contract = DataAccessContract(
        number=number or await _new_number(session),
        organisation_id=organisation.id,
        channels=channels,
        status=ContractStatus.requested,
        valid_from=application.valid_from or today_in_brussels(),
        valid_to=application.valid_to,
    )
    repository.add(session, contract)
    await session.flush()
    subject = actor.subject if isinstance(actor, Principal) else actor
    _record(session, contract, None, ContractStatus.requested, subject, None)
    record_action(session, actor=actor, action="contract.apply", target=contract.number)
    await session.flush()
    return contract


async def transition(
    session: WriteSession,
    principal: Principal,
    number: str,
    action: Transition,
    reason: str | None,
    *,
    actor: str | None = None,
    subscription_key: str | None = None,
) -> tuple[DataAccessContract, Organisation]:
    """Move a contract; refuse what its lifecycle does not allow (409) or the caller may
    not do (403). ``actor`` overrides the principal's subject in the history (CLI use).
    Audited as ``contract.<action>`` with the reason."""
    sources, target, needs_reason, allowed_role = TRANSITIONS[action]
    if principal.role is not allowed_role:
        raise Forbidden(f"Only an {allowed_role.value} may {action.value} a contract.")
    found = await repository.get(session, principal, number, for_update=True)
    if found is None:
        raise NotFound(f"No contract {number}.")
    contract = found[0]
    if contract.status not in sources:
        raise Conflict(
            f"A {contract.status.value} contract cannot be {action.value}d "
            f"(only from {', '.join(sorted(s.value for s in sources))})."
        )
    if needs_reason and not (reason and reason.strip()):
        raise UnprocessableContent(f"A reason is required to {action.value} a contract.")
    previous = contract.status
    await repository.set_status(session, contract, target)
    _record(session, contract, previous, target, actor or principal.subject, reason)
    record_action(
        session,
        actor=principal,
        action=f"contract.{action.value}",
        target=number,
        detail={"reason": reason} if reason else None,
    )
    if action is Transition.approve and Channel.api in contract.channels:
        await auth_repository.issue_subscription_key(session, contract, subscription_key)
    if target is ContractStatus.terminated:
        await auth_repository.revoke_subscription_keys(session, contract.id)
    if target in (ContractStatus.approved, ContractStatus.rejected):
        mail_service.add(
            session,
            organisation_id=contract.organisation_id,
            kind=f"contract_{target.value}",
            payload={"number": contract.number, "reason": reason},
        )
    await repository.notify_access_changed(session, contract.organisation_id)
    after_commit(session, reload_grants_after_commit)
    await session.flush()
    refreshed = await repository.get(session, principal, number)
    assert refreshed is not None
    return refreshed


async def get(
    session: ReadSession, principal: Principal, number: str
) -> tuple[DataAccessContract, Organisation] | None:
    """The contract with its organisation, if the principal may see it."""
    return await repository.get(session, principal, number)


async def page(
    session: ReadSession,
    principal: Principal,
    *,
    limit: int,
    after_id: int | None = None,
    statuses: Sequence[ContractStatus] | None = None,
    newest_first: bool = False,
) -> list[tuple[DataAccessContract, Organisation]]:
    """The contracts ``principal`` may see (of ``statuses`` when given), each with its
    organisation: in id order after ``after_id`` (the API's keyset), or the newest first
    (the portal's lists)."""
    return await repository.page(
        session,
        principal,
        after_id=after_id,
        limit=limit,
        statuses=statuses,
        newest_first=newest_first,
    )


async def active_subscription_key(session: ReadSession, contract_id: int) -> SubscriptionKey | None:
    """The contract's valid ``Ocp-Apim-Subscription-Key``, if it has one."""
    return await auth_repository.active_subscription_key(session, contract_id)


def validate_number(number: str) -> str:
    if not (len(number) == 10 and number.isdigit()):
        raise NotFound(f"No contract {number[:20]}.")
    return number


async def rotate_subscription_key(
    session: WriteSession, principal: Principal, number: str
) -> SubscriptionKey:
    """A new ``Ocp-Apim-Subscription-Key`` for the caller's approved ``api`` contract; the
    old one stops working (once the grants reload, at commit)."""
    found = await repository.get(session, principal, number, for_update=True)
    if found is None:
        raise NotFound(f"No contract {number}.")
    contract = found[0]
    if contract.status is not ContractStatus.approved or Channel.api not in contract.channels:
        raise Conflict("Only an approved contract on channel api has a subscription key.")
    await auth_repository.revoke_subscription_keys(session, contract.id)
    key = await auth_repository.issue_subscription_key(session, contract)
    await repository.notify_access_changed(session, contract.organisation_id)
    after_commit(session, reload_grants_after_commit)
    record_action(
        session, actor=principal, action="contract.rotate_subscription_key", target=number
    )
    return key


# --- reads for the faces ----------------------------------------------------------------


async def subscription_keys(
    session: ReadSession, contracts: Sequence[DataAccessContract]
) -> dict[str, str]:
    """The valid subscription key of each approved API contract of ``contracts``, by
    contract number (a contract without one is left out)."""
    keys = {}
    for contract in contracts:
        if contract.status is ContractStatus.approved and Channel.api in contract.channels:
            key = await auth_repository.active_subscription_key(session, contract.id)
            if key is not None:
                keys[contract.number] = key.key
    return keys
