"""Public key material for token verifiers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from datahub_api.auth.dependencies import authenticate
from datahub_api.auth.principal import Principal, Role
from datahub_api.deps import app_state
from datahub_api.errors import problem_responses

router = APIRouter(tags=["auth"])


class JsonWebKey(BaseModel):
    kty: str
    kid: str
    use: str
    alg: str
    n: str
    e: str


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]


@router.get(
    "/.well-known/jwks.json",
    response_model=JsonWebKeySet,
    summary="Keys that verify our access tokens (JWKS)",
)
async def jwks(request: Request) -> JsonWebKeySet:
    """Every key still trusted: the current signing key first, then keys kept until their
    tokens have expired."""
    keyring = await app_state(request).keys.current()
    return JsonWebKeySet.model_validate(keyring.jwks())


class TokenInfo(BaseModel):
    subject: str = Field(description="The client id (or the person) the token was issued to.")
    role: Role
    organisation_id: int | None
    scopes: list[str] = Field(
        description="The scopes in effect now: those of the token that your organisation's "
        "approved contracts still grant."
    )


@router.get(
    "/api/v1/auth/token-info",
    response_model=TokenInfo,
    responses=problem_responses(401, 429),
    summary="Who am I, and which scopes are in effect now",
)
async def token_info(principal: Annotated[Principal, Depends(authenticate)]) -> TokenInfo:
    """For ESP developers: what the service makes of your token right now."""
    return TokenInfo(
        subject=principal.subject,
        role=principal.role,
        organisation_id=principal.organisation_id,
        scopes=sorted(principal.scopes),
    )
