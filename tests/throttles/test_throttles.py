"""One budget per caller: session-cookie API calls are rate limited like bearer calls; bad
passwords and client secrets are slowed by backoff that never locks the right ones out for
good; a flood of failures grows an audit count, not the audit table; self-registration tells
no one which usernames exist and is throttled; X-Forwarded-For counts only from trusted
proxies."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from datahub_api.accounts.models import AccountRole
from datahub_api.accounts.service import LoginThrottle
from datahub_api.app import create_app
from datahub_api.audit.models import AuditRecord
from datahub_api.auth.rate_limit import ClientRateLimiter
from datahub_api.client_address import TrustedProxies, resolve
from datahub_api.throttles.service import AttemptCeiling, FailureThrottle

from ..support.consent_world import field
from ..support.environment import make_settings
from ..support.parties import Esp, make_account, make_esp
from ..support.waiting import room_in_one_window

LOGIN = "/api/v1/auth/login"
TOKEN = "/oauth2/v2.0/token"


def login_throttle(app: FastAPI, *, free: int, max_wait: int, ceiling: int) -> LoginThrottle:
    return LoginThrottle(
        app.state.throttle_storage,
        free_failures=free,
        max_wait_seconds=max_wait,
        failures_per_address_per_hour=ceiling,
    )


async def login(
    client: httpx.AsyncClient, username: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(
        LOGIN, json={"username": username, "password": password}, headers=headers
    )


async def refusals(app: FastAPI, action: str) -> list[AuditRecord]:
    async with app.state.database.read_sessions() as session:
        query = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
        return list((await session.scalars(query)).all())


# --- rate limits -------------------------------------------------------------------------


async def test_api_calls_with_a_session_cookie_spend_a_rate_budget(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await make_account(app, "an.peeters", "correct horse", AccountRole.customer)
    app.state.rate_limiter = ClientRateLimiter(3, 60, app.state.throttle_storage)
    assert (await login(client, "an.peeters", "correct horse")).status_code == 200
    await room_in_one_window(60, needed=5)
    answers = [await client.get("/api/v1/auth/me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert answers[-1].headers["content-type"] == "application/problem+json"


# --- logins ------------------------------------------------------------------------------


async def test_bad_passwords_slow_down_but_never_lock_the_right_one_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await make_account(app, "an.peeters", "correct horse", AccountRole.customer)
    app.state.login_throttle = login_throttle(app, free=2, max_wait=2, ceiling=1000)
    assert [(await login(client, "an.peeters", "x")).status_code for _ in range(2)] == [401, 401]
    closed_at = time.monotonic()
    closed = await login(client, "an.peeters", "correct horse")
    assert closed.status_code == 429
    assert closed.headers["retry-after"] == "1"
    # While closed, attempts are not tried: they neither count nor tell anything (asked
    # while the second lasts: on a stalled machine a later one would be tried and count).
    for _ in range(5):
        if time.monotonic() - closed_at > 0.7:
            break
        assert (await login(client, "an.peeters", "y")).status_code == 429
    await asyncio.sleep(1.1)
    assert (await login(client, "an.peeters", "correct horse")).status_code == 200

    # A long stream of wrong guesses: each closes the username a little longer, never
    # longer than the cap, and after the wait the right password works.
    waits = []
    for _ in range(5):
        assert (await login(client, "an.peeters", "wrong")).status_code == 401
        refused = await login(client, "an.peeters", "correct horse")
        if refused.status_code == 200:  # the wait was over before we asked again
            waits.append(0)
            continue
        assert refused.status_code == 429
        waits.append(int(refused.headers["retry-after"]))
        await asyncio.sleep(waits[-1] + 0.1)
    assert max(waits) <= 2
    await asyncio.sleep(2.1)
    assert (await login(client, "an.peeters", "correct horse")).status_code == 200


async def test_one_address_has_a_ceiling_over_all_usernames(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.login_throttle = login_throttle(app, free=100, max_wait=60, ceiling=3)
    for n in range(3):
        assert (await login(client, f"user{n}", "guess")).status_code == 401
    over = await login(client, "user99", "guess")
    assert over.status_code == 429
    assert 3000 < int(over.headers["retry-after"]) <= 3600


async def test_forwarded_for_from_an_untrusted_peer_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Default: no trusted proxy. A guesser who writes a fresh X-Forwarded-For for every
    guess is still one address, and the audit trail shows the real peer."""
    app.state.login_throttle = login_throttle(app, free=100, max_wait=60, ceiling=3)
    for n in range(3):
        answer = await login(client, f"user{n}", "guess", forwarded_for=f"198.51.100.{n}")
        assert answer.status_code == 401
    assert (await login(client, "user9", "guess", forwarded_for="198.51.100.9")).status_code == 429
    rows = await refusals(app, "POST /api/v1/auth/login")
    assert {row.client_ip for row in rows} == {"127.0.0.1"}


