"""The OAuth2 token endpoint and every kind of bad token (one test each)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Depends, FastAPI
from jose import jwt
from sqlalchemy import select

from datahub_api.audit.models import AuditRecord
from datahub_api.auth import keys, tokens
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.contracts.models import Channel

from ..support.parties import Esp, auth_headers, make_esp, make_machine_client, token
from ..support.waiting import room_in_one_window

TOKEN_URL = "/oauth2/v2.0/token"
# The token URL of the test settings (no public base URL: http://<host>:<port>).
CONFIGURED_TOKEN_URL = "http://127.0.0.1:8000/oauth2/v2.0/token"


@pytest.fixture
async def esp(app: FastAPI) -> Esp:
    return await make_esp(app, "ESP A")


@pytest.fixture
def data_route(app: FastAPI) -> str:
    """A route that needs a data scope, as the mandate and meter-data routes will."""
    router = APIRouter()

    @router.get("/test/needs-mandates-read")
    async def needs_mandates_read(
        principal: Annotated[Principal, Depends(require_scopes(Scope.mandates_read))],
    ) -> dict[str, str]:
        return {"subject": principal.subject}

    app.include_router(router)
    return "/test/needs-mandates-read"


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def audit_actions(app: FastAPI) -> list[AuditRecord]:
    async with app.state.database.read_sessions() as session:
        return list((await session.scalars(select(AuditRecord).order_by(AuditRecord.id))).all())


# --- getting a token -----------------------------------------------------------------


async def test_client_secret_post_gives_a_working_token(
    client: httpx.AsyncClient, esp: Esp, data_route: str
) -> None:
    response = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": esp.client_id,
            "client_secret": esp.client_secret,
            "scope": "api://0a1b2c3d-fluvius/.default",
        },
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) >= {"contracts", "mandates:read", "meter-data:read", "nps"}
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"]
    claims = jwt.get_unverified_claims(body["access_token"])
    assert {"iss", "aud", "sub", "exp", "iat", "jti", "scope"} <= set(claims)
    assert claims["sub"] == esp.client_id
    called = await client.get(data_route, headers=bearer(body["access_token"]))
    assert called.status_code == 200
    assert called.json() == {"subject": esp.client_id}


async def test_client_secret_basic_and_alias_path(client: httpx.AsyncClient, esp: Esp) -> None:
    basic = base64.b64encode(
        f"{quote(esp.client_id, safe='')}:{quote(esp.client_secret, safe='')}".encode()
    ).decode()
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    info = await client.get(
        "/api/v1/auth/token-info", headers=bearer(response.json()["access_token"])
    )
    assert info.json()["subject"] == esp.client_id
    assert info.json()["role"] == "esp"


async def test_the_token_verifies_with_the_published_jwks(
    client: httpx.AsyncClient, esp: Esp
) -> None:
    access = await token(client, esp.client_id, esp.client_secret)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(access)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    claims = jwt.decode(access, key, algorithms=["RS256"], audience="datahub-api")
    assert claims["sub"] == esp.client_id


async def test_asking_for_a_subset_of_scopes(client: httpx.AsyncClient, esp: Esp) -> None:
    response = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": esp.client_id,
            "client_secret": esp.client_secret,
            "scope": "mandates:read contracts",
        },
    )
    assert response.json()["scope"] == "contracts mandates:read"
    refused = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": esp.client_id,
            "client_secret": esp.client_secret,
            "scope": "operator:contracts",
        },
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "password", "client_id": "x", "client_secret": "y"},
            400,
            "unsupported_grant_type",
        ),
        ({"client_id": "x", "client_secret": "y"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "y"},
            401,
            "invalid_client",
        ),
    ],
)
async def test_token_endpoint_errors_follow_rfc_6749(
    client: httpx.AsyncClient, form: dict[str, str], status: int, error: str
) -> None:
    response = await client.post(TOKEN_URL, data=form)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "error_description"}


async def test_wrong_secret_is_invalid_client_and_audited(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp
) -> None:
    wrong = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": esp.client_id,
            "client_secret": "guess",
        },
    )
    unknown = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": str(uuid.uuid4()),
            "client_secret": "guess",
        },
    )
    # The same answer whether the client exists or not.
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_client",
            "error_description": "Client authentication failed.",
        }
    )
    refusals = [r for r in await audit_actions(app) if r.outcome == "refused"]
    assert any(r.actor == esp.client_id and "oauth2" in r.action for r in refusals)


async def test_rotated_secret_overlaps_then_expires(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp
) -> None:
    headers = await auth_headers(client, esp)
    rotated = await client.post(f"/api/v1/clients/{esp.client_id}/rotate-secret", headers=headers)
    assert rotated.status_code == 200
    new_secret = rotated.json()["client_secret"]
    assert rotated.json()["previous_secrets_valid_until"]
    assert await token(client, esp.client_id, new_secret)
    assert await token(client, esp.client_id, esp.client_secret)  # still inside the overlap

    app.state.settings = app.state.settings.model_copy(update={"client_secret_overlap_hours": 0})
    again = await client.post(f"/api/v1/clients/{esp.client_id}/rotate-secret", headers=headers)
    newest = again.json()["client_secret"]
    for old in (esp.client_secret, new_secret):
        refused = await client.post(
            TOKEN_URL,
            data={
                "grant_type": "client_credentials",
                "client_id": esp.client_id,
                "client_secret": old,
            },
        )
        assert refused.status_code == 401
    assert await token(client, esp.client_id, newest)


async def test_operator_and_head_end_clients_get_their_fixed_scopes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    operator = await make_machine_client(app, Role.operator)
    head_end = await make_machine_client(app, Role.head_end)
    operator_scopes = jwt.get_unverified_claims(
        await token(client, operator.client_id, operator.client_secret)
    )["scope"].split()
    head_end_scopes = jwt.get_unverified_claims(
        await token(client, head_end.client_id, head_end.client_secret)
    )["scope"].split()
    assert set(operator_scopes) == {
        "operator:contracts",
        "operator:access-points",
        "operator:audits",
        "sla:all",
    }
    assert head_end_scopes == ["meter-data:ingest"]


# --- private_key_jwt ------------------------------------------------------------------


def _certificate(private_key: rsa.RSAPrivateKey, days: int = 365) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "esp-backend")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(private_key, hashes.SHA256())
    )


@pytest.fixture
async def signing_client(client: httpx.AsyncClient, esp: Esp) -> tuple[Esp, str, str]:
    """An ESP client with a registered certificate: (esp, private key PEM, x5t)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = _certificate(private_key)
    headers = await auth_headers(client, esp)
    registered = await client.post(
        f"/api/v1/clients/{esp.client_id}/certificates",
        json={"certificate_pem": certificate.public_bytes(serialization.Encoding.PEM).decode()},
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return esp, pem, registered.json()["thumbprint"]


def assertion(
    client_id: str,
    pem: str,
    x5t: str,
    *,
    audience: str = CONFIGURED_TOKEN_URL,
    **over: Any,
) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    claims.update(over)
    return str(jwt.encode(claims, pem, algorithm="RS256", headers={"x5t": x5t}))


def assertion_form(client_id: str, signed: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
        "scope": "api://whatever/.default",
    }


async def test_private_key_jwt_gives_a_token_once_per_assertion(
    client: httpx.AsyncClient, signing_client: tuple[Esp, str, str]
) -> None:
    esp, pem, x5t = signing_client
    signed = assertion(esp.client_id, pem, x5t)
    first = await client.post(TOKEN_URL, data=assertion_form(esp.client_id, signed))
    assert first.status_code == 200, first.text
    replayed = await client.post(TOKEN_URL, data=assertion_form(esp.client_id, signed))
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "change",
    [
        {"audience": "https://login.example/other"},
        {"iss": "someone-else"},
        {"sub": "someone-else"},
        {"exp": -10},  # seconds from now, when the test runs
        {"exp": 3600},  # longer than assertions may live
    ],
    ids=["audience", "issuer", "subject", "expired", "too-long"],
)
async def test_private_key_jwt_refusals(
    client: httpx.AsyncClient, signing_client: tuple[Esp, str, str], change: dict[str, Any]
) -> None:
    esp, pem, x5t = signing_client
    if "exp" in change:
        change = {"exp": int(time.time()) + change["exp"]}
    signed = assertion(esp.client_id, pem, x5t, **change)
    response = await client.post(TOKEN_URL, data=assertion_form(esp.client_id, signed))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("audience", "headers"),
    [
        ("https://evil.example/oauth2/v2.0/token", {"Host": "evil.example"}),
        ("https://evil.example/oauth2/v2.0/token", {"X-Forwarded-Host": "evil.example"}),
        (
            "https://evil.example/oauth2/v2.0/token",
            {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        ),
        ("http://testserver/oauth2/v2.0/token", {}),  # the request's own Host
    ],
    ids=["host", "forwarded-host", "forwarded-host-and-proto", "request-host"],
)
async def test_private_key_jwt_audience_comes_from_configuration_not_the_request(
    client: httpx.AsyncClient,
    signing_client: tuple[Esp, str, str],
    audience: str,
    headers: dict[str, str],
) -> None:
    """An assertion minted for another authorization server is refused, whatever ``Host``
    or ``X-Forwarded-*`` it comes with; one for our configured token URL is accepted."""
    esp, pem, x5t = signing_client
    # Sent as that server's own URL (scheme and Host), as a proxy passing them on would.
    url = audience if "Host" in headers else TOKEN_URL
    foreign = assertion(esp.client_id, pem, x5t, audience=audience)
    refused = await client.post(url, data=assertion_form(esp.client_id, foreign), headers=headers)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    ours = assertion(esp.client_id, pem, x5t, audience=CONFIGURED_TOKEN_URL)
    accepted = await client.post(url, data=assertion_form(esp.client_id, ours), headers=headers)
    assert accepted.status_code == 200, accepted.text


