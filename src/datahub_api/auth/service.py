"""API clients and the OAuth2 client-credentials grant.

Client authentication: ``client_secret_basic``, ``client_secret_post`` and
``private_key_jwt`` (RFC 7523, an RS256 assertion whose ``x5t`` header names a registered
certificate, as Fluvius's production clients send).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import JWTError, jwt

from datahub_api.audit.service import record_action
from datahub_api.auth import repository
from datahub_api.auth.keys import Keyring
from datahub_api.auth.models import ApiClient, ClientCertificate, ClientSecret
from datahub_api.auth.principal import HEAD_END_SCOPES, OPERATOR_SCOPES, Principal, Role
from datahub_api.auth.tokens import IssuedToken, mint
from datahub_api.contracts import repository as contracts_repository
from datahub_api.contracts.scopes import scopes_for_channels
from datahub_api.contracts.service import today_in_brussels
from datahub_api.db import ReadSession, WriteSession, after_commit
from datahub_api.deps import reload_grants_after_commit
from datahub_api.errors import Conflict, DatahubError, UnprocessableContent
from datahub_api.organisations import repository as organisations_repository
from datahub_api.organisations.models import OrganisationStatus

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_SECONDS = 600


class OAuthError(DatahubError):
    """An RFC 6749 section 5.2 error; rendered as ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400, **kwargs: object) -> None:
        super().__init__(description, **kwargs)  # type: ignore[arg-type]
        self.error = error
        self.status = status
        self.code = error
        self.title = error


async def get_visible_client(
    session: ReadSession, principal: Principal, client_id: str
) -> ApiClient | None:
    """The API client, if the principal may see it."""
    return await repository.get_visible_client(session, principal, client_id)


async def list_visible_clients(session: ReadSession, principal: Principal) -> list[ApiClient]:
    return await repository.list_visible_clients(session, principal)


def invalid_client(basic: bool = False) -> OAuthError:
    """One answer for every client-authentication failure: no hint which part was wrong."""
    return OAuthError(
        "invalid_client",
        "Client authentication failed.",
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="datahub-api"' if basic else "Bearer"},
    )


@dataclass(frozen=True)
class NewSecret:
    client: ApiClient
    secret: str
    secret_expires_at: datetime | None = None


def new_secret() -> str:
    """256 random bits, URL-safe characters only (no form-encoding surprises)."""
    return secrets.token_urlsafe(32)


def _secret_row(client: ApiClient, secret: str) -> ClientSecret:
    return ClientSecret(
        client_pk=client.id, secret_sha256=repository.sha256_hex(secret), hint=secret[:6]
    )


async def create_client(
    session: WriteSession,
    *,
    name: str,
    role: Role,
    organisation_id: int | None,
    fixed_scopes: list[str] | None = None,
    client_id: str | None = None,
    secret: str | None = None,
    actor: Principal | None = None,
) -> NewSecret:
    """``client_id`` and ``secret`` are generated unless given (the demo world gives them,
    so that it is the same for the same seed). Audited as ``client.create`` when done by
    someone (``actor``), on whichever face."""
    if role is Role.esp and organisation_id is None:
        raise UnprocessableContent("An ESP client belongs to an organisation.")
    if role is Role.operator:
        fixed_scopes = sorted(OPERATOR_SCOPES) if fixed_scopes is None else fixed_scopes
    elif role is Role.head_end:
        fixed_scopes = sorted(HEAD_END_SCOPES) if fixed_scopes is None else fixed_scopes
    elif role is not Role.esp:
        raise UnprocessableContent(f"Clients are for ESPs, operators and head-ends, not {role}.")
    client = ApiClient(
        client_id=client_id or str(uuid.uuid4()),
        name=name,
        role=role,
        organisation_id=organisation_id,
        fixed_scopes=fixed_scopes or [],
    )
    repository.add_client(session, client)
    await session.flush()
    secret = secret or new_secret()
    repository.add_secret(session, _secret_row(client, secret))
    await session.flush()
    if actor is not None:
        record_action(session, actor=actor, action="client.create", target=client.client_id)
    return NewSecret(client=client, secret=secret)


async def rotate_secret(
    session: WriteSession, client: ApiClient, overlap: timedelta, *, actor: Principal | str
) -> NewSecret:
    """A new secret; the old ones keep working for ``overlap`` so deployments can switch.
    Audited as ``client.rotate_secret``."""
    record_action(session, actor=actor, action="client.rotate_secret", target=client.client_id)
    old_until = datetime.now(UTC) + overlap
    await repository.expire_secrets(session, client.id, old_until)
    secret = new_secret()
    repository.add_secret(session, _secret_row(client, secret))
    await session.flush()
    return NewSecret(client=client, secret=secret, secret_expires_at=old_until)


