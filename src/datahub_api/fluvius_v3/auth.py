"""Who may call ``/v3``: a bearer token with the route's scopes and, when the setting
``require_subscription_key`` is on, the ``Ocp-Apim-Subscription-Key`` of one of the caller's
own approved ``api`` contracts (as behind Fluvius's API gateway).

No ``from __future__ import annotations`` here: the dependency's annotation refers to a
closure variable, which FastAPI can only see when annotations are evaluated eagerly.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.grants import AccessGrants
from datahub_api.auth.principal import Principal
from datahub_api.deps import app_state
from datahub_api.errors import Unauthorized

SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"


def v3_caller(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    scoped = require_scopes(*scopes)

    async def dependency(
        request: Request,
        principal: Annotated[Principal, Depends(scoped)],
        subscription_key: Annotated[
            str | None,
            Header(
                alias=SUBSCRIPTION_KEY_HEADER,
                description="Your `api` contract's subscription key (required when the "
                "service runs with `require_subscription_key`).",
            ),
        ] = None,
    ) -> Principal:
        if app_state(request).settings.require_subscription_key:
            grants: AccessGrants = app_state(request).access_grants
            owner = grants.subscription_keys.get(subscription_key) if subscription_key else None
            if owner is None or owner != principal.organisation_id:
                raise Unauthorized(
                    "Access denied due to missing or invalid subscription key.",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return principal

    return dependency
