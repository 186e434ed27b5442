"""Every refusal leaves an audit record, whatever bytes its path holds (raw ASGI requests:
an HTTP client would refuse to send these paths)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from datahub_api.audit.models import AuditRecord
from datahub_api.audit.service import storable


async def raw_request(
    app: FastAPI, path: str, raw_path: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, bytes]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("203.0.113.9", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


async def refusals(app: FastAPI) -> list[AuditRecord]:
    async with app.state.database.read_sessions() as session:
        rows = await session.scalars(
            select(AuditRecord).where(AuditRecord.outcome == "refused").order_by(AuditRecord.id)
        )
        return list(rows.all())


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        ("/api/v1/access-points/541\x00448", b"/api/v1/access-points/541%00448"),
        ("/api/v1/access-points/\udcff\udcfe", b"/api/v1/access-points/\xff\xfe"),
        ("/api/v1/access-points/\ufffd", b"/api/v1/access-points/%ff"),
        ("/api/v1/access-points/" + "\x00" * 500, b"/api/v1/access-points/" + b"%00" * 500),
        ("/v3/api/mandate/\x00\udcc3", b"/v3/api/mandate/%00\xc3"),
    ],
    ids=["nul", "invalid-utf8-surrogates", "replacement-char", "long-nul", "v3-nul"],
)
async def test_refusals_with_hostile_paths_are_audited(
    app: FastAPI, path: str, raw_path: bytes
) -> None:
    before = len(await refusals(app))
    status, _body = await raw_request(app, path, raw_path)
    assert status in (400, 401, 403, 404), status
    after = await refusals(app)
    if status in (401, 403):
        assert len(after) == before + 1
        record = after[-1]
        assert record.target is not None
        assert "\x00" not in record.target
        assert record.target == storable(path, 200)
        assert record.client_ip == "203.0.113.9"


async def test_unmatched_long_hostile_path_refusal_is_audited(app: FastAPI) -> None:
    """A refusal whose route is the raw path (longer than the action column) is kept too."""
    path = "/api/v1/access-points/" + "\x00\udcff" * 300
    status, _ = await raw_request(
        app, path, b"/api/v1/access-points/" + b"%00\xff" * 300, [(b"authorization", b"Bearer x")]
    )
    assert status == 401
    record = (await refusals(app))[-1]
    assert len(record.action) <= 100
    assert record.target is not None
    assert record.target.startswith("/api/v1/access-points/\\x00\\udcff")


def test_storable_escapes_what_postgres_cannot_hold() -> None:
    assert storable("a\x00b") == "a\\x00b"
    assert storable("a\udcffb") == "a\\udcffb"
    assert storable("é✓") == "é✓"
    assert storable("x" * 10, 4) == "xxxx"
