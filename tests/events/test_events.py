"""The change feed: publish, ordering and paging, gap-free under concurrent transactions,
ETags, type filters, scopes and isolation between ESPs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.auth.principal import Role, Scope
from datahub_api.events.event_types import MANDATE_APPROVED, MANDATE_REJECTED, MANDATE_REQUESTED
from datahub_api.events.models import Event
from datahub_api.events.service import UnknownEventType, publish
from datahub_api.jobs import commit

from ..support.parties import Esp, auth_headers, make_esp


async def publish_events(
    app: FastAPI, organisation_id: int, items: list[tuple[str, dict[str, Any]]]
) -> list[Event]:
    async with app.state.database.write_sessions() as session:
        events = [await publish(session, organisation_id, t, p) for t, p in items]
        await commit(session, app.state.jobs)
    return events


def mandate(n: int) -> dict[str, Any]:
    return {"ean": "541448820000000000"[:-2] + f"{n:02d}", "reference_number": f"REF-{n}"}


async def read_feed(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> httpx.Response:
    response = await client.get("/api/v1/events", params=params, headers=headers)
    assert response.status_code in (200, 304), response.text
    return response


@pytest.fixture
async def esp_a(app: FastAPI) -> Esp:
    return await make_esp(app, "Feed ESP A")


@pytest.fixture
async def esp_b(app: FastAPI) -> Esp:
    return await make_esp(app, "Feed ESP B")


async def test_feed_is_ordered_and_paged_and_only_the_callers(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, esp_b: Esp
) -> None:
    await publish_events(
        app, esp_a.organisation_id, [(MANDATE_REQUESTED, mandate(i)) for i in (1, 2, 3)]
    )
    await publish_events(app, esp_b.organisation_id, [(MANDATE_REQUESTED, mandate(9))])
    await publish_events(
        app, esp_a.organisation_id, [(MANDATE_APPROVED, mandate(i)) for i in (1, 2)]
    )
    headers = await auth_headers(client, esp_a)

    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        body = (
            await read_feed(client, headers, limit=2, **({"after": cursor} if cursor else {}))
        ).json()
        pages += 1
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert pages == 3
    assert [e["position"] for e in seen] == [1, 2, 3, 4, 5]
    assert [e["type"] for e in seen] == [MANDATE_REQUESTED] * 3 + [MANDATE_APPROVED] * 2
    assert [e["data"]["reference_number"] for e in seen] == [
        "REF-1",
        "REF-2",
        "REF-3",
        "REF-1",
        "REF-2",
    ]
    assert seen == sorted(seen, key=lambda e: e["id"])

    # Nothing new: the same cursor comes back, with no items.
    again = (await read_feed(client, headers, after=cursor)).json()
    assert again == {"items": [], "next_cursor": cursor, "has_more": False}

    # A new event appears after the cursor, exactly once.
    await publish_events(app, esp_a.organisation_id, [(MANDATE_REJECTED, mandate(3))])
    newer = (await read_feed(client, headers, after=cursor)).json()
    assert [(e["position"], e["type"]) for e in newer["items"]] == [(6, MANDATE_REJECTED)]

    # ESP B sees only its own event, at its own position 1.
    theirs = (await read_feed(client, await auth_headers(client, esp_b))).json()
    assert [(e["position"], e["data"]["reference_number"]) for e in theirs["items"]] == [
        (1, "REF-9")
    ]


async def test_a_later_commit_is_not_shown_before_an_earlier_open_transaction(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp
) -> None:
    """Transaction 1 publishes and stays open; transaction 2 publishes and commits. The
    feed must not show 2 while 1 is open (a reader would move past 1's position and never
    see it); once 1 commits, both come, in commit order."""
    headers = await auth_headers(client, esp_a)
    database = app.state.database
    first = database.write_sessions()
    second = database.write_sessions()
    try:
        slow = await publish(first, esp_a.organisation_id, MANDATE_REQUESTED, mandate(1))

        async def publish_and_commit() -> Event:
            event = await publish(second, esp_a.organisation_id, MANDATE_APPROVED, mandate(2))
            await second.commit()
            return event

        fast = asyncio.create_task(publish_and_commit())
        await asyncio.sleep(0.3)
        start = (await read_feed(client, headers)).json()
        assert start["items"] == []
        assert not fast.done()  # it waits for the open transaction to end

        await first.commit()
        quick = await asyncio.wait_for(fast, 10)
        both = (await read_feed(client, headers, after=start["next_cursor"])).json()
        assert [e["id"] for e in both["items"]] == [slow.id, quick.id]
        assert [e["position"] for e in both["items"]] == [1, 2]
    finally:
        await first.close()
        await second.close()


async def test_other_organisations_do_not_wait_for_an_open_transaction(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, esp_b: Esp
) -> None:
    database = app.state.database
    async with database.write_sessions() as open_one:
        await publish(open_one, esp_a.organisation_id, MANDATE_REQUESTED, mandate(1))
        async with database.write_sessions() as other:
            await asyncio.wait_for(
                publish(other, esp_b.organisation_id, MANDATE_REQUESTED, mandate(2)), 5
            )
            await other.commit()
        items = (await read_feed(client, await auth_headers(client, esp_b))).json()["items"]
        assert [e["position"] for e in items] == [1]
        await open_one.rollback()


async def test_a_rolled_back_publish_leaves_no_gap(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp
) -> None:
    async with app.state.database.write_sessions() as session:
        await publish(session, esp_a.organisation_id, MANDATE_REQUESTED, mandate(1))
        await session.rollback()
    await publish_events(app, esp_a.organisation_id, [(MANDATE_REQUESTED, mandate(2))])
    items = (await read_feed(client, await auth_headers(client, esp_a))).json()["items"]
    assert [(e["position"], e["data"]["reference_number"]) for e in items] == [(1, "REF-2")]


async def test_etag_and_not_modified(app: FastAPI, client: httpx.AsyncClient, esp_a: Esp) -> None:
    await publish_events(app, esp_a.organisation_id, [(MANDATE_REQUESTED, mandate(1))])
    headers = await auth_headers(client, esp_a)
    first = await read_feed(client, headers)
    etag = first.headers["etag"]
    cursor = first.json()["next_cursor"]
    unchanged = await read_feed(client, {**headers, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    # Polling with the cursor: 304 while nothing new happens, 200 once something does.
    empty = await read_feed(client, headers, after=cursor)
    poll_etag = empty.headers["etag"]
    assert (
        await read_feed(client, {**headers, "If-None-Match": poll_etag}, after=cursor)
    ).status_code == 304
    await publish_events(app, esp_a.organisation_id, [(MANDATE_APPROVED, mandate(1))])
    changed = await read_feed(client, {**headers, "If-None-Match": poll_etag}, after=cursor)
    assert changed.status_code == 200
    assert changed.headers["etag"] != poll_etag
    assert [e["type"] for e in changed.json()["items"]] == [MANDATE_APPROVED]


async def test_type_filters(app: FastAPI, client: httpx.AsyncClient, esp_a: Esp) -> None:
    await publish_events(
        app,
        esp_a.organisation_id,
        [
            (MANDATE_REQUESTED, mandate(1)),
            (MANDATE_APPROVED, mandate(1)),
            (MANDATE_REQUESTED, mandate(2)),
            (MANDATE_REJECTED, mandate(2)),
            (MANDATE_REQUESTED, mandate(3)),
        ],
    )
    headers = await auth_headers(client, esp_a)
    body = (await read_feed(client, headers, types="mandate.approved,mandate.rejected")).json()
    assert [(e["position"], e["type"]) for e in body["items"]] == [
        (2, MANDATE_APPROVED),
        (4, MANDATE_REJECTED),
    ]
    # The cursor moved to the head (position 5), past the unwanted types.
    await publish_events(app, esp_a.organisation_id, [(MANDATE_APPROVED, mandate(3))])
    later = (
        await read_feed(client, headers, types=MANDATE_APPROVED, after=body["next_cursor"])
    ).json()
    assert [(e["position"], e["type"]) for e in later["items"]] == [(6, MANDATE_APPROVED)]

    paged = (await read_feed(client, headers, types=MANDATE_REQUESTED, limit=2)).json()
    assert [e["position"] for e in paged["items"]] == [1, 3]
    assert paged["has_more"] is True
    rest = (
        await read_feed(client, headers, types=MANDATE_REQUESTED, after=paged["next_cursor"])
    ).json()
    assert [e["position"] for e in rest["items"]] == [5]

    unknown = await client.get("/api/v1/events", params={"types": "mandate.eaten"}, headers=headers)
    assert unknown.status_code == 422
    assert "mandate.eaten" in unknown.json()["detail"]
    bad_cursor = await client.get("/api/v1/events", params={"after": "nonsense!"}, headers=headers)
    assert bad_cursor.status_code == 422


async def test_scopes_of_the_feed(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, bearer: Any
) -> None:
    await publish_events(app, esp_a.organisation_id, [(MANDATE_REQUESTED, mandate(1))])
    org = esp_a.organisation_id
    for scopes in ([Scope.mandates_read], [Scope.webhooks]):
        ok = await client.get(
            "/api/v1/events", headers=bearer(Role.esp, scopes, organisation_id=org)
        )
        assert ok.status_code == 200, scopes
        assert len(ok.json()["items"]) == 1
    refused = await client.get(
        "/api/v1/events", headers=bearer(Role.esp, [Scope.contracts], organisation_id=org)
    )
    assert refused.status_code == 403
    assert (await client.get("/api/v1/events")).status_code == 401
    # An operator has no feed of its own.
    operator = await client.get(
        "/api/v1/events", headers=bearer(Role.operator, [Scope.mandates_read])
    )
    assert operator.status_code == 403


async def test_publish_refuses_unknown_types_and_keeps_payloads_json(
    app: FastAPI, esp_a: Esp
) -> None:
    async with app.state.database.write_sessions() as session:
        with pytest.raises(UnknownEventType):
            await publish(session, esp_a.organisation_id, "mandate.eaten", {})
    from datetime import UTC, datetime

    [event] = await publish_events(
        app,
        esp_a.organisation_id,
        [
            (
                MANDATE_APPROVED,
                {"mandate_id": 7, "approved_at": datetime(2026, 3, 29, 1, tzinfo=UTC)},
            )
        ],
    )
    assert event.payload == {"mandate_id": 7, "approved_at": "2026-03-29T01:00:00Z"}
    assert event.position == 1
