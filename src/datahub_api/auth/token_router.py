"""The OAuth2 token endpoint, at the path Fluvius clients post to (Azure AD style) and at
the plain alias."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from datahub_api.auth import service
from datahub_api.auth.models import ApiClient
from datahub_api.auth.service import CLIENT_ASSERTION_TYPE, OAuthError, invalid_client
from datahub_api.client_address import client_address
from datahub_api.deps import WriteSessionDep, app_state
from datahub_api.errors import DatahubError
from datahub_api.throttles.service import FailureThrottle

router = APIRouter(tags=["auth"])

TOKEN_PATHS = ("/oauth2/v2.0/token", "/oauth2/token")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = Field(examples=["Bearer"])
    expires_in: int
    scope: str


class OAuthErrorBody(BaseModel):
    error: str = Field(
        description="`invalid_request`, `invalid_client`, `invalid_grant`, "
        "`unauthorized_client`, `unsupported_grant_type` or `invalid_scope`."
    )
    error_description: str | None = None


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client(basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client(basic=True)
    # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


FormField = Annotated[str | None, Form()]


async def issue_token(
    request: Request,
    session: WriteSessionDep,
    grant_type: Annotated[str, Form(json_schema_extra={"enum": ["client_credentials"]})],
    client_id: FormField = None,
    client_secret: FormField = None,
    client_assertion_type: Annotated[
        str | None,
        Form(description=f"`{CLIENT_ASSERTION_TYPE}` with `private_key_jwt`."),
    ] = None,
    client_assertion: FormField = None,
    scope: FormField = None,
) -> JSONResponse:
    """OAuth2 client credentials (RFC 6749 4.4), authenticated by a client secret (Basic or
    form) or by a `private_key_jwt` assertion (RFC 7523) naming a registered certificate in
    its `x5t` header. Without `scope`, or with Azure's `api://<anything>/.default`, the
    token carries every scope the client holds now."""
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "Only client_credentials is supported.")
    request.state.audit_actor = client_id or "-"
    try:
        basic = _basic_credentials(request)
    except OAuthError:
        basic = ("-", "")  # malformed: a failure of no particular client
    claimed = basic[0] if basic is not None else client_id or "-"
    request.state.audit_actor = claimed
    address = client_address(request)
    throttle: FailureThrottle = app_state(request).token_throttle
    # No client id named (an assertion may leave it out): only the address is slowed, so
    # that anonymous garbage closes no one else's door.
    keys = [f"addr:{address}"] + ([f"client:{claimed}"] if claimed != "-" else [])
    await throttle.check(keys, address)
    try:
        client = await _authenticated_client(
            request, session, client_id, client_secret, client_assertion_type, client_assertion
        )
    except OAuthError as error:
        if error.error == "invalid_client":
            await throttle.failed(keys, address)
            request.state.audit_tally = f"token:{claimed}|{address}"
        raise
    await throttle.succeeded(keys)
    granted = await service.granted_scopes(session, client)
    scopes = service.requested_scopes(scope, granted)
    settings = app_state(request).settings
    issued = service.issue_token(
        await app_state(request).keys.current(),
        client,
        scopes,
        issuer=settings.token_issuer,
        lifetime_seconds=settings.access_token_lifetime_seconds,
    )
    body = TokenResponse(
        access_token=issued.token,
        token_type="Bearer",
        expires_in=issued.expires_in,
        scope=" ".join(issued.scopes),
    )
    return JSONResponse(
        body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


async def _authenticated_client(
    request: Request,
    session: WriteSessionDep,
    client_id: str | None,
    client_secret: str | None,
    client_assertion_type: str | None,
    client_assertion: str | None,
) -> ApiClient:
    """The client that the request authenticates, by exactly one method; ``invalid_client``
    for every failure."""
    basic = _basic_credentials(request)
    if basic is not None:
        if client_secret is not None or client_assertion is not None:
            raise OAuthError("invalid_request", "Use one client authentication method.")
        return await service.authenticate_with_secret(session, basic[0], basic[1], basic=True)
    if client_assertion is not None or client_assertion_type is not None:
        if client_assertion_type != CLIENT_ASSERTION_TYPE or not client_assertion:
            raise OAuthError(
                "invalid_request", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}."
            )
        if client_secret is not None:
            raise OAuthError("invalid_request", "Use one client authentication method.")
        # From configuration, never from the request's Host or X-Forwarded-* headers.
        audiences = set(app_state(request).settings.assertion_audiences)
        return await service.authenticate_with_assertion(
            session, client_assertion, client_id, audiences
        )
    if client_id is not None and client_secret is not None:
        return await service.authenticate_with_secret(
            session, client_id, client_secret, basic=False
        )
    raise invalid_client()


_responses: dict[int | str, dict[str, object]] = {
    400: {"model": OAuthErrorBody, "description": "RFC 6749 5.2 error"},
    401: {"model": OAuthErrorBody, "description": "`invalid_client`"},
    429: {
        "model": OAuthErrorBody,
        "description": "Too many failed client authentications for this client id or "
        "address: retry after `Retry-After` seconds",
    },
}
for _path in TOKEN_PATHS:
    router.add_api_route(
        _path,
        issue_token,
        methods=["POST"],
        response_model=TokenResponse,
        responses=_responses,
        summary="Get an access token (OAuth2 client credentials)",
        operation_id="token" if _path == TOKEN_PATHS[0] else "token_alias",
    )


def render_oauth_error(request: Request, error: object) -> JSONResponse:
    """RFC 6749 5.2 bodies for everything under ``/oauth2``."""
    assert isinstance(error, DatahubError)
    if isinstance(error, OAuthError):
        code, status = error.error, error.status
    elif error.status == 422:
        code, status = "invalid_request", 400
    elif error.status >= 500:
        code, status = "server_error", error.status
    else:
        code, status = "invalid_request", error.status
    return JSONResponse(
        {"error": code, "error_description": error.detail},
        status_code=status,
        headers={**error.headers, "Cache-Control": "no-store"},
    )