async def test_private_key_jwt_accepts_the_configured_public_urls(
    app: FastAPI, client: httpx.AsyncClient, signing_client: tuple[Esp, str, str]
) -> None:
    """Behind a gateway: the public base URL's token paths, the configured token URL and the
    issuer count; the default (unconfigured) address no longer does."""
    app.state.settings = app.state.settings.model_copy(
        update={
            "public_base_url": "https://datahub.example",
            "token_url": "https://gateway.example/fluvius/oauth2/v2.0/token",
        }
    )
    esp, pem, x5t = signing_client
    for audience in (
        "https://gateway.example/fluvius/oauth2/v2.0/token",
        "https://datahub.example/oauth2/v2.0/token",
        "https://datahub.example/oauth2/token",
        "https://datahub.example",
    ):
        signed = assertion(esp.client_id, pem, x5t, audience=audience)
        answer = await client.post(TOKEN_URL, data=assertion_form(esp.client_id, signed))
        assert answer.status_code == 200, (audience, answer.text)
    stale = assertion(esp.client_id, pem, x5t, audience=CONFIGURED_TOKEN_URL)
    refused = await client.post(
        TOKEN_URL,
        data=assertion_form(esp.client_id, stale),
        headers={"Host": "127.0.0.1:8000"},
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


async def test_private_key_jwt_with_an_unregistered_certificate(
    client: httpx.AsyncClient, signing_client: tuple[Esp, str, str]
) -> None:
    esp, _, _ = signing_client
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    digest = _certificate(stranger).fingerprint(hashes.SHA1())
    x5t = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    response = await client.post(
        TOKEN_URL, data=assertion_form(esp.client_id, assertion(esp.client_id, pem, x5t))
    )
    assert response.status_code == 401


# --- bad access tokens: one test each -------------------------------------------------


def _claims(app: FastAPI, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": app.state.settings.token_issuer,
        "aud": tokens.AUDIENCE,
        "sub": "some-client",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "scope": "mandates:read",
        "role": "operator",
    }
    claims.update(over)
    return claims


def _signed(app: FastAPI, claims: dict[str, Any]) -> str:
    key = app.state.keys.keyring.current
    return str(
        jwt.encode(claims, key.private_pem.decode(), algorithm="RS256", headers={"kid": key.kid})
    )


async def _refused(client: httpx.AsyncClient, path: str, access: str) -> None:
    response = await client.get(path, headers=bearer(access))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "A valid access token is required."
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_well_formed_token_passes(
    app: FastAPI, client: httpx.AsyncClient, data_route: str
) -> None:
    response = await client.get(data_route, headers=bearer(_signed(app, _claims(app))))
    assert response.status_code == 200  # the control for the refusals below


def test_verified_tokens_are_remembered_until_they_expire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring = keys.Keyring.from_directory(tmp_path)
    issuer = "https://hub.example"

    def mint(**over: Any) -> str:
        fields: dict[str, Any] = {"lifetime_seconds": 300, "now": time.time(), **over}
        return tokens.mint(
            keyring, issuer=issuer, subject="c", role=Role.esp, scopes=["mandates:read"], **fields
        ).token

    checked: list[str] = []
    full_check = tokens._verify

    def counting(ring: keys.Keyring, token: str, *, issuer: str) -> Any:
        checked.append(token)
        return full_check(ring, token, issuer=issuer)

    monkeypatch.setattr(tokens, "_verify", counting)
    valid = mint()
    first = tokens.verify(keyring, valid, issuer=issuer)
    assert tokens.verify(keyring, valid, issuer=issuer) == first
    assert checked == [valid]  # the second time from memory
    with pytest.raises(tokens.InvalidToken):  # another issuer is checked, and refused
        tokens.verify(keyring, valid, issuer="https://other.example")
    # A remembered token past its expiry is checked again (and refused).
    expired = mint(now=time.time() - 4000, lifetime_seconds=60)
    keyring.verified[(expired, issuer)] = tokens._Verified(first, time.time() - 1)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(keyring, expired, issuer=issuer)
    assert (expired, issuer) not in keyring.verified
    # Bounded, oldest first out; a new keyring (keys rotated) remembers nothing.
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS_KEPT", 2)
    others = [mint(), mint()]
    for other in others:
        tokens.verify(keyring, other, issuer=issuer)
    assert [token for token, _ in keyring.verified] == others
    assert keys.Keyring(keyring.keys).verified == {}


async def test_expired_token(app: FastAPI, client: httpx.AsyncClient, data_route: str) -> None:
    past = int(time.time()) - 4000
    await _refused(
        client, data_route, _signed(app, _claims(app, iat=past, nbf=past, exp=past + 60))
    )


async def test_token_not_yet_valid(
    app: FastAPI, client: httpx.AsyncClient, data_route: str
) -> None:
    future = int(time.time()) + 3600
    await _refused(
        client, data_route, _signed(app, _claims(app, iat=future, nbf=future, exp=future + 60))
    )


async def test_token_signed_by_an_unknown_key(
    app: FastAPI, client: httpx.AsyncClient, data_route: str, tmp_path: Any
) -> None:
    stranger = keys.Keyring.from_directory(tmp_path / "other-keys").current
    forged = jwt.encode(
        _claims(app),
        stranger.private_pem.decode(),
        algorithm="RS256",
        headers={"kid": stranger.kid},
    )
    await _refused(client, data_route, forged)


async def test_token_with_a_known_kid_but_another_signature(
    app: FastAPI, client: httpx.AsyncClient, data_route: str, tmp_path: Any
) -> None:
    stranger = keys.Keyring.from_directory(tmp_path / "other-keys").current
    kid = app.state.keys.keyring.current.kid
    forged = jwt.encode(
        _claims(app), stranger.private_pem.decode(), algorithm="RS256", headers={"kid": kid}
    )
    await _refused(client, data_route, forged)


async def test_alg_none(app: FastAPI, client: httpx.AsyncClient, data_route: str) -> None:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    kid = app.state.keys.keyring.current.kid
    unsigned = f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(_claims(app))}."
    await _refused(client, data_route, unsigned)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_hmac_signed_with_the_public_key(
    app: FastAPI, client: httpx.AsyncClient, data_route: str
) -> None:
    # The classic key-confusion attack: HS256 keyed with the published public key (jose
    # refuses to make such a token, so it is made by hand).
    import hashlib
    import hmac

    key = app.state.keys.keyring.current
    signing_input = (
        _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
        + "."
        + _b64(json.dumps(_claims(app)).encode())
    )
    signature = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    await _refused(client, data_route, f"{signing_input}.{_b64(signature)}")


