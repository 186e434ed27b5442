"""The whole consent story from an ESP backend's point of view, as issue 4 tells it.

ESP A opens a consent session on the Fluvius face (bearer token and subscription key); a
tenant, who is not the grid user, approves two EANs on the consent pages; both mandates
are `Requested` on both faces; the landlord (the grid user) approves one co-consent and
rejects the other; ESP A sees both outcomes by polling both faces, in the change feed and
on a real local webhook receiver (signatures verified). ESP B, with a webhook of its own,
sees none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from datahub_api.jobs import JobQueue
from datahub_api.settings import Settings

from ..support.consent_world import (
    ConsentWorld,
    browser_login,
    consent_request,
    field,
    log_in,
    make_consent_world,
)
from ..support.environment import make_settings
from ..support.parties import Esp, auth_headers
from ..support.webhook_receiver import Receiver, running_receiver

REFERENCE = "story-42"


@pytest.fixture
def receiver_a() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def receiver_b() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def settings(receiver_a: Receiver, receiver_b: Receiver) -> Settings:
    return make_settings(
        require_subscription_key=True,
        webhook_allowed_hosts=[receiver_a.host, receiver_b.host],
        webhook_allowed_ports=[receiver_a.port, receiver_b.port],
    )


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


class Backend:
    """An ESP's backend: a bearer token for both faces, plus the subscription key on /v3."""

    def __init__(self, client: httpx.AsyncClient, esp: Esp, bearer: dict[str, str], key: str):
        self.client = client
        self.esp = esp
        self.native = bearer
        self.v3 = {**bearer, "Ocp-Apim-Subscription-Key": key}

    @classmethod
    async def of(cls, client: httpx.AsyncClient, esp: Esp) -> Backend:
        bearer = await auth_headers(client, esp)
        key = await client.get(
            f"/api/v1/contracts/{esp.contract_number}/subscription-key", headers=bearer
        )
        assert key.status_code == 200, key.text
        return cls(client, esp, bearer, key.json()["subscription_key"])

    async def v3_mandates(self, query: str = "") -> httpx.Response:
        return await self.client.get(f"/v3/api/mandate{query}", headers=self.v3)

    async def v3_statuses(self, query: str = "") -> dict[str, str]:
        response = await self.v3_mandates(query)
        assert response.status_code == 200, response.text
        mandates = response.json()["data"]["mandates"]
        assert {m["referenceNumber"] for m in mandates} == {REFERENCE}
        return {m["ean"]: m["status"] for m in mandates}

    async def native_mandates(self, etag: str | None = None) -> httpx.Response:
        headers = {**self.native, **({"If-None-Match": etag} if etag else {})}
        return await self.client.get("/api/v1/mandates", headers=headers)

    async def native_statuses(self) -> dict[str, str]:
        response = await self.native_mandates()
        assert response.status_code == 200, response.text
        return {m["ean"]: m["status"] for m in response.json()["items"]}

    async def events(self) -> list[dict[str, Any]]:
        response = await self.client.get("/api/v1/events", headers=self.native)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def register_webhook(self, receiver: Receiver) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "description": f"{self.esp.name} backend"},
            headers=self.native,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


async def customer_approves_on_the_consent_pages(
    app: FastAPI, username: str, identifier: str, eans: list[str]
) -> None:
    link = f"/consent/{identifier}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        assert (await browser.get(link)).headers["location"] == f"/portal/login?next={link}"
        logged_in = await browser_login(browser, username, link)
        assert logged_in.headers["location"] == link
        page = await browser.get(link)
        assert page.status_code == 200
        for ean in eans:
            assert ean in page.text
        decided = await browser.post(
            link,
            data={
                "csrf_token": field(page.text, "csrf_token"),
                "decision": "approve",
                "eans": eans,
            },
        )
        assert decided.status_code == 303, decided.text
        assert decided.headers["location"] == "https://esp.example/consent/ok"


