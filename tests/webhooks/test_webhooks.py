"""Webhooks: registration and its SSRF refusals, signed deliveries to a real local
receiver, retries with backoff, 410, the delivery log, test messages, secret rotation, the
sweeper, and isolation between ESPs on every route."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from standardwebhooks import Webhook

from datahub_api.audit.models import AuditRecord
from datahub_api.events.event_types import MANDATE_APPROVED, MANDATE_REQUESTED
from datahub_api.events.service import publish
from datahub_api.jobs import JobQueue, commit, retry_stalled_jobs
from datahub_api.settings import Settings
from datahub_api.webhooks import delivery as delivery_module
from datahub_api.webhooks.models import DeliveryStatus, WebhookDelivery
from datahub_api.webhooks.targets import TargetRefused, refusal_reason, resolve_target
from datahub_api.webhooks.tasks import sweep_overdue_deliveries

from ..support.environment import make_settings
from ..support.parties import Esp, auth_headers, make_esp
from ..support.webhook_receiver import Receiver, running_receiver

# Long enough that a slow first queue run (a loaded CI machine) does not reach the retry.
RETRY_WAIT_SECONDS = 3.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def settings(receiver: Receiver) -> Settings:
    return make_settings(
        webhook_allowed_hosts=[receiver.host],
        webhook_allowed_ports=[receiver.port],
        webhook_retry_schedule_seconds=[RETRY_WAIT_SECONDS, RETRY_WAIT_SECONDS],
        webhook_timeout_seconds=5.0,
    )


@pytest.fixture
def queue(app: FastAPI) -> JobQueue:
    jobs: JobQueue = app.state.jobs
    return jobs


@pytest.fixture
async def esp_a(app: FastAPI) -> Esp:
    return await make_esp(app, "Hook ESP A")


@pytest.fixture
async def esp_b(app: FastAPI) -> Esp:
    return await make_esp(app, "Hook ESP B")


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/webhooks", json={"url": url, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def publish_one(
    app: FastAPI, organisation_id: int, event_type: str = MANDATE_APPROVED, **payload: Any
) -> int:
    async with app.state.database.write_sessions() as session:
        event = await publish(
            session,
            organisation_id,
            event_type,
            payload or {"mandate_id": 1, "ean": "541448820000000017"},
        )
        await commit(session, app.state.jobs)
    return event.id


async def deliveries(app: FastAPI) -> list[WebhookDelivery]:
    async with app.state.database.read_sessions() as session:
        return list(
            (await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
        )


def spec_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks algorithm, written out independently of the service."""
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


# --- registration and SSRF ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://esp.example/hook", "https"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://localhost/hook", "loopback"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:10.0.0.1]/hook", "private"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://user:pw@esp.example/hook", "user name"),
        ("ftp://esp.example/hook", "https"),
        ("not a url", "https"),
    ],
)
async def test_registration_refuses_unsafe_targets(
    client: httpx.AsyncClient, esp_a: Esp, url: str, reason: str
) -> None:
    headers = await auth_headers(client, esp_a)
    response = await client.post("/api/v1/webhooks", json={"url": url}, headers=headers)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