async def test_token_for_another_audience(
    app: FastAPI, client: httpx.AsyncClient, data_route: str
) -> None:
    await _refused(client, data_route, _signed(app, _claims(app, aud="some-other-api")))


async def test_token_from_another_issuer(
    app: FastAPI, client: httpx.AsyncClient, data_route: str
) -> None:
    await _refused(client, data_route, _signed(app, _claims(app, iss="https://evil.example")))


async def test_garbage_token(client: httpx.AsyncClient, data_route: str) -> None:
    await _refused(client, data_route, "not.a.jwt")


async def test_no_token_at_all(client: httpx.AsyncClient, data_route: str) -> None:
    response = await client.get(data_route)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_of_a_revoked_client(
    client: httpx.AsyncClient, esp: Esp, data_route: str
) -> None:
    access = await token(client, esp.client_id, esp.client_secret)
    assert (await client.get(data_route, headers=bearer(access))).status_code == 200
    revoked = await client.post(f"/api/v1/clients/{esp.client_id}/revoke", headers=bearer(access))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    await _refused(client, data_route, access)
    again = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": esp.client_id,
            "client_secret": esp.client_secret,
        },
    )
    assert again.status_code == 401


async def test_token_of_a_terminated_contract_loses_its_scopes(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp, data_route: str
) -> None:
    access = await token(client, esp.client_id, esp.client_secret)
    assert (await client.get(data_route, headers=bearer(access))).status_code == 200
    operator = await make_machine_client(app, Role.operator)
    operator_headers = await auth_headers(client, operator)
    terminated = await client.post(
        f"/api/v1/operator/contracts/{esp.contract_number}/terminate",
        json={"reason": "contract ended by the DSO"},
        headers=operator_headers,
    )
    assert terminated.status_code == 200
    # The very next use of the same token: the data scope is gone.
    refused = await client.get(data_route, headers=bearer(access))
    assert refused.status_code == 403
    assert "mandates:read" in refused.json()["detail"]
    info = await client.get("/api/v1/auth/token-info", headers=bearer(access))
    assert info.json()["scopes"] == ["contracts"]


