"""The ``history_export.ready`` webhook reaches the requesting ESP's real local receiver,
signed, with the export's id and checksum; another ESP's receiver gets nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from datahub_api.settings import Settings

from ..support.environment import make_settings
from ..support.history_export_world import (
    EXPORTS,
    entry,
    make_export_world,
    request_export,
    run_jobs,
)
from ..support.webhook_receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def settings(receiver: Receiver, tmp_path: Path) -> Settings:
    return make_settings(
        webhook_allowed_hosts=[receiver.host],
        webhook_allowed_ports=[receiver.port],
        history_export_dir=tmp_path / "exports",
    )


async def test_the_ready_webhook_reaches_the_requesting_esp(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    world = await make_export_world(app, client)
    endpoints = {}
    for name, headers in (("a", world.a), ("b", world.b)):
        response = await client.post(
            "/api/v1/webhooks",
            json={"url": f"{receiver.url}/{name}", "event_types": ["history_export.ready"]},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        endpoints[name] = response.json()
    created = (await request_export(client, world.a, [entry(world.nps.owner_ean)])).json()
    await run_jobs(app)
    ready = (await client.get(f"{EXPORTS}/{created['id']}", headers=world.a)).json()
    [request] = receiver.requests
    assert request.path.endswith("/a")
    payload = Webhook(endpoints["a"]["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "history_export.ready"
    assert payload["data"]["history_export_id"] == created["id"]
    assert payload["data"]["sha256"] == ready["sha256"]
