"""Access tokens: RS256 JWTs with ``iss, aud, sub, exp, iat, nbf, jti, scope`` and ``kid``."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jose import JWTError, jwt

from datahub_api.auth.keys import ALGORITHM, Keyring
from datahub_api.auth.principal import Principal, Role
from datahub_api.errors import Unauthorized

AUDIENCE = "datahub-api"
CLOCK_SKEW_SECONDS = 30


class InvalidToken(Exception):
    """The token cannot be trusted; the reason is for logs and audit, never for the caller."""


class UnknownKey(InvalidToken):
    """The token names a key id the keyring does not hold (maybe one made a moment ago)."""

    def __init__(self, kid: str) -> None:
        super().__init__("unknown key id")
        self.kid = kid


def invalid_token() -> Unauthorized:
    """The one answer for every bad token: nothing in it helps an attacker."""
    return Unauthorized(
        "A valid access token is required.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


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


# Verified tokens remembered per keyring: a client sends the same token for up to an hour,
# and checking its RSA signature is most of an authenticated request's cost.
VERIFIED_TOKENS_KEPT = 4096


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    expires_at: float


def verify(keyring: Keyring, token: str, *, issuer: str) -> Principal:
    """Check signature, algorithm, key id, audience, issuer and times; return the caller.

    A token verified before by the same keyring (the exact same string, for the same
    issuer) is accepted again until it expires, without checking it again; the keyring
    changes when keys rotate, which forgets them all.
    """
    remembered: OrderedDict[tuple[str, str], _Verified] = keyring.verified
    cache_key = (token, issuer)
    hit = remembered.get(cache_key)
    if hit is not None:
        if time.time() < hit.expires_at:
            remembered.move_to_end(cache_key)
            return hit.principal
        del remembered[cache_key]
    principal, expires_at = _verify(keyring, token, issuer=issuer)
    remembered[cache_key] = _Verified(principal, expires_at)
    if len(remembered) > VERIFIED_TOKENS_KEPT:
        remembered.popitem(last=False)
    return principal


def _verify(keyring: Keyring, token: str, *, issuer: str) -> tuple[Principal, float]:
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise InvalidToken("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} refused")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("no key id")
    key = keyring.verifier(kid)
    if key is None:
        raise UnknownKey(kid)
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
    principal = Principal(
        subject=str(claims["sub"]),
        role=role,
        scopes=frozenset(str(claims.get("scope", "")).split()),
        organisation_id=organisation if isinstance(organisation, int) else None,
        token_id=str(claims["jti"]),
        issued_at=float(claims["iat"]),
    )
    return principal, float(claims["exp"])