async def test_grants_cache_follows_changes_made_by_another_process(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp, data_route: str
) -> None:
    """A change committed elsewhere (the CLI, another API process) reaches this process's
    cache through PostgreSQL NOTIFY, without a restart."""
    import asyncio

    from datahub_api.auth import repository as auth_repository
    from datahub_api.auth import service as auth_service
    from datahub_api.db import create_database

    access = await token(client, esp.client_id, esp.client_secret)
    assert (await client.get(data_route, headers=bearer(access))).status_code == 200
    other_process = create_database(app.state.database.url, app.state.settings)
    try:
        async with other_process.write_sessions() as session:
            found = await auth_repository.get_client_for_authentication(session, esp.client_id)
            assert found is not None
            await auth_service.revoke_client(session, found, actor="test")
            await session.commit()
    finally:
        await other_process.dispose()
    for _ in range(100):
        if (await client.get(data_route, headers=bearer(access))).status_code == 401:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the revocation never reached this process's cache")


async def test_contract_scopes_follow_the_channels(app: FastAPI, client: httpx.AsyncClient) -> None:
    portal_only = await make_esp(app, "Portal ESP", channels=[Channel.portal])
    scopes = jwt.get_unverified_claims(
        await token(client, portal_only.client_id, portal_only.client_secret)
    )["scope"].split()
    assert sorted(scopes) == ["consents", "contracts"]
    pending = await make_esp(app, "Pending ESP", approve=False)
    scopes = jwt.get_unverified_claims(
        await token(client, pending.client_id, pending.client_secret)
    )["scope"].split()
    assert scopes == ["contracts"]


