"""ETags and conditional GETs (``If-None-Match`` -> 304) for every list and item GET.

The ETag is a strong validator computed from the response body itself, so it changes exactly
when what the client would receive changes, without any per-domain version column:

    return json_response_with_etag(request, AccessPointOut.model_validate(access_point))
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

NOT_MODIFIED_RESPONSE: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` header holds the current ETag."}
}
ETAG_HEADER_DOC: dict[str, Any] = {
    "ETag": {
        "description": "Strong validator of this representation; send it back in "
        "`If-None-Match` to get 304 when nothing changed.",
        "schema": {"type": "string"},
    }
}


class NotModified(Exception):
    """Raised by a route's dependency to answer 304 with ``etag`` at once, before the rest
    of the request is parsed (the cheap path of a poll that finds nothing new)."""

    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def install_not_modified(app: FastAPI) -> None:
    async def on_not_modified(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotModified)
        return Response(status_code=304, headers={"ETag": exc.etag})

    app.add_exception_handler(NotModified, on_not_modified)


def etag_of(body: bytes) -> str:
    """A quoted strong ETag of a response body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches_if_none_match(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, as RFC 9110 asks)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == wanted for candidate in header.split(","))


def conditional_response(
    request: Request,
    body: bytes,
    *,
    media_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Response:
    """``body`` with its ETag, or an empty 304 when the client already holds it."""
    etag = etag_of(body)
    all_headers = {"ETag": etag, **(headers or {})}
    if matches_if_none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=all_headers)
    return Response(content=body, media_type=media_type, headers=all_headers)


def json_response_with_etag(
    request: Request, content: BaseModel | Any, *, headers: dict[str, str] | None = None
) -> Response:
    """Serialise ``content`` as JSON (by alias, like FastAPI) and answer conditionally."""
    if isinstance(content, BaseModel):
        content = content.model_dump(mode="json", by_alias=True)
    body = JSONResponse(jsonable_encoder(content)).body
    return conditional_response(request, bytes(body), headers=headers)
