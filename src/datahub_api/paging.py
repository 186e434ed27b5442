"""Opaque cursors for keyset paging: a list is ordered by a unique key and the cursor
carries the last key seen, so pages stay stable while rows are inserted."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Path, Query

from datahub_api.errors import UnprocessableContent

# The path and query parameters of a paged resource list: an object id, a page size and the
# cursor the previous page gave out.
ObjectId = Annotated[int, Path(ge=1, le=2**62)]
PageLimit = Annotated[int, Query(ge=1, le=1000)]
PageCursor = Annotated[str | None, Query(max_length=500)]


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise UnprocessableContent("cursor is not a cursor this API gave out") from None
    if not isinstance(position, dict):
        raise UnprocessableContent("cursor is not a cursor this API gave out")
    return position


def cursor_int(cursor: str | None, field: str = "id") -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    value = position.get(field)
    if not isinstance(value, int):
        raise UnprocessableContent("cursor is not a cursor this API gave out")
    return value
