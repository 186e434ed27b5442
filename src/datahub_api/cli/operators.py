"""Operator commands for a DSO without the portal: organisations, contracts, clients, keys.

Every command runs the same services as the API, as the operator ``cli:<user>``, and
writes the same audit records.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from datahub_api.auth import keys
from datahub_api.auth import service as auth_service
from datahub_api.auth.principal import OPERATOR_SCOPES, Principal, Role
from datahub_api.cli.support import clear_errors, fail, open_database
from datahub_api.contracts import service as contracts_service
from datahub_api.db import WriteSession, create_database
from datahub_api.errors import NotFound
from datahub_api.organisations import enterprise_number
from datahub_api.organisations import service as organisations_service
from datahub_api.organisations.schemas import OrganisationCreate
from datahub_api.settings import Settings, get_settings

organisations_cli = typer.Typer(help="ESP organisations.", no_args_is_help=True)
contracts_cli = typer.Typer(
    help="Data-access contracts: the operator's decisions.", no_args_is_help=True
)
clients_cli = typer.Typer(help="API clients (OAuth2 client credentials).", no_args_is_help=True)
keys_cli = typer.Typer(help="The keys that sign access tokens.", no_args_is_help=True)

T = TypeVar("T")


def cli_operator() -> Principal:
    return Principal(subject=f"cli:{getpass.getuser()}", role=Role.operator, scopes=OPERATOR_SCOPES)


def run_in_transaction(work: Callable[[WriteSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the service's database; commit when it returns."""
    settings = get_settings()
    with clear_errors():
        url, _ = open_database(settings)

        async def go() -> T:
            database = create_database(url, settings)
            try:
                async with database.write_sessions() as session:
                    result = await work(session)
                    await session.commit()
                    return result
            finally:
                await database.dispose()

        return asyncio.run(go())


def echo_json(value: dict[str, Any]) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


@organisations_cli.command("create")
def create_organisation(
    name: Annotated[str, typer.Option(help="The organisation's name.")],
    enterprise: Annotated[str, typer.Option("--enterprise-number", help="e.g. 0123.456.749")],
    email: Annotated[str, typer.Option(help="Contact e-mail.")],
    return_url: Annotated[
        list[str] | None, typer.Option(help="Allowed consent return-URL prefix (repeatable).")
    ] = None,
) -> None:
    """Register an ESP organisation."""
    from pydantic import ValidationError

    try:
        body = OrganisationCreate(
            name=name,
            enterprise_number=enterprise,
            contact_email=email,
            return_url_prefixes=return_url or [],
        )
    except ValidationError as exc:
        fail(str(exc.errors()[0]["msg"]), 2)
    operator = cli_operator()

    async def work(session: WriteSession) -> dict[str, Any]:
        organisation = await organisations_service.create(session, body, actor=operator)
        return {"name": organisation.name, "enterprise_number": organisation.enterprise_number}

    echo_json(run_in_transaction(work))


def _organisation_status(change: Callable[[WriteSession], Awaitable[Any]]) -> None:
    async def work(session: WriteSession) -> dict[str, Any]:
        organisation, recorded = await change(session)
        return {
            "name": organisation.name,
            "enterprise_number": organisation.enterprise_number,
            "status": organisation.status.value,
            "by": recorded.actor,
            "at": recorded.at.isoformat(),
            "reason": recorded.reason,
        }

    echo_json(run_in_transaction(work))


@organisations_cli.command("suspend")
def suspend_organisation(
    number: Annotated[str, typer.Argument(help="Enterprise number, e.g. 0123.456.749.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the suspension, audited).")],
) -> None:
    """Suspend an active organisation: its clients and staff read and change nothing, on
    every face, until it is resumed."""
    if not reason.strip():
        fail("A reason is required to suspend an organisation.", 2)
    operator = cli_operator()
    _organisation_status(
        lambda session: organisations_service.suspend(session, operator, number, reason)
    )


@organisations_cli.command("resume")
def resume_organisation(
    number: Annotated[str, typer.Argument(help="Enterprise number, e.g. 0123.456.749.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept, audited).")] = None,
) -> None:
    """Lift an organisation's suspension."""
    operator = cli_operator()
    _organisation_status(
        lambda session: organisations_service.resume(session, operator, number, reason)
    )


def _decide(number: str, action: contracts_service.Transition, reason: str | None) -> None:
    operator = cli_operator()

    async def work(session: WriteSession) -> dict[str, Any]:
        contract, organisation = await contracts_service.transition(
            session, operator, contracts_service.validate_number(number), action, reason
        )
        result: dict[str, Any] = {
            "number": contract.number,
            "organisation": organisation.name,
            "status": contract.status.value,
        }
        key = await contracts_service.active_subscription_key(session, contract.id)
        if key is not None:
            result["subscription_key"] = key.key
        return result

    echo_json(run_in_transaction(work))


@contracts_cli.command("approve")
def approve_contract(
    number: Annotated[str, typer.Argument(help="10-digit contract number.")],
) -> None:
    """Approve a contract application (issues the subscription key for `api`)."""
    _decide(number, contracts_service.Transition.approve, None)


@contracts_cli.command("reject")
def reject_contract(
    number: Annotated[str, typer.Argument(help="10-digit contract number.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")],
) -> None:
    """Reject a contract application."""
    _decide(number, contracts_service.Transition.reject, reason)


@contracts_cli.command("suspend")
def suspend_contract(number: str, reason: Annotated[str, typer.Option()]) -> None:
    """Suspend an approved contract."""
    _decide(number, contracts_service.Transition.suspend, reason)


