"""The mandates' daily job as the queue runs it: registered as a periodic task just after
Brussels midnight, one waiting job at a time, and each run moving mandates through
unanswered co-consent, renewal and expiry, with the events in the feed and on a webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import croniter
import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from datahub_api.brussels_days import BRUSSELS
from datahub_api.jobs import TASK_MODULES, JobQueue
from datahub_api.mandates.tasks import DAILY, DAILY_CRON, enqueue_daily
from datahub_api.settings import Settings

from ..support.consent_world import (
    ConsentWorld,
    decide,
    make_consent_world,
    open_consent,
    owner_mandate,
)
from ..support.environment import make_settings
from ..support.parties import auth_headers
from ..support.webhook_receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def settings(receiver: Receiver) -> Settings:
    return make_settings(
        webhook_allowed_hosts=[receiver.host], webhook_allowed_ports=[receiver.port]
    )


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


def test_the_daily_tick_is_just_after_midnight_in_brussels() -> None:
    assert "datahub_api.mandates.tasks" in TASK_MODULES
    for day in (date(2026, 1, 15), date(2026, 7, 15), date(2026, 3, 29), date(2026, 10, 25)):
        noon = datetime.combine(day, time(12), tzinfo=UTC)
        tick = croniter.croniter(DAILY_CRON, noon).get_next(datetime)
        local = tick.astimezone(BRUSSELS)
        assert local.date() == day + timedelta(days=1), (day, local)
        assert time(0, 1) <= local.time() <= time(1, 30), (day, local)


async def test_the_daily_job_is_a_periodic_task_with_one_waiting_job(app: FastAPI) -> None:
    queue: JobQueue = app.state.jobs
    periodic = {
        task.task.name: task.cron for task in queue.app.periodic_registry.periodic_tasks.values()
    }
    assert periodic[DAILY] == DAILY_CRON
    assert await enqueue_daily(queue) is not None
    assert await enqueue_daily(queue) is None  # the queueing lock: one waits at a time
    [job] = await queue.jobs("todo")
    assert (job["task_name"], job["lock"], job["queueing_lock"]) == (DAILY, DAILY, DAILY)
    await queue.run_until_idle()
    assert await queue.jobs() == []


async def new_events(
    client: httpx.AsyncClient, headers: dict[str, str], after: str | None
) -> tuple[list[dict[str, Any]], str]:
    params = {"after": after} if after else {}
    response = await client.get("/api/v1/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return list(body["items"]), str(body["next_cursor"])


async def test_the_daily_job_moves_mandates_through_the_queue(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, receiver: Receiver
) -> None:
    queue: JobQueue = app.state.jobs
    headers = await auth_headers(client, world.esp_a)
    hook = await client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=headers)
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]

    started = datetime.now(UTC).replace(microsecond=0)
    end = started + timedelta(days=200)
    period = {
        "dataServices": [
            {
                "dataServiceType": "VH_dag",
                "dataPeriodFrom": started.isoformat(),
                "dataPeriodTo": end.isoformat(),
            }
        ]
    }
    # The tenant's mandate waits for the landlord, who never answers.
    identifier = await open_consent(
        client, world.esp_a, numberOfEans=1, referenceNumber="tenant-1", **period
    )
    decided = await decide(app, world.tenant, identifier, [world.tenant_eans[0]])
    assert decided.status_code == 200, decided.text
    tenant_mandate = decided.json()["mandates"][0]["id"]
    owners = await owner_mandate(app, client, world, referenceNumber="owner-1", **period)
    await queue.run_until_idle()
    before, cursor = await new_events(client, headers, None)
    assert [e["type"] for e in before] == ["mandate.requested", "mandate.approved"]
    delivered = len(before)
    assert len(receiver.requests) == delivered

    async def day(at: datetime) -> list[tuple[str, int]]:
        """The job runs on this day, through the queue; the events it published."""
        nonlocal cursor
        queue.clock = lambda: at
        assert await enqueue_daily(queue) is not None
        await queue.run_until_idle()
        events, cursor = await new_events(client, headers, cursor)
        return [(e["type"], e["data"]["mandate_id"]) for e in events]

    # Day 15: the landlord's silence is a refusal; the owner's mandate is not due yet.
    assert await day(started + timedelta(days=15)) == [("mandate.rejected", tenant_mandate)]
    # Three months before the end: ToBeRenewed. Run twice that day: nothing more happens.
    renewal_day = end - timedelta(days=90)
    assert await day(renewal_day) == [("mandate.renewal_status_changed", owners)]
    assert await day(renewal_day + timedelta(hours=1)) == []
    # The day after the end: expired, finished.
    assert await day(end + timedelta(hours=1)) == [("mandate.finished", owners)]
    assert await day(end + timedelta(hours=2)) == []

    mandate = (await client.get(f"/api/v1/mandates/{owners}", headers=headers)).json()
    assert (mandate["status"], mandate["renewal_status"]) == ("finished", "expired")
    assert mandate["finished_reason"] == "expired"
    rejected = (await client.get(f"/api/v1/mandates/{tenant_mandate}", headers=headers)).json()
    assert rejected["status"] == "rejected"
    # Each of those events reached the ESP's webhook, signed. They were sent at the job's
    # clock (days ahead), so the signature is checked without the five-minute freshness
    # rule of `Webhook.verify`.
    assert len(receiver.requests) == delivered + 3
    webhook = Webhook(secret)
    received = []
    for request in receiver.requests[delivered:]:
        sent_at = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
        expected = webhook.sign(request.headers["webhook-id"], sent_at, request.body.decode())
        assert request.headers["webhook-signature"] == expected
        received.append(json.loads(request.body))
    assert [(m["type"], m["data"]["mandate_id"]) for m in received] == [
        ("mandate.rejected", tenant_mandate),
        ("mandate.renewal_status_changed", owners),
        ("mandate.finished", owners),
    ]
    assert received[-1]["data"]["renewal_status"] == "expired"
    assert await queue.jobs() == []