async def test_the_whole_story_on_both_faces_the_feed_and_webhooks(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: ConsentWorld,
    receiver_a: Receiver,
    receiver_b: Receiver,
) -> None:
    queue: JobQueue = app.state.jobs
    esp_a = await Backend.of(client, world.esp_a)
    esp_b = await Backend.of(client, world.esp_b)
    hook_a = await esp_a.register_webhook(receiver_a)
    hook_b = await esp_b.register_webhook(receiver_b)
    etag_b = (await esp_b.native_mandates()).headers["etag"]

    # ESP A asks for consent on the Fluvius face; the subscription key is required there.
    body = consent_request(world.esp_a, referenceNumber=REFERENCE, numberOfEans=2)
    without_key = await client.post("/v3/api/shortUrlIdentifier", json=body, headers=esp_a.native)
    assert without_key.status_code == 401
    opened = await client.post("/v3/api/shortUrlIdentifier", json=body, headers=esp_a.v3)
    assert opened.status_code == 200, opened.text
    assert opened.json()["data"]["status"] == "success"
    identifier = opened.json()["data"]["shortUrlIdentifier"]

    # The tenant (the landlord is the grid user of both EANs) approves both on the pages.
    first, second = world.tenant_eans
    await customer_approves_on_the_consent_pages(
        app, world.tenant.username, identifier, [first, second]
    )

    # Requested on both faces, waiting for the grid user.
    assert await esp_a.v3_statuses() == {first: "Requested", second: "Requested"}
    requested = await esp_a.native_mandates()
    assert {m["ean"]: m["status"] for m in requested.json()["items"]} == {
        first: "requested",
        second: "requested",
    }
    assert all(m["waiting_for_grid_user"] for m in requested.json()["items"])
    mandate_of = {m["ean"]: m["id"] for m in requested.json()["items"]}
    etag = requested.headers["etag"]
    assert (await esp_a.native_mandates(etag)).status_code == 304

    # The landlord approves the first co-consent and rejects the second.
    landlord = await log_in(app, world.landlord)
    try:
        inbox = (await landlord.get("/api/v1/co-consents")).json()
        task_of = {task["ean"]: task["id"] for task in inbox}
        assert set(task_of) == {first, second}
        for ean, decision in ((first, "approve"), (second, "reject")):
            answered = await landlord.post(
                f"/api/v1/co-consents/{task_of[ean]}/decision", json={"decision": decision}
            )
            assert answered.status_code == 200, answered.text
    finally:
        await landlord.aclose()

    # ESP A polls both faces: the ETag moved, and both outcomes are there.
    changed = await esp_a.native_mandates(etag)
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert await esp_a.native_statuses() == {first: "approved", second: "rejected"}
    assert await esp_a.v3_statuses() == {first: "Approved", second: "Rejected"}
    assert await esp_a.v3_statuses("?status=Approved") == {first: "Approved"}
    assert await esp_a.v3_statuses("?status=Rejected") == {second: "Rejected"}

    # The change feed has the whole story in order, each event naming EAN and reference.
    feed = await esp_a.events()
    story = [
        ("mandate.requested", first),
        ("mandate.requested", second),
        ("mandate.approved", first),
        ("mandate.rejected", second),
    ]
    assert sorted(
        (e["type"], e["data"]["ean"]) for e in feed if e["type"] == "mandate.requested"
    ) == sorted(story[:2])
    assert [(e["type"], e["data"]["ean"]) for e in feed[2:]] == story[2:]
    assert [e["position"] for e in feed] == [1, 2, 3, 4]
    assert {e["data"]["reference_number"] for e in feed} == {REFERENCE}
    assert all(e["data"]["mandate_id"] == mandate_of[e["data"]["ean"]] for e in feed)

    # The same events reach ESP A's webhook receiver, signed with its secret.
    await queue.run_until_idle()
    assert len(receiver_a.requests) == len(feed)
    webhook = Webhook(hook_a["secret"])
    received = [webhook.verify(r.body, r.headers) for r in receiver_a.requests]
    assert sorted(
        (m["event_id"], m["type"], m["data"]["ean"], m["data"]["reference_number"])
        for m in received
    ) == [(e["id"], e["type"], e["data"]["ean"], REFERENCE) for e in feed]
    assert {r.headers["webhook-id"] for r in receiver_a.requests} == {
        f"evt_{e['id']}" for e in feed
    }
    with pytest.raises(Exception, match="signature"):
        Webhook(hook_b["secret"]).verify(
            receiver_a.requests[0].body, receiver_a.requests[0].headers
        )
    log = await client.get(f"/api/v1/webhooks/{hook_a['id']}/deliveries", headers=esp_a.native)
    assert [d["status"] for d in log.json()["items"]] == ["succeeded"] * len(feed)

    # ESP B saw none of it: no session, no mandates, no events, no webhook traffic.
    await assert_esp_b_saw_nothing(
        client, esp_b, identifier, list(mandate_of.values()), hook_a["id"], hook_b["id"], etag_b
    )
    assert receiver_b.requests == []
    log_b = await client.get(f"/api/v1/webhooks/{hook_b['id']}/deliveries", headers=esp_b.native)
    assert log_b.json()["items"] == []


async def assert_esp_b_saw_nothing(
    client: httpx.AsyncClient,
    esp_b: Backend,
    identifier: str,
    mandate_ids: list[int],
    hook_a_id: int,
    hook_b_id: int,
    etag_before: str,
) -> None:
    """Each of ESP A's things answers ESP B exactly as something that does not exist."""

    async def same_as_missing(template: str, theirs_id: str, missing_id: str) -> None:
        theirs = await client.get(template.format(theirs_id), headers=esp_b.native)
        nothing = await client.get(template.format(missing_id), headers=esp_b.native)
        assert theirs.status_code == nothing.status_code == 404, template
        detail = nothing.json()["detail"].replace(missing_id, theirs_id)
        assert theirs.json()["detail"] == detail, template

    await same_as_missing("/api/v1/consent-sessions/{}", identifier, "unknown-id")
    for mandate_id in mandate_ids:
        await same_as_missing("/api/v1/mandates/{}", str(mandate_id), "999999")
        terminated = await client.post(
            f"/api/v1/mandates/{mandate_id}/terminate", headers=esp_b.native
        )
        assert terminated.status_code == 404
    await same_as_missing("/api/v1/webhooks/{}", str(hook_a_id), "999999")
    await same_as_missing("/api/v1/webhooks/{}/deliveries", str(hook_a_id), "999999")
    for query in ("", f"?referenceNumber={REFERENCE}", "?status=Approved"):
        v3 = await esp_b.v3_mandates(query)
        assert v3.status_code == 404, query
        assert v3.json()["type"] == "MandatesNotFoundException"
    assert (await esp_b.native_mandates()).json()["items"] == []
    # ESP A's changes never moved ESP B's ETag.
    assert (await esp_b.native_mandates(etag_before)).status_code == 304
    assert await esp_b.events() == []
    hooks = await client.get("/api/v1/webhooks", headers=esp_b.native)
    assert [hook["id"] for hook in hooks.json()["items"]] == [hook_b_id]