async def test_rate_limit_answers_429_with_headers(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp
) -> None:
    from datahub_api.auth.rate_limit import ClientRateLimiter

    app.state.rate_limiter = ClientRateLimiter(3, 10, app.state.throttle_storage)
    headers = await auth_headers(client, esp)
    await room_in_one_window(10, needed=3)
    answers = [await client.get("/api/v1/auth/token-info", headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"default";q=3;w=10'
    assert answers[0].headers["ratelimit"].startswith('"default";r=2;t=')
    limited = answers[-1]
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.headers["ratelimit"].startswith('"default";r=0;')


async def test_keys_rotate_keeps_old_tokens_valid(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp
) -> None:
    before = await token(client, esp.client_id, esp.client_secret)
    old_kid = jwt.get_unverified_header(before)["kid"]
    await app.state.keys.source.rotate(keys.retention_seconds(app.state.settings))
    app.state.keys._checked = 0  # skip the once-a-second check interval
    after = await token(client, esp.client_id, esp.client_secret)
    assert jwt.get_unverified_header(after)["kid"] != old_kid
    published = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert old_kid in published
    for access in (before, after):
        assert (
            await client.get("/api/v1/auth/token-info", headers=bearer(access))
        ).status_code == 200


# --- the grants cache behind a fresh token ----------------------------------------------


async def test_a_token_newer_than_the_grants_cache_is_checked_against_the_database(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp, data_route: str
) -> None:
    """Another process approved the contract and issued the token before this process
    heard of it: the token is not refused on the stale cache (CI once saw a 401 here)."""
    grants = app.state.access_grants
    fresh = await token(client, esp.client_id, esp.client_secret)
    grants.organisation_scopes = {}  # as read before the contract was approved
    grants.loaded_at = time.time() - 60
    response = await client.get(data_route, headers=bearer(fresh))
    assert response.status_code == 200, response.text
    assert esp.organisation_id in grants.organisation_scopes


async def test_a_token_older_than_the_grants_cache_is_refused_without_a_reload(
    app: FastAPI, client: httpx.AsyncClient, esp: Esp, data_route: str
) -> None:
    grants = app.state.access_grants
    issued = await token(client, esp.client_id, esp.client_secret)
    await grants.reload()
    grants.organisation_scopes = {}  # as if the organisation were suspended since
    reloads = 0
    real_reload = grants._reload

    async def counting_reload() -> None:
        nonlocal reloads
        reloads += 1
        await real_reload()

    grants._reload = counting_reload
    grants.loaded_at = time.time() + 5  # a snapshot read after the token was issued
    for _ in range(3):
        response = await client.get(data_route, headers=bearer(issued))
        assert response.status_code == 401
    assert reloads == 0
