"""``Idempotency-Key`` for creating POSTs: same key + same body = same answer; same key +
other body = 409. The key is claimed in the request's own transaction, so a request that
fails leaves no claim behind."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from datahub_api.auth.dependencies import authenticate
from datahub_api.auth.principal import Principal
from datahub_api.db import WriteSession
from datahub_api.errors import Conflict, UnprocessableContent
from datahub_api.idempotency import repository

MAX_KEY_LENGTH = 200


@dataclass
class Idempotency:
    owner: str
    key: str | None
    operation: str
    fingerprint: str

    async def replay(self, session: WriteSession) -> JSONResponse | None:
        """The stored answer for a repeated request, or None when this request goes ahead."""
        if self.key is None:
            return None
        earlier = await repository.claim(
            session,
            owner=self.owner,
            key=self.key,
            operation=self.operation,
            fingerprint=self.fingerprint,
        )
        if earlier is None:
            return None
        if earlier.operation != self.operation or earlier.fingerprint != self.fingerprint:
            raise Conflict("This Idempotency-Key was used before with another request.")
        if earlier.status_code is None:
            raise Conflict("A request with this Idempotency-Key is still being processed.")
        return JSONResponse(
            earlier.response_body,
            status_code=earlier.status_code,
            headers={"Idempotent-Replayed": "true"},
        )

    async def remember(self, session: WriteSession, status_code: int, body: Any) -> None:
        if self.key is not None:
            await repository.store_answer(
                session, owner=self.owner, key=self.key, status_code=status_code, body=body
            )


async def idempotency(
    request: Request,
    principal: Annotated[Principal, Depends(authenticate)],
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Makes a retry safe: the same key with the same body gets the same "
            "answer; with another body, 409.",
            max_length=MAX_KEY_LENGTH,
        ),
    ] = None,
) -> Idempotency:
    if idempotency_key is not None and not idempotency_key.strip():
        raise UnprocessableContent("Idempotency-Key must not be empty.")
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True).encode() if body else b""
    except ValueError:
        canonical = body
    return Idempotency(
        owner=principal.subject,
        key=idempotency_key,
        operation=f"{request.method} {request.url.path}",
        fingerprint=hashlib.sha256(canonical).hexdigest(),
    )


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
