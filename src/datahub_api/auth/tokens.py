"""Access tokens: RS256 JWTs with ``iss, aud, sub, exp, iat, nbf, jti, scope`` and ``kid``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jose import JWTError, jwt

from datahub_api.auth.keys import ALGORITHM, Keyring
from datahub_api.auth.principal import Principal, Role

AUDIENCE = "datahub-api"
CLOCK_SKEW_SECONDS = 30


class InvalidToken(Exception):
    """The token cannot be trusted; the reason is for logs and audit, never for the caller."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int
    scopes: tuple[str, ...]


def mint(
    keyring: Keyring,
    *,
    issuer: str,
    subject: str,
    role: Role,
    scopes: Iterable[str],
    lifetime_seconds: int,
    organisation_id: int | None = None,
    now: float | None = None,
) -> IssuedToken:
    issued_at = int(now if now is not None else time.time())
    ordered = tuple(sorted(set(scopes)))
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime_seconds,
        "jti": jti,
        "scope": " ".join(ordered),
        "role": role.value,
    }
    if organisation_id is not None:
        claims["org"] = organisation_id
    key = keyring.current
    token = jwt.encode(
        claims, key.private_pem.decode(), algorithm=ALGORITHM, headers={"kid": key.kid}
    )
    return IssuedToken(token=token, jti=jti, expires_in=lifetime_seconds, scopes=ordered)


def verify(keyring: Keyring, token: str, *, issuer: str) -> Principal:
    """Check signature, algorithm, key id, audience, issuer and times; return the caller."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise InvalidToken("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} refused")
    kid = header.get("kid")
    key = keyring.verifier(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("unknown key id")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer,
            options={"require_exp": True, "require_iat": True, "require_jti": True, "leeway": 0},
        )
    except JWTError as exc:
        raise InvalidToken(str(exc)) from exc
    now = time.time()
    if claims.get("iat", 0) > now + CLOCK_SKEW_SECONDS:
        raise InvalidToken("issued in the future")
    try:
        role = Role(claims["role"])
    except (KeyError, ValueError) as exc:
        raise InvalidToken("no role") from exc
    organisation = claims.get("org")
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        scopes=frozenset(str(claims.get("scope", "")).split()),
        organisation_id=organisation if isinstance(organisation, int) else None,
        token_id=str(claims["jti"]),
    )
