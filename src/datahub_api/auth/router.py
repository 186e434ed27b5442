"""Public key material for token verifiers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

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
    return JsonWebKeySet.model_validate(request.app.state.keyring.jwks())