async def revoke_client(
    session: WriteSession, client: ApiClient, *, actor: Principal | str
) -> None:
    """Audited as ``client.revoke``."""
    record_action(session, actor=actor, action="client.revoke", target=client.client_id)
    await repository.revoke_client(session, client.id)
    await contracts_repository.notify_access_changed(session, client.organisation_id)
    after_commit(session, reload_grants_after_commit)


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """base64url SHA-1 of the DER certificate: the JWS ``x5t`` value."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der, usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def register_certificate(
    session: WriteSession, client: ApiClient, certificate_pem: str, *, actor: Principal | str
) -> ClientCertificate:
    """A certificate for ``private_key_jwt``; audited as ``client.add_certificate``."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        raise UnprocessableContent("certificate_pem is not a PEM X.509 certificate.") from None
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise UnprocessableContent("Only RSA certificates are supported (RS256 assertions).")
    not_after = certificate.not_valid_after_utc
    if not_after <= datetime.now(UTC):
        raise UnprocessableContent("The certificate has expired.")
    thumbprint = certificate_thumbprint(certificate)
    if await repository.get_client_by_certificate(session, thumbprint) is not None:
        raise Conflict("This certificate is already registered.")
    row = ClientCertificate(
        client_pk=client.id,
        thumbprint=thumbprint,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        not_after=not_after,
    )
    repository.add_certificate(session, row)
    await session.flush()
    record_action(session, actor=actor, action="client.add_certificate", target=client.client_id)
    return row


async def authenticate_with_secret(
    session: ReadSession, client_id: str, secret: str, *, basic: bool
) -> ApiClient:
    client = await repository.get_client_for_authentication(session, client_id)
    if client is None:
        raise invalid_client(basic)
    digest = repository.sha256_hex(secret)
    now = datetime.now(UTC)
    for stored in client.secrets:
        if secrets.compare_digest(stored.secret_sha256, digest) and (
            stored.expires_at is None or stored.expires_at > now
        ):
            return client
    raise invalid_client(basic)


async def authenticate_with_assertion(
    session: WriteSession, assertion: str, client_id: str | None, accepted_audiences: set[str]
) -> ApiClient:
    try:
        header = jwt.get_unverified_header(assertion)
    except JWTError:
        raise invalid_client() from None
    thumbprint = header.get("x5t")
    if header.get("alg") != "RS256" or not isinstance(thumbprint, str):
        raise invalid_client()
    client = await repository.get_client_by_certificate(session, thumbprint)
    if client is None or (client_id is not None and client.client_id != client_id):
        raise invalid_client()
    now = datetime.now(UTC)
    certificate = next(
        (
            c
            for c in client.certificates
            if c.thumbprint == thumbprint and c.revoked_at is None and c.not_after > now
        ),
        None,
    )
    if certificate is None:
        raise invalid_client()
    public_key = x509.load_pem_x509_certificate(certificate.certificate_pem.encode()).public_key()
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    try:
        claims = jwt.decode(
            assertion,
            public_pem,
            algorithms=["RS256"],
            options={"verify_aud": False, "require_exp": True, "require_jti": True},
        )
    except JWTError:
        raise invalid_client() from None
    audiences = claims.get("aud")
    audience_list = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise invalid_client()
    if not accepted_audiences.intersection(audience_list):
        raise invalid_client()
    expires = int(claims["exp"])
    if expires - time.time() > MAX_ASSERTION_LIFETIME_SECONDS:
        raise invalid_client()
    fresh = await repository.remember_assertion(
        session, client.client_id, str(claims["jti"]), datetime.fromtimestamp(expires, UTC)
    )
    if not fresh:
        raise invalid_client()
    return client


async def granted_scopes(session: ReadSession, client: ApiClient) -> frozenset[str]:
    """What the client may ask for now: its fixed scopes, or for an ESP client what the
    organisation's approved contracts grant today."""
    if client.role is not Role.esp:
        return frozenset(client.fixed_scopes)
    assert client.organisation_id is not None
    organisation = await organisations_repository.get(session, client.organisation_id)
    if organisation is None or organisation.status is not OrganisationStatus.active:
        return frozenset()
    channels = await contracts_repository.active_channels_by_organisation(
        session, today_in_brussels()
    )
    return scopes_for_channels(channels.get(client.organisation_id, ()))


def requested_scopes(scope: str | None, granted: frozenset[str]) -> frozenset[str]:
    """No scope, or Azure's ``api://<anything>/.default``, means every granted scope."""
    if scope is None or not scope.strip():
        return granted
    asked = set(scope.split())
    if all(item.endswith("/.default") for item in asked):
        return granted
    asked = {item for item in asked if not item.endswith("/.default")}
    if not asked <= granted:
        raise OAuthError("invalid_scope", "The requested scope is not granted to this client.")
    return frozenset(asked)


def issue_token(
    keyring: Keyring,
    client: ApiClient,
    scopes: frozenset[str],
    *,
    issuer: str,
    lifetime_seconds: int,
) -> IssuedToken:
    return mint(
        keyring,
        issuer=issuer,
        subject=client.client_id,
        role=client.role,
        scopes=scopes,
        lifetime_seconds=lifetime_seconds,
        organisation_id=client.organisation_id,
    )


# --- reads for the faces ----------------------------------------------------------------
