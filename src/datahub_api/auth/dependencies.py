"""Route dependencies: who is calling, and may they do this?

Routes declare what they need with ``require_scopes(...)``; the answer is a
:class:`Principal`. Bearer tokens authenticate machines; people (ESP staff, customers,
grid users, operators) are authenticated by their session cookie once login exists.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from datahub_api.accounts.service import SESSION_COOKIE, principal_from_cookie
from datahub_api.auth import tokens
from datahub_api.auth.principal import Principal
from datahub_api.auth.tokens import invalid_token
from datahub_api.deps import app_state
from datahub_api.errors import Forbidden, Unauthorized

logger = logging.getLogger(__name__)

SCOPE_DESCRIPTIONS = {
    "contracts": "Your organisation, contracts and API clients (every ESP)",
    "consents": "Ask customers for consent; end your mandates",
    "mandates:read": "Poll mandates and the change feed",
    "meter-data:read": "Read metering data under your mandates",
    "webhooks": "Manage webhooks",
    "exports": "Yearly history exports",
    "nps": "NPS EAN lists and signed mandates",
    "operator:contracts": "Operator: organisations, contracts, clients",
    "operator:access-points": "Operator: the access-point registry",
    "operator:audits": "Operator: mandate audits",
    "sla:all": "Operator: SLA figures of every ESP",
    "meter-data:ingest": "Head-end: ingest meter readings",
    "own-data": "Customers and grid users (session login): their consents and access log",
}
# OAuth2 client credentials, so that /docs can get a token and the spec lists each
# operation's scopes. (People send the session cookie instead.)
bearer_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="/oauth2/v2.0/token", scopes=SCOPE_DESCRIPTIONS
        )
    ),
    scheme_name="oauth2",
    description="An access token from the token endpoint (client credentials).",
    auto_error=False,
)


async def authenticate(
    request: Request,
    authorization: Annotated[str | None, Depends(bearer_scheme)],
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        principal = await _person_from_cookie(request)
        request.state.principal = principal
        await _spend_budget(request, principal)
        return principal
    state = app_state(request)
    store, issuer = state.keys, state.settings.token_issuer
    try:
        try:
            principal = tokens.verify(await store.current(), token.strip(), issuer=issuer)
        except tokens.UnknownKey as unknown:
            # Maybe a key another node made a moment ago: ask the store (rate-bounded).
            principal = tokens.verify(
                await store.knowing(unknown.kid), token.strip(), issuer=issuer
            )
    except tokens.InvalidToken as exc:
        logger.info("refused token: %s", exc)
        raise invalid_token() from None
    for check in state.principal_checks:
        principal = await check(request, principal)
    request.state.principal = principal
    await _spend_budget(request, principal)
    return principal


async def _spend_budget(request: Request, principal: Principal) -> None:
    """One rate limit per caller, whether it came with a token or a session cookie."""
    budget = await app_state(request).rate_limiter.hit(principal.subject)
    # Added to whatever response the route sends, by RateLimitHeadersMiddleware.
    request.state.rate_limit_headers = budget.headers()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"


async def _person_from_cookie(request: Request) -> Principal:
    """A person's session. Unsafe methods must echo the session's CSRF token (a header for
    API calls; the portal's forms check their ``csrf_token`` field themselves)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized(
            "A valid access token is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    state = app_state(request)
    async with state.database.read_sessions() as session:
        principal = await principal_from_cookie(session, token)
    if principal is None:
        raise Unauthorized("Your session has ended; log in again.")
    if request.method not in SAFE_METHODS and not getattr(request.state, "csrf_checked", False):
        sent = request.headers.get(CSRF_HEADER)
        if not sent or not secrets.compare_digest(sent, principal.csrf_token or ""):
            raise Forbidden("Missing or wrong CSRF token.")
    for check in state.principal_checks:
        principal = await check(request, principal)
    return principal


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and demands every one of ``scopes``."""
    needed = frozenset(scopes)

    async def dependency(principal: Principal) -> Principal:
        missing = needed - principal.scopes
        if missing:
            raise Forbidden(
                f"This call needs the scope(s): {', '.join(sorted(missing))}.",
                headers={"WWW-Authenticate": _insufficient_scope(needed)},
            )
        return principal

    _declare_scopes(dependency, needed)
    return dependency


def _declare_scopes(
    dependency: Callable[..., Awaitable[Principal]], scopes: frozenset[str]
) -> None:
    """Give ``dependency`` its ``principal`` parameter as a real annotation object (this module
    postpones annotations, and a closure's values cannot be named in a string)."""
    dependency.__annotations__["principal"] = Annotated[
        Principal, Security(authenticate, scopes=sorted(scopes))
    ]


def _insufficient_scope(needed: frozenset[str]) -> str:
    return f'Bearer error="insufficient_scope", scope="{" ".join(sorted(needed))}"'


def require_any_scope(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and demands at least one of ``scopes`` (routes that
    serve both ESPs and the people whose data it is)."""
    wanted = frozenset(scopes)

    async def dependency(principal: Principal) -> Principal:
        if not wanted & principal.scopes:
            raise Forbidden(
                f"This call needs one of the scopes: {', '.join(sorted(wanted))}.",
                headers={"WWW-Authenticate": _insufficient_scope(wanted)},
            )
        return principal

    _declare_scopes(dependency, wanted)
    return dependency