def test_address_rules() -> None:
    refused = ["100.64.0.1", "240.0.0.1", "172.16.5.4", "127.8.8.8", "fc00::1", "ff02::1", "::"]
    for address in refused:
        assert refusal_reason(ipaddress.ip_address(address)) is not None, address
    for address in ["93.184.215.14", "2a00:1450:4001:80b::200e"]:
        assert refusal_reason(ipaddress.ip_address(address)) is None, address


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:7::",  # 6to4 of 10.0.0.7
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::c0a8:101",  # local-use NAT64 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::10.0.0.1",  # IPv4-compatible
    ],
)
def test_ipv6_wrappings_of_internal_addresses_are_refused(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is not None, address


def test_ipv6_wrappings_of_public_addresses_follow_the_public_rules() -> None:
    # 6to4 of a public address is an ordinary route to it.
    assert refusal_reason(ipaddress.ip_address("2002:5db8:d70e::1")) is None


async def test_only_port_443_unless_a_setting_allows_others() -> None:
    async def public(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("93.184.215.14")]

    for url in ("https://hooks.esp.example:8443/x", "https://hooks.esp.example:22/x"):
        with pytest.raises(TargetRefused, match="port 443"):
            await resolve_target(url, [], public)
    # An allow-listed host still needs its port allowed.
    with pytest.raises(TargetRefused, match="port 443"):
        await resolve_target("http://127.0.0.1:8080/x", ["127.0.0.1:8080"], public)
    allowed = await resolve_target("https://hooks.esp.example:8443/x", [], public, [8443])
    assert allowed.target.port == 8443
    default = await resolve_target("https://hooks.esp.example:443/x", [], public)
    assert default.target.host_header == "hooks.esp.example"


async def test_registration_refuses_a_nat64_wrapped_loopback(
    client: httpx.AsyncClient, esp_a: Esp
) -> None:
    headers = await auth_headers(client, esp_a)
    for url in ("https://[64:ff9b::7f00:1]/hook", "https://[2002:7f00:1::1]/hook"):
        response = await client.post("/api/v1/webhooks", json={"url": url}, headers=headers)
        assert response.status_code == 422, response.text
        assert "loopback" in response.json()["detail"]
    response = await client.post(
        "/api/v1/webhooks", json={"url": "https://93.184.215.14:8443/hook"}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert "port 443" in response.json()["detail"]


async def test_names_are_checked_after_resolution() -> None:
    async def resolves_to(*addresses: str) -> Any:
        async def resolver(host: str, port: int) -> list[Any]:
            return [ipaddress.ip_address(a) for a in addresses]

        return resolver

    public = await resolve_target(
        "https://hooks.esp.example/x", [], await resolves_to("93.184.215.14")
    )
    assert str(public.address) == "93.184.215.14"
    assert public.target.host_header == "hooks.esp.example"
    # One private address among public ones is enough to refuse (DNS answers vary).
    with pytest.raises(TargetRefused, match="private"):
        await resolve_target(
            "https://hooks.esp.example/x", [], await resolves_to("93.184.215.14", "10.0.0.7")
        )

    async def no_such_host(host: str, port: int) -> list[Any]:
        raise OSError("Name or service not known")

    with pytest.raises(TargetRefused, match="does not resolve"):
        await resolve_target("https://nowhere.esp.example/x", [], no_such_host)


async def test_allow_list_admits_a_local_receiver(
    client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver
) -> None:
    headers = await auth_headers(client, esp_a)
    created = await register(
        client, headers, receiver.url, event_types=[MANDATE_APPROVED], description="backend"
    )
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) == 32
    assert created["event_types"] == [MANDATE_APPROVED]
    assert created["enabled"] is True
    read = await client.get(f"/api/v1/webhooks/{created['id']}", headers=headers)
    assert read.status_code == 200
    assert "secret" not in read.json()
    # The allow-list names host and port: another port on the same host is still refused.
    other_port = receiver.url.replace(str(receiver.port), str(receiver.port + 1))
    refused = await client.post("/api/v1/webhooks", json={"url": other_port}, headers=headers)
    assert refused.status_code == 422
    unknown_type = await client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "event_types": ["x.y"]}, headers=headers
    )
    assert unknown_type.status_code == 422


# --- delivery -----------------------------------------------------------------------