@pytest.fixture
async def proxied_app(clean_database: str) -> AsyncIterator[FastAPI]:
    """The app behind a chain of reverse proxies: 127.0.0.1 (the test client's address)
    and an inner one in 10.0.0.0/8."""
    settings = make_settings(trusted_proxies=["127.0.0.0/8", "10.0.0.0/8"])
    application = create_app(settings, database_url=clean_database)
    async with application.router.lifespan_context(application):
        yield application


async def test_forwarded_for_from_a_trusted_proxy_names_the_caller(
    proxied_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    proxied_app.state.login_throttle = login_throttle(proxied_app, free=100, max_wait=9, ceiling=2)
    transport = httpx.ASGITransport(app=proxied_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with caplog.at_level(logging.INFO, logger="datahub_api.access"):
            for n in range(2):
                answer = await login(client, f"u{n}", "x", forwarded_for="203.0.113.5, 10.0.0.1")
                assert answer.status_code == 401
            access_lines = [
                r.getMessage() for r in caplog.records if r.name == "datahub_api.access"
            ]
        over = await login(client, "u3", "x", forwarded_for="203.0.113.5")
        assert over.status_code == 429
        # Another caller behind the same proxy has a budget of its own.
        assert (await login(client, "u3", "x", forwarded_for="203.0.113.6")).status_code == 401
    rows = await refusals(proxied_app, "POST /api/v1/auth/login")
    assert {row.client_ip for row in rows} == {"203.0.113.5", "203.0.113.6"}
    assert len(access_lines) == 2
    assert all(line.startswith("203.0.113.5 ") for line in access_lines)


def test_the_client_address_rules() -> None:
    def scope(peer: str, *forwarded: str, proto: str | None = None) -> dict[str, object]:
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
        if proto:
            headers.append((b"x-forwarded-proto", proto.encode()))
        return {"type": "http", "client": (peer, 5000), "headers": headers}

    none = TrustedProxies([])
    proxies = TrustedProxies(["10.0.0.0/8", "192.0.2.1"])
    assert resolve(scope("10.0.0.1", "203.0.113.5"), none) == ("10.0.0.1", None)
    assert resolve(scope("192.0.2.1", "203.0.113.5", proto="https"), proxies) == (
        "203.0.113.5",
        "https",
    )
    # The right-most hop that is not a trusted proxy; what a caller wrote before it is not
    # believed.
    assert resolve(scope("10.0.0.1", "1.1.1.1, 203.0.113.5, 10.2.3.4"), proxies)[0] == (
        "203.0.113.5"
    )
    assert resolve(scope("10.0.0.1", "1.1.1.1", "203.0.113.7"), proxies)[0] == "203.0.113.7"
    assert resolve(scope("10.0.0.1", "garbage"), proxies)[0] == "10.0.0.1"
    assert resolve(scope("10.0.0.1"), proxies)[0] == "10.0.0.1"
    assert resolve(scope("203.0.113.9", "10.0.0.1", proto="https"), proxies) == (
        "203.0.113.9",
        None,
    )
    assert resolve({"type": "http", "headers": []}, proxies)[0] == "-"


# --- the token endpoint ------------------------------------------------------------------


async def failed_token(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def test_failed_client_authentication_is_slowed_per_client_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    esp: Esp = await make_esp(app, "Slowed ESP")
    app.state.token_throttle = FailureThrottle(
        app.state.throttle_storage, "token", free_failures=3, max_wait_seconds=1
    )
    for _ in range(3):
        assert (await failed_token(client, esp.client_id, "wrong")).status_code == 401
    closed = await failed_token(client, esp.client_id, esp.client_secret)
    assert closed.status_code == 429
    assert closed.headers["retry-after"] == "1"
    assert closed.json()["error"] == "invalid_request"
    await asyncio.sleep(1.1)
    assert (await failed_token(client, esp.client_id, esp.client_secret)).status_code == 200


async def test_a_flood_of_failed_client_authentications_grows_a_count_not_the_audit_table(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    esp = await make_esp(app, "Flooded ESP")
    app.state.token_throttle = FailureThrottle(
        app.state.throttle_storage,
        "token",
        free_failures=10_000,
        max_wait_seconds=1,
        ceiling_per_hour=42,
    )
    for _ in range(40):
        assert (await failed_token(client, esp.client_id, "wrong")).status_code == 401
    assert (await failed_token(client, "made-up", "wrong")).status_code == 401
    assert (await failed_token(client, "made-up-2", "wrong")).status_code == 401
    # The address's ceiling: new client ids do not buy new rows either.
    assert (await failed_token(client, "made-up-3", "wrong")).status_code == 429
    rows = await refusals(app, f"POST {TOKEN}")
    assert [(row.actor, row.detail["count"]) for row in rows] == [
        (esp.client_id, 40),
        ("made-up", 1),
        ("made-up-2", 1),
    ]
    assert all(row.client_ip == "127.0.0.1" and row.outcome == "refused" for row in rows)


async def test_failed_logins_are_tallied_in_the_audit_trail(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(5):
        assert (await login(client, "Nobody", "guess")).status_code == 401
    rows = await refusals(app, "POST /api/v1/auth/login")
    assert [(row.actor, row.detail["count"]) for row in rows] == [("-", 5)]
    assert rows[0].tally_key is not None
    assert rows[0].tally_key.startswith("login:nobody|127.0.0.1|")
    # A tally only counts up; the rest of the row is as append-only as any other.
    for change in (
        "SET actor = 'someone else'",
        "SET client_ip = '192.0.2.1'",
        "SET detail = jsonb_set(detail, '{count}', '1')",
        'SET detail = detail || \'{"reason": "rewritten", "count": 99}\'',
    ):
        async with app.state.database.write_sessions() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(f"UPDATE audit_records {change}"))
    async with app.state.database.write_sessions() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("DELETE FROM audit_records"))


# --- self-registration -------------------------------------------------------------------


def registration(name: str, number: str, username: str) -> dict[str, str]:
    return {
        "name": name,
        "enterprise_number": number,
        "contact_email": "data@example.org",
        "display_name": username,
        "username": username,
        "password": "a long enough password",
    }


async def register(client: httpx.AsyncClient, body: dict[str, str]) -> httpx.Response:
    form = await client.get("/portal/register")
    return await client.post(
        "/portal/register", data={**body, "csrf_token": field(form.text, "csrf_token")}
    )


async def test_registration_gives_one_answer_for_taken_and_free_usernames(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datahub_api.accounts.passwords import hash_password
    from datahub_api.organisations import service as organisations_service

    await make_account(app, "taken.name", "whatever password", AccountRole.customer)
    hashed: list[str] = []
    real_hash = hash_password

    def counting_hash(password: str) -> str:
        hashed.append(password)
        return real_hash(password)

    monkeypatch.setattr(organisations_service, "hash_password", counting_hash)
    free = await register(client, registration("Vrij BV", "0403.170.701", "free.name"))
    taken = await register(client, registration("Bezet BV", "0202.239.951", "taken.name"))
    assert free.status_code == taken.status_code == 201
    assert free.text == taken.text
    assert len(hashed) == 2  # the costly step is taken either way: the same timing class
    # Only the free name was registered; the taken one left an audit record for operators.
    assert (await login(client, "free.name", "a long enough password")).status_code == 200
    async with app.state.database.read_sessions() as session:
        actions = list(
            (
                await session.scalars(
                    select(AuditRecord.action)
                    .where(AuditRecord.action.startswith("organisation.register"))
                    .order_by(AuditRecord.id)
                )
            ).all()
        )
    assert actions == ["organisation.register", "organisation.register.taken"]


async def test_registration_is_throttled_per_address(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.registration_ceiling = AttemptCeiling(
        app.state.throttle_storage, "registration", 2, 3600, "slow down"
    )
    numbers = ["0403.170.701", "0202.239.951", "0417.497.106"]
    answers = [
        await register(client, registration(f"Org {n}", number, f"user.{n}"))
        for n, number in enumerate(numbers)
    ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[-1].headers["retry-after"]) > 3000


async def test_an_unreachable_redis_is_a_503_never_a_skipped_budget(clean_database: str) -> None:
    from ..support.environment import free_port

    settings = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    application = create_app(settings, database_url=clean_database)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answer = await login(client, "an.peeters", "correct horse")
            token = await failed_token(client, "some-client", "secret")
    assert answer.status_code == token.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.headers["content-type"] == "application/problem+json"


async def test_the_portal_login_is_throttled_alike_and_says_when_to_retry(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await make_account(app, "an.peeters", "correct horse", AccountRole.customer)
    app.state.login_throttle = login_throttle(app, free=2, max_wait=1, ceiling=1000)

    async def portal_login(password: str) -> httpx.Response:
        form = await client.get("/portal/login")
        return await client.post(
            "/portal/login",
            data={
                "username": "an.peeters",
                "password": password,
                "csrf_token": field(form.text, "csrf_token"),
            },
        )

    assert [(await portal_login("x")).status_code for _ in range(2)] == [401, 401]
    closed = await portal_login("correct horse")
    assert closed.status_code == 429
    assert closed.headers["retry-after"] == "1"
    await asyncio.sleep(1.1)
    assert (await portal_login("correct horse")).status_code == 303


def test_throttle_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from datahub_api.settings import Settings

    monkeypatch.setenv("DATAHUB_LOGIN_ATTEMPTS_PER_15_MINUTES", "7")  # the old name
    monkeypatch.setenv("DATAHUB_TRUSTED_PROXIES", '["10.0.0.0/8", " 192.0.2.1 "]')
    monkeypatch.setenv("DATAHUB_REDIS_URL", "")
    settings = Settings()
    assert settings.login_free_failures == 7
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]
    assert settings.redis_url is None
    monkeypatch.setenv("DATAHUB_TRUSTED_PROXIES", '["not-an-address"]')
    with pytest.raises(ValidationError, match="not-an-address"):
        Settings()
