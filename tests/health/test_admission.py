"""Admission control: beyond its slots and its queue, a process answers 503 with Retry-After at
once, in the face's error format, and never sheds a health check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from datahub_api.app import create_app
from datahub_api.deps import state_of
from datahub_api.health.admission import Admission, AdmissionMiddleware
from tests.support.environment import make_settings

SLOW_PATH = "/api/v1/slow-for-the-test"


class Held:
    """A route that runs until the test lets it finish."""

    def __init__(self, app: FastAPI) -> None:
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

        async def slow() -> dict[str, str]:
            self.entered.set()
            await self.release.wait()
            return {"status": "done"}

        app.add_api_route(SLOW_PATH, slow)


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (at most a few seconds)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


AppMaker = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient, Held]]]


@pytest.fixture
async def admitted_app(clean_database: str) -> AsyncIterator[AppMaker]:
    contexts: list[Any] = []

    async def make(**settings: Any) -> tuple[FastAPI, httpx.AsyncClient, Held]:
        app = create_app(make_settings(**settings), database_url=clean_database)
        held = Held(app)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        contexts.append(lifespan)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        contexts.append(client)
        return app, client, held

    yield make
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


async def test_beyond_the_slots_and_the_queue_a_request_is_shed_in_its_face_format(
    admitted_app: AppMaker,
) -> None:
    app, client, held = await admitted_app(
        max_in_flight=1, admission_queue=0, admission_retry_after_seconds=7
    )
    slow = asyncio.create_task(client.get(SLOW_PATH))
    await held.entered.wait()

    native = await client.get("/api/v1/mandates")
    assert native.status_code == 503
    assert native.headers["retry-after"] == "7"
    assert native.headers["content-type"] == "application/problem+json"
    assert native.json()["status"] == 503
    assert native.json()["type"].endswith("service-unavailable")

    v3 = await client.get("/v3/api/mandate", params={"ReferenceNumber": "x"})
    assert v3.status_code == 503
    assert v3.headers["retry-after"] == "7"
    assert v3.headers["content-type"].startswith("application/json")
    assert set(v3.json()) == {"type", "code", "message"}
    assert v3.json()["code"] == "DependentResource.Mandate.Unavailable"

    # Health checks are never shed, the database-touching readiness check included.
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200

    shed = app.state.metrics.registry.get_sample_value("datahub_http_requests_shed_total")
    assert shed == 2
    # A shed answer is hardened and traceable like any other.
    assert native.headers["x-content-type-options"] == "nosniff"
    assert native.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in native.headers
    assert native.headers["x-request-id"]
    portal = await client.get("/portal/login")
    assert portal.status_code == 503
    assert "frame-ancestors 'none'" in portal.headers["content-security-policy"]

    held.release.set()
    assert (await slow).status_code == 200
    assert state_of(app).admission.in_flight == 0
    # With the slot free again the request is served (and refused on its merits: no token).
    assert (await client.get("/api/v1/mandates")).status_code == 401


async def test_a_queued_request_is_served_once_a_slot_frees_and_one_beyond_the_queue_is_not(
    admitted_app: AppMaker,
) -> None:
    app, client, held = await admitted_app(
        max_in_flight=1, admission_queue=1, admission_wait_seconds=30
    )
    slow = asyncio.create_task(client.get(SLOW_PATH))
    await held.entered.wait()
    queued = asyncio.create_task(client.get("/api/v1/mandates"))
    await until(lambda: state_of(app).admission.waiting == 1)

    beyond = await client.get("/api/v1/mandates")
    assert beyond.status_code == 503
    assert beyond.headers["retry-after"] == "3"
    assert not queued.done()

    held.release.set()
    assert (await slow).status_code == 200
    assert (await queued).status_code == 401  # served, not shed
    assert (state_of(app).admission.in_flight, state_of(app).admission.waiting) == (0, 0)


async def test_a_request_that_waits_too_long_for_a_slot_is_shed(admitted_app: AppMaker) -> None:
    app, client, held = await admitted_app(
        max_in_flight=1, admission_queue=10, admission_wait_seconds=0.05
    )
    slow = asyncio.create_task(client.get(SLOW_PATH))
    await held.entered.wait()

    waited = await client.get("/api/v1/mandates")
    assert waited.status_code == 503
    assert waited.headers["retry-after"] == "3"
    assert state_of(app).admission.waiting == 0

    held.release.set()
    assert (await slow).status_code == 200
    assert state_of(app).admission.in_flight == 0


async def test_a_waiter_that_goes_away_leaves_no_slot_taken() -> None:
    admission = Admission(max_in_flight=1, max_waiting=5, max_wait_seconds=30)
    assert await admission.enter()
    gone = asyncio.create_task(admission.enter())
    stays = asyncio.create_task(admission.enter())
    await until(lambda: admission.waiting == 2)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    admission.leave()  # handed to the one still waiting
    assert await stays
    assert (admission.in_flight, admission.waiting) == (1, 0)
    admission.leave()
    assert admission.in_flight == 0
    assert await admission.enter()  # the slot is free for the next one


async def test_a_standing_queue_serves_its_newest_waiter_first() -> None:
    admission = Admission(max_in_flight=1, max_waiting=5, max_wait_seconds=30)
    assert await admission.enter()
    first = asyncio.create_task(admission.enter())
    await until(lambda: admission.waiting == 1)
    await asyncio.sleep(0.05)  # the queue has not drained: it stands
    newest = asyncio.create_task(admission.enter())
    await until(lambda: admission.waiting == 2)
    admission.leave()
    assert await newest
    assert not first.done()
    admission.leave()  # the queue's oldest waited longest of all: still the newest first
    assert await first
    admission.leave()
    assert (admission.in_flight, admission.waiting) == (0, 0)


async def test_a_download_gives_its_slot_back_once_its_answer_starts() -> None:
    """Sending a long answer to a slow client is waiting on the network, not work: it must
    not close the process to everyone else. (Driven at the ASGI level: httpx's test
    transport reads a whole answer before it returns any of it.)"""
    admission = Admission(max_in_flight=1, max_waiting=0, max_wait_seconds=1)
    body_may_end = asyncio.Event()

    async def download(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await body_may_end.wait()  # as a slow client's network would
        await send({"type": "http.response.body", "body": b"last"})

    middleware = AdmissionMiddleware(download, admission, Admission(1, 0, 1), retry_after_seconds=3)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: Scope = {"type": "http", "path": "/api/v1/x", "method": "GET", "headers": []}
    answer = asyncio.create_task(middleware(scope, receive, send))
    await until(lambda: len(sent) == 1)
    assert admission.in_flight == 0
    assert await admission.enter()  # the next request is served meanwhile
    admission.leave()
    body_may_end.set()
    await answer
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert admission.in_flight == 0


async def test_readiness_checks_and_scrapes_have_slots_of_their_own(
    admitted_app: AppMaker,
) -> None:
    """With the API's slots taken, /readyz still answers; a flood of /readyz or /metrics
    beyond the probes' own slots and queue is shed and never reaches the API's slots."""
    app, client, held = await admitted_app(max_in_flight=1, admission_queue=0)
    slow = asyncio.create_task(client.get(SLOW_PATH))
    await held.entered.wait()
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 403  # served: refused on its merits

    probes = state_of(app).probe_admission
    taken = [await probes.enter() for _ in range(probes.max_in_flight)]
    assert all(taken)
    assert (await client.get("/readyz")).status_code == 503
    assert (await client.get("/metrics")).status_code == 503
    assert (await client.get("/healthz")).status_code == 200  # never shed
    for _ in taken:
        probes.leave()
    assert (await client.get("/readyz")).status_code == 200
    assert state_of(app).admission.in_flight == 1  # the API's one slot: the slow request's

    held.release.set()
    assert (await slow).status_code == 200