async def test_an_event_reaches_the_receiver_signed(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    event_id = await publish_one(
        app, esp_a.organisation_id, mandate_id=42, ean="541448820000000017"
    )
    await queue.run_until_idle()

    [request] = receiver.requests
    assert request.path == "/hooks/datahub"
    assert request.headers["webhook-id"] == f"evt_{event_id}"
    assert request.headers["content-type"] == "application/json"
    # Verified by the standardwebhooks package...
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["type"] == MANDATE_APPROVED
    assert payload["data"] == {"mandate_id": 42, "ean": "541448820000000017"}
    assert payload["event_id"] == event_id
    assert payload["position"] == 1
    # ...and by the spec's algorithm written out here.
    assert request.headers["webhook-signature"] == spec_signature(
        endpoint["secret"],
        request.headers["webhook-id"],
        request.headers["webhook-timestamp"],
        request.body,
    )
    # A wrong secret does not verify.
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(
            request.body, request.headers
        )

    log = (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    ).json()
    [entry] = log["items"]
    assert entry["status"] == "succeeded"
    assert entry["event_id"] == event_id
    [attempt] = entry["attempts"]
    assert attempt["status_code"] == 204
    assert attempt["outcome"] == "succeeded"
    assert attempt["error"] is None
    assert attempt["duration_ms"] >= 0


async def test_only_subscribed_and_enabled_endpoints_get_events(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    approved_only = await register(client, headers, receiver.url, event_types=[MANDATE_APPROVED])
    await register(client, headers, receiver.url, enabled=False)
    await publish_one(app, esp_a.organisation_id, MANDATE_REQUESTED)
    await publish_one(app, esp_a.organisation_id, MANDATE_APPROVED)
    await queue.run_until_idle()
    assert [json.loads(r.body)["type"] for r in receiver.requests] == [MANDATE_APPROVED]
    assert [d.endpoint_id for d in await deliveries(app)] == [approved_only["id"]]


async def test_a_failed_delivery_is_retried_after_the_backoff(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    receiver.statuses = [500]
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    assert len(receiver.requests) == 1
    [pending] = await deliveries(app)
    assert pending.status is DeliveryStatus.pending
    assert pending.attempts == 1
    log = (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    ).json()
    [first] = log["items"][0]["attempts"]
    assert (first["status_code"], first["outcome"], first["error"]) == (500, "retry", "HTTP 500")
    attempted = datetime.fromisoformat(first["attempted_at"])
    assert pending.next_attempt_at is not None
    wait = (pending.next_attempt_at - attempted).total_seconds()
    assert wait == pytest.approx(RETRY_WAIT_SECONDS, abs=0.01)
    # The retry is a job scheduled for then, not before.
    [job] = await queue.jobs("todo")
    assert job["scheduled_at"] == pending.next_attempt_at

    await asyncio.sleep(RETRY_WAIT_SECONDS + 0.1)
    await queue.run_until_idle()
    assert len(receiver.requests) == 2
    first_request, second_request = receiver.requests
    assert first_request.headers["webhook-id"] == second_request.headers["webhook-id"]
    Webhook(endpoint["secret"]).verify(second_request.body, second_request.headers)
    [done] = await deliveries(app)
    assert done.status is DeliveryStatus.succeeded
    log = (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    ).json()
    assert [
        (a["attempt"], a["status_code"], a["outcome"]) for a in log["items"][0]["attempts"]
    ] == [
        (1, 500, "retry"),
        (2, 204, "succeeded"),
    ]


async def test_a_delivery_is_given_up_after_the_schedule(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    queue.settings = queue.settings.model_copy(update={"webhook_retry_schedule_seconds": [0.0]})
    receiver.statuses = [503, 302]
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    # The redirect was not followed: two requests, both to the endpoint's own path.
    assert [r.path for r in receiver.requests] == ["/hooks/datahub", "/hooks/datahub"]
    [given_up] = await deliveries(app)
    assert given_up.status is DeliveryStatus.failed
    log = (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    ).json()
    attempts = log["items"][0]["attempts"]
    assert [(a["status_code"], a["outcome"]) for a in attempts] == [(503, "retry"), (302, "failed")]
    assert "redirects are not followed" in attempts[1]["error"]
    assert await queue.jobs("todo") == []
    assert await queue.jobs("failed") == []


def test_the_default_schedule_spans_about_three_days() -> None:
    schedule = Settings.model_construct().webhook_retry_schedule_seconds
    total = timedelta(seconds=sum(schedule))
    assert timedelta(days=2.8) < total < timedelta(days=3.2)
    assert list(schedule) == sorted(schedule)
    assert delivery_module.retry_delay(schedule, 1) == timedelta(seconds=5)
    assert delivery_module.retry_delay(schedule, len(schedule)) == timedelta(hours=20)
    assert delivery_module.retry_delay(schedule, len(schedule) + 1) is None


async def test_410_gone_disables_the_endpoint(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    receiver.statuses = [410]
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    read = (await client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=headers)).json()
    assert read["enabled"] is False
    assert read["disabled_reason"] == "gone"
    [gone] = await deliveries(app)
    assert gone.status is DeliveryStatus.failed
    log = (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    ).json()
    assert [(a["status_code"], a["outcome"]) for a in log["items"][0]["attempts"]] == [
        (410, "disabled")
    ]
    # Later events are not delivered to it...
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    assert len(receiver.requests) == 1
    assert len(await deliveries(app)) == 1
    # ...until the ESP enables it again.
    enabled = await client.patch(
        f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": True}, headers=headers
    )
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    assert len(receiver.requests) == 2


async def test_test_message_goes_out_from_the_request(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    sent = await client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=headers)
    assert sent.status_code == 202, sent.text
    # Queued by the request's after-commit hook.
    assert [job["task_name"] for job in await queue.jobs("todo")] == ["webhooks.deliver"]
    await queue.run_until_idle()
    [request] = receiver.requests
    assert request.headers["webhook-id"] == sent.json()["message_id"]
    body = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert body["type"] == "webhook.test"
    assert body["data"]["endpoint_id"] == endpoint["id"]
    # Test messages are not in the feed.
    feed = (await client.get("/api/v1/events", headers=headers)).json()
    assert feed["items"] == []
    log = (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    ).json()
    assert log["items"][0]["event_id"] is None
    assert log["items"][0]["status"] == "succeeded"


async def test_rotated_secret_signs_alongside_the_old_one(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    rotated = await client.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"]
    assert rotated.json()["previous_secret_valid_until"] is not None
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(endpoint["secret"]).verify(request.body, request.headers)


async def test_disabling_cancels_pending_deliveries_and_delete_removes_the_log(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    await publish_one(app, esp_a.organisation_id)
    changed = await client.patch(
        f"/api/v1/webhooks/{endpoint['id']}",
        json={"enabled": False, "description": "paused", "event_types": [MANDATE_REQUESTED]},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "paused"
    assert changed.json()["event_types"] == [MANDATE_REQUESTED]
    await queue.run_until_idle()
    assert receiver.requests == []
    [cancelled] = await deliveries(app)
    assert cancelled.status is DeliveryStatus.cancelled

    bad_url = await client.patch(
        f"/api/v1/webhooks/{endpoint['id']}", json={"url": "https://10.0.0.1/x"}, headers=headers
    )
    assert bad_url.status_code == 422
    deleted = await client.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=headers)
    ).status_code == 404
    assert await deliveries(app) == []


async def test_each_change_of_an_endpoint_is_in_the_audit_trail(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver
) -> None:
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    path = f"/api/v1/webhooks/{endpoint['id']}"
    assert (await client.patch(path, json={"description": "x"}, headers=headers)).status_code == 200
    assert (await client.post(f"{path}/rotate-secret", headers=headers)).status_code == 200
    assert (await client.post(f"{path}/test", headers=headers)).status_code == 202
    assert (await client.delete(path, headers=headers)).status_code == 204
    async with app.state.database.read_sessions() as session:
        rows = await session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action.like("webhook.%"), AuditRecord.target == str(endpoint["id"]))
            .order_by(AuditRecord.id)
        )
        records = [(r.action, r.actor, r.outcome) for r in rows]
    assert records == [
        (action, esp_a.client_id, "ok")
        for action in (
            "webhook.register",
            "webhook.change",
            "webhook.rotate_secret",
            "webhook.delete",
        )
    ]


async def test_delivery_time_check_refuses_a_target_no_longer_allowed(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    endpoint = await register(client, headers, receiver.url)
    queue.settings = queue.settings.model_copy(update={"webhook_allowed_hosts": []})
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    assert receiver.requests == []
    log = (
        await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=headers)
    ).json()
    [attempt] = log["items"][0]["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused target")
    assert attempt["outcome"] == "retry"


async def test_the_sweeper_queues_deliveries_whose_job_was_lost(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    await register(client, headers, receiver.url)
    # Committed without the after-commit hooks: as if the process died right after COMMIT.
    async with app.state.database.write_sessions() as session:
        await publish(session, esp_a.organisation_id, MANDATE_APPROVED, {"mandate_id": 5})
        await session.commit()
    await queue.run_until_idle()
    assert receiver.requests == []
    # Not overdue by the grace period yet: the sweeper leaves it alone.
    assert await sweep_overdue_deliveries(queue) == 0
    later = datetime.now(UTC) + timedelta(seconds=queue.settings.webhook_sweep_grace_seconds + 5)
    queue.clock = lambda: later
    assert await sweep_overdue_deliveries(queue) == 1
    assert await sweep_overdue_deliveries(queue) == 0  # one job waiting per delivery
    await queue.run_until_idle()
    [request] = receiver.requests
    assert json.loads(request.body)["data"] == {"mandate_id": 5}


async def test_duplicate_jobs_deliver_once(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    headers = await auth_headers(client, esp_a)
    await register(client, headers, receiver.url)
    await publish_one(app, esp_a.organisation_id)
    [planned] = await deliveries(app)
    await queue.run_until_idle()
    # A stray extra job for the same delivery (say, from a sweep racing the first job).
    await queue.defer("webhooks.deliver", delivery_id=planned.id)
    await queue.run_until_idle()
    assert len(receiver.requests) == 1


# --- isolation ----------------------------------------------------------------------


async def test_an_esp_never_reaches_another_esps_webhooks(
    app: FastAPI,
    client: httpx.AsyncClient,
    esp_a: Esp,
    esp_b: Esp,
    receiver: Receiver,
    queue: JobQueue,
) -> None:
    a = await auth_headers(client, esp_a)
    b = await auth_headers(client, esp_b)
    theirs = await register(client, a, receiver.url)
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    unknown = 987654321
    routes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/v1/webhooks/{id}", None),
        ("PATCH", "/api/v1/webhooks/{id}", {"description": "mine now"}),
        ("DELETE", "/api/v1/webhooks/{id}", None),
        ("POST", "/api/v1/webhooks/{id}/rotate-secret", None),
        ("POST", "/api/v1/webhooks/{id}/test", None),
        ("GET", "/api/v1/webhooks/{id}/deliveries", None),
    ]
    for method, template, body in routes:
        other = await client.request(method, template.format(id=theirs["id"]), json=body, headers=b)
        nothing = await client.request(method, template.format(id=unknown), json=body, headers=b)
        assert other.status_code == nothing.status_code == 404, (method, template)
        assert other.json()["title"] == nothing.json()["title"]
    assert (await client.get("/api/v1/webhooks", headers=b)).json()["items"] == []
    assert (await client.get("/api/v1/events", headers=b)).json()["items"] == []
    # A's endpoint is untouched and got exactly its one delivery.
    mine = (await client.get(f"/api/v1/webhooks/{theirs['id']}", headers=a)).json()
    assert mine["description"] is None
    assert len(receiver.requests) == 1
    # B's events never go to A's endpoint.
    await publish_one(app, esp_b.organisation_id)
    await queue.run_until_idle()
    assert len(receiver.requests) == 1


async def test_webhook_routes_need_the_webhooks_scope(
    client: httpx.AsyncClient, esp_a: Esp, bearer: Any
) -> None:
    from datahub_api.auth.principal import Role, Scope

    headers = bearer(Role.esp, [Scope.mandates_read], organisation_id=esp_a.organisation_id)
    assert (await client.get("/api/v1/webhooks", headers=headers)).status_code == 403
    refused = await client.post(
        "/api/v1/webhooks", json={"url": "https://x.example/"}, headers=headers
    )
    assert refused.status_code == 403


async def test_list_endpoints_pages_with_etags(
    client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver
) -> None:
    headers = await auth_headers(client, esp_a)
    ids = [(await register(client, headers, receiver.url))["id"] for _ in range(3)]
    first = await client.get("/api/v1/webhooks", params={"limit": 2}, headers=headers)
    assert [e["id"] for e in first.json()["items"]] == ids[:2]
    rest = await client.get(
        "/api/v1/webhooks", params={"cursor": first.json()["next_cursor"]}, headers=headers
    )
    assert [e["id"] for e in rest.json()["items"]] == ids[2:]
    assert rest.json()["next_cursor"] is None
    cached = await client.get(
        "/api/v1/webhooks",
        params={"limit": 2},
        headers={**headers, "If-None-Match": first.headers["etag"]},
    )
    assert cached.status_code == 304


async def test_registration_is_idempotent_with_a_key(
    client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver
) -> None:
    headers = {**(await auth_headers(client, esp_a)), "Idempotency-Key": "hook-1"}
    first = await client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=headers)
    again = await client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    listed = await client.get("/api/v1/webhooks", headers=headers)
    assert len(listed.json()["items"]) == 1


async def test_a_job_of_a_dead_worker_is_run_again(
    app: FastAPI, client: httpx.AsyncClient, esp_a: Esp, receiver: Receiver, queue: JobQueue
) -> None:
    """A worker that dies mid-job leaves it `doing` and holding its delivery's lock; the
    every-minute recovery task puts it back once the worker's heartbeat is old."""
    headers = await auth_headers(client, esp_a)
    await register(client, headers, receiver.url)
    await publish_one(app, esp_a.organisation_id)
    connector = queue.app.connector
    dead = await connector.execute_query_one_async(
        "SELECT procrastinate_register_worker_v1() AS id"
    )
    await connector.execute_query_async(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '10 minutes' "
        "WHERE id = %(id)s",
        id=dead["id"],
    )
    await connector.execute_query_async(
        "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(id)s "
        "WHERE task_name = 'webhooks.deliver'",
        id=dead["id"],
    )
    await queue.run_until_idle()
    assert receiver.requests == []  # stuck: nobody runs a `doing` job
    assert await retry_stalled_jobs(queue) == 1
    await queue.run_until_idle()
    assert len(receiver.requests) == 1
    [done] = await deliveries(app)
    assert done.status is DeliveryStatus.succeeded


async def test_deliveries_wait_while_the_organisation_is_suspended(
    app: FastAPI,
    client: httpx.AsyncClient,
    esp_a: Esp,
    receiver: Receiver,
    queue: JobQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A suspended ESP receives nothing but the news of its suspension; what happened
    meanwhile goes out once it is resumed, no attempt used up."""
    from datahub_api.db import commit_and_run_hooks
    from datahub_api.organisations import service as organisations_service

    monkeypatch.setattr(delivery_module, "SUSPENDED_HOLD", timedelta(seconds=1.5))
    headers = await auth_headers(client, esp_a)
    await register(client, headers, receiver.url)
    async with app.state.database.write_sessions() as session:
        await organisations_service.suspend(session, "test", esp_a.enterprise_number, "audit")
        await commit_and_run_hooks(session, app)
    await publish_one(app, esp_a.organisation_id)
    await queue.run_until_idle()
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["organisation.suspended"]
    held = [d for d in await deliveries(app) if d.event_type == MANDATE_APPROVED]
    assert [(d.status, d.attempts) for d in held] == [(DeliveryStatus.pending, 0)]

    async with app.state.database.write_sessions() as session:
        await organisations_service.resume(session, "test", esp_a.enterprise_number)
        await commit_and_run_hooks(session, app)
    await asyncio.sleep(1.6)
    await queue.run_until_idle()
    types = [json.loads(r.body)["type"] for r in receiver.requests]
    assert sorted(types) == sorted(
        ["organisation.suspended", "organisation.resumed", MANDATE_APPROVED]
    )
    [sent] = [d for d in await deliveries(app) if d.event_type == MANDATE_APPROVED]
    assert (sent.status, sent.attempts) == (DeliveryStatus.succeeded, 1)
