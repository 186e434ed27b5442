"""Logging people in: password check, brute-force throttle, sessions, and the principal a
session stands for."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from limits.aio.storage import Storage

from datahub_api.accounts import repository
from datahub_api.accounts.models import Account, AccountRole, LoginSession
from datahub_api.accounts.passwords import hash_password, verify_password
from datahub_api.auth.principal import ESP_SCOPES, OPERATOR_SCOPES, PERSON_SCOPES, Principal, Role
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import Unauthorized
from datahub_api.throttles.service import FailureThrottle

SESSION_COOKIE = "datahub_session"
# Compared against when the username is unknown, so both answers take as long.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))

ROLE_OF_ACCOUNT = {
    AccountRole.esp_user: Role.esp,
    AccountRole.customer: Role.customer,
    AccountRole.grid_user: Role.grid_user,
    AccountRole.operator: Role.operator,
}
SCOPES_OF_ROLE = {
    Role.esp: ESP_SCOPES,
    Role.operator: OPERATOR_SCOPES,
    Role.customer: PERSON_SCOPES,
    Role.grid_user: PERSON_SCOPES,
}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """Failed logins per username and per client address, with backoff (see
    :class:`~datahub_api.throttles.service.FailureThrottle`), and a ceiling per address."""

    def __init__(
        self,
        storage: Storage,
        *,
        free_failures: int,
        max_wait_seconds: int,
        failures_per_address_per_hour: int,
    ) -> None:
        self.throttle = FailureThrottle(
            storage,
            "login",
            free_failures=free_failures,
            max_wait_seconds=max_wait_seconds,
            ceiling_per_hour=failures_per_address_per_hour,
            message="Too many failed logins; try again later.",
        )

    @staticmethod
    def _keys(username: str, address: str) -> list[str]:
        return [f"user:{username.lower()}", f"addr:{address}"]

    async def check(self, username: str, address: str) -> None:
        await self.throttle.check(self._keys(username, address), address)

    async def failed(self, username: str, address: str) -> None:
        await self.throttle.failed(self._keys(username, address), address)

    async def succeeded(self, username: str, address: str) -> None:
        await self.throttle.succeeded(self._keys(username, address))


@dataclass(frozen=True)
class NewLogin:
    account: Account
    token: str
    csrf_token: str
    expires_at: datetime


WRONG_CREDENTIALS = "Wrong username or password."

# --- the rules of a new account's credentials ------------------------------------------------

MIN_PASSWORD_LENGTH = 12
USERNAME_LENGTHS = (3, 150)


def credential_problems(username: str, password: str) -> list[str]:
    """The fields of a new account that break the rules, in form order: ``username`` (3 to
    150 printable characters, outer spaces not counted) and ``password`` (at least
    :data:`MIN_PASSWORD_LENGTH` characters). Every face that creates an account asks here."""
    problems = []
    name = username.strip()
    shortest, longest = USERNAME_LENGTHS
    if not (shortest <= len(name) <= longest) or not name.isprintable():
        problems.append("username")
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append("password")
    return problems


async def log_in(
    session: WriteSession,
    throttle: LoginThrottle,
    *,
    username: str,
    password: str,
    address: str,
    lifetime: timedelta,
) -> NewLogin:
    """One message for an unknown user and a wrong password. While the username or the
    address is closed by backoff the password is not even tried (429)."""
    await throttle.check(username, address)
    account = await repository.get_by_username(session, username)
    valid = verify_password(account.password_hash if account else _DUMMY_HASH, password)
    if account is None or not valid or not account.active:
        await throttle.failed(username, address)
        raise Unauthorized(WRONG_CREDENTIALS)
    await throttle.succeeded(username, address)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + lifetime
    repository.add(
        session,
        LoginSession(
            token_sha256=token_digest(token),
            account_id=account.id,
            csrf_token=csrf,
            expires_at=expires,
        ),
    )
    await session.flush()
    return NewLogin(account=account, token=token, csrf_token=csrf, expires_at=expires)


async def get_account(session: ReadSession, account_id: int) -> Account | None:
    return await repository.get(session, account_id)


async def log_out(session: WriteSession, token: str) -> None:
    await repository.end_session(session, token_digest(token))


def principal_for(account: Account, login: LoginSession) -> Principal:
    role = ROLE_OF_ACCOUNT[account.role]
    return Principal(
        subject=f"user:{account.id}",
        role=role,
        scopes=SCOPES_OF_ROLE[role],
        organisation_id=account.organisation_id,
        user_id=account.id,
        csrf_token=login.csrf_token,
    )


async def principal_from_cookie(session: ReadSession, token: str) -> Principal | None:
    found = await repository.live_session(session, token_digest(token), datetime.now(UTC))
    if found is None:
        return None
    login, account = found
    return principal_for(account, login)
