"""Route dependencies: who is calling, and may they do this?

Routes declare what they need with ``require_scopes(...)``; the answer is a
:class:`Principal`. Bearer tokens authenticate machines; people (ESP staff, customers,
grid users, operators) are authenticated by their session cookie once login exists.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from datahub_api.auth import tokens
from datahub_api.auth.principal import Principal
from datahub_api.auth.rate_limit import ClientRateLimiter
from datahub_api.errors import Forbidden, Unauthorized

logger = logging.getLogger(__name__)

bearer_scheme = HTTPBearer(auto_error=False, description="An access token from the token endpoint.")

# Extra checks on a verified token (revoked clients, terminated contracts, ...). Each may
# raise Unauthorized or return a principal with fewer scopes.
PrincipalCheck = Callable[[Request, Principal], Awaitable[Principal]]


def invalid_token() -> Unauthorized:
    """The one answer for every bad token: nothing in it helps an attacker."""
    return Unauthorized(
        "A valid access token is required.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "A valid access token is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    keyring = request.app.state.keys.keyring
    try:
        principal = tokens.verify(
            keyring, credentials.credentials, issuer=request.app.state.settings.token_issuer
        )
    except tokens.InvalidToken as exc:
        logger.info("refused token: %s", exc)
        raise invalid_token() from None
    for check in request.app.state.principal_checks:
        principal = await check(request, principal)
    request.state.principal = principal
    limiter: ClientRateLimiter = request.app.state.rate_limiter
    state = await limiter.hit(principal.subject)
    # Added to whatever response the route sends, by RateLimitHeadersMiddleware.
    request.state.rate_limit_headers = state.headers()
    return principal


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and demands every one of ``scopes``."""
    needed = frozenset(scopes)

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        missing = needed - principal.scopes
        if missing:
            raise Forbidden(
                f"This call needs the scope(s): {', '.join(sorted(missing))}.",
                headers={"WWW-Authenticate": _insufficient_scope(needed)},
            )
        return principal

    return dependency


def require_any_scope(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and demands at least one of ``scopes``."""
    accepted = frozenset(scopes)

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not accepted & principal.scopes:
            raise Forbidden(
                f"This call needs one of the scopes: {', '.join(sorted(accepted))}.",
                headers={"WWW-Authenticate": _insufficient_scope(accepted)},
            )
        return principal

    return dependency


def _insufficient_scope(needed: frozenset[str]) -> str:
    return f'Bearer error="insufficient_scope", scope="{" ".join(sorted(needed))}"'
