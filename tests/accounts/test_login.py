"""People log in with a session cookie: one message for unknown users and wrong passwords,
throttling, CSRF on unsafe calls, logout."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.accounts.models import AccountRole
from datahub_api.accounts.service import LoginThrottle

from ..support.parties import make_account


@pytest.fixture
async def customer(app: FastAPI) -> int:
    return await make_account(app, "an.peeters", "correct horse", AccountRole.customer)


async def test_login_sets_an_httponly_cookie_that_authenticates(
    client: httpx.AsyncClient, customer: int
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "An.Peeters", "password": "correct horse"}
    )
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert "datahub_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http in the test; set behind TLS
    me = await client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "an.peeters"
    assert me.json()["role"] == "customer"
    assert me.json()["csrf_token"] == response.json()["csrf_token"]


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient, customer: int
) -> None:
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": "an.peeters", "password": "nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "Wrong username or password."
    assert "set-cookie" not in wrong.headers


async def test_failed_logins_are_throttled(
    app: FastAPI, client: httpx.AsyncClient, customer: int
) -> None:
    app.state.login_throttle = LoginThrottle(
        app.state.throttle_storage,
        free_failures=3,
        max_wait_seconds=60,
        failures_per_address_per_hour=100,
    )
    for _ in range(3):
        failed = await client.post(
            "/api/v1/auth/login", json={"username": "an.peeters", "password": "x"}
        )
        assert failed.status_code == 401
    throttled = await client.post(
        "/api/v1/auth/login", json={"username": "an.peeters", "password": "correct horse"}
    )
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"]


async def test_unsafe_calls_with_the_cookie_need_the_csrf_token(
    client: httpx.AsyncClient, customer: int
) -> None:
    login = await client.post(
        "/api/v1/auth/login", json={"username": "an.peeters", "password": "correct horse"}
    )
    csrf = login.json()["csrf_token"]
    refused = await client.post("/api/v1/auth/logout")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Missing or wrong CSRF token."
    forged = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    # The old cookie value no longer works, even if a client kept it.
    client.cookies.set("datahub_session", login.cookies["datahub_session"])
    after = await client.get("/api/v1/auth/me")
    assert after.status_code == 401
    assert after.json()["detail"] == "Your session has ended; log in again."


async def test_a_customer_session_cannot_use_esp_or_operator_routes(
    client: httpx.AsyncClient, customer: int
) -> None:
    await client.post(
        "/api/v1/auth/login", json={"username": "an.peeters", "password": "correct horse"}
    )
    assert (await client.get("/api/v1/contracts")).status_code == 403
    assert (await client.get("/api/v1/operator/contracts")).status_code == 403
    assert (await client.get("/api/v1/access-points")).status_code == 403


async def test_a_nul_character_is_a_clear_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "a\u0000b", "password": "x"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