@contracts_cli.command("terminate")
def terminate_contract(number: str, reason: Annotated[str, typer.Option()]) -> None:
    """Terminate a contract: its tokens lose its scopes at once."""
    _decide(number, contracts_service.Transition.terminate, reason)


@clients_cli.command("create")
def create_client(
    name: Annotated[str, typer.Option(help="What the client is.")],
    role: Annotated[Role, typer.Option(help="esp, operator or head_end.")] = Role.esp,
    organisation: Annotated[
        str | None, typer.Option(help="Enterprise number of the ESP (role esp).")
    ] = None,
) -> None:
    """Create an API client and print its secret (shown once)."""
    operator = cli_operator()
    number = None
    if role is Role.esp:
        if organisation is None:
            fail("an esp client needs --organisation ENTERPRISE_NUMBER", 2)
        try:
            number = enterprise_number.canonical(organisation)
        except enterprise_number.InvalidEnterpriseNumber as exc:
            fail(str(exc), 2)

    async def work(session: WriteSession) -> dict[str, Any]:
        organisation_id = None
        if number is not None:
            found = await organisations_service.get_by_enterprise_number(session, number)
            if found is None:
                raise NotFound(f"no organisation with enterprise number {number}")
            organisation_id = found.id
        created = await auth_service.create_client(
            session, name=name, role=role, organisation_id=organisation_id, actor=operator
        )
        return {
            "client_id": created.client.client_id,
            "client_secret": created.secret,
            "role": role.value,
        }

    echo_json(run_in_transaction(work))


async def _client(session: WriteSession, client_id: str) -> Any:
    client = await auth_service.get_visible_client(session, cli_operator(), client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    return client


@clients_cli.command("rotate-secret")
def rotate_client_secret(
    client_id: str,
    overlap_hours: Annotated[
        float | None, typer.Option(help="How long the old secret still works.")
    ] = None,
) -> None:
    """Give a client a new secret (printed once); the old one works for the overlap."""
    from datetime import timedelta

    settings: Settings = get_settings()
    overlap = timedelta(
        hours=settings.client_secret_overlap_hours if overlap_hours is None else overlap_hours
    )

    async def work(session: WriteSession) -> dict[str, Any]:
        rotated = await auth_service.rotate_secret(
            session, await _client(session, client_id), overlap, actor=cli_operator()
        )
        return {
            "client_id": client_id,
            "client_secret": rotated.secret,
            "previous_secrets_valid_until": rotated.secret_expires_at,
        }

    echo_json(run_in_transaction(work))


@clients_cli.command("revoke")
def revoke_client(client_id: str) -> None:
    """Revoke a client: its tokens stop working at once, in every process."""

    async def work(session: WriteSession) -> dict[str, Any]:
        await auth_service.revoke_client(
            session, await _client(session, client_id), actor=cli_operator()
        )
        return {"client_id": client_id, "revoked": True}

    echo_json(run_in_transaction(work))


def _with_database_keys(work: Callable[[keys.DatabaseKeys], Awaitable[T]]) -> T:
    """Run ``work`` on the keys in the service's database."""
    settings = get_settings()
    with clear_errors():
        url, _ = open_database(settings)

        async def go() -> T:
            database = create_database(url, settings)
            try:
                return await work(
                    keys.DatabaseKeys(database, keys.KeyCipher.from_settings(settings))
                )
            finally:
                await database.dispose()

        return asyncio.run(go())


@keys_cli.command("rotate")
def rotate_keys() -> None:
    """Make a new token-signing key; every node signs with it within a second. The older keys
    keep verifying until their tokens have expired (the token lifetime and two minutes), then
    a later rotation drops them."""
    settings = get_settings()
    retain = keys.retention_seconds(settings)
    if settings.signing_key_dir is not None:
        with clear_errors():
            new = keys.rotate_directory(settings.signing_key_dir, retain)
        echo_json({"kid": new.kid, "store": str(settings.signing_key_dir)})
        return

    async def work(store: keys.DatabaseKeys) -> dict[str, Any]:
        new = await store.rotate(retain)
        return {"kid": new.kid, "store": "database"}

    echo_json(_with_database_keys(work))


@keys_cli.command("list")
def list_keys() -> None:
    """The signing keys every node holds, newest (the one that signs) first."""
    settings = get_settings()

    async def work(store: keys.DatabaseKeys | keys.DirectoryKeys) -> dict[str, Any]:
        ring = keys.Keyring(await store.load())
        return {
            "signing": ring.current.kid,
            "keys": [key.kid for key in reversed(ring.keys)],
        }

    if settings.signing_key_dir is not None:
        with clear_errors():
            echo_json(asyncio.run(work(keys.DirectoryKeys(settings.signing_key_dir))))
    else:
        echo_json(_with_database_keys(work))


@keys_cli.command("new-encryption-key")
def new_encryption_key() -> None:
    """Print a new key for DATAHUB_KEY_ENCRYPTION_KEY (give every node the same one)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@keys_cli.command("reencrypt")
def reencrypt_keys() -> None:
    """Rewrite the stored signing keys under the first DATAHUB_KEY_ENCRYPTION_KEY (after
    listing a new key-encryption key first, before dropping the old one)."""

    async def work(store: keys.DatabaseKeys) -> dict[str, Any]:
        return {"reencrypted": await store.reencrypt()}

    echo_json(_with_database_keys(work))
