"""Abuse the other tests leave out: bodies over the limit without a Content-Length, the
bounds of every list and period, injection in filters, SSRF through names that resolve to
loopback and DNS rebinding at delivery, and session fixation at login.

(Rate limits, JWT attacks and CSRF are in tests/auth/test_oauth.py and
tests/accounts/test_login.py; the isolation matrix in tests/test_isolation_matrix.py.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.access_points.ean import make_ean
from datahub_api.accounts.models import AccountRole
from datahub_api.webhooks import delivery
from datahub_api.webhooks.targets import IPAddress

from .support.consent_world import ConsentWorld, browser_login, make_consent_world, make_person
from .support.environment import make_settings
from .support.parties import auth_headers
from .support.reading_world import mandate
from .support.webhook_receiver import running_receiver

# --- body size -----------------------------------------------------------------------------


async def _chunks(total: int, size: int = 1 << 20) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"[" * piece


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


@pytest.mark.parametrize("path", ["/api/v1/webhooks", "/v3/api/shortUrlIdentifier"])
async def test_a_streamed_body_over_the_limit_is_413_without_a_content_length(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, path: str
) -> None:
    """A chunked body announces no size: it is counted as it arrives and cut off at the
    limit (10 MiB by default), not read into memory whole."""
    headers = await auth_headers(client, world.esp_a)
    # Not the suite's client: it holds /v3 answers to the Fluvius spec, which lists no 413
    # (it leaves body limits to the gateway in front of the API).
    plain = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    async with plain:
        response = await plain.post(
            path,
            content=_chunks(10 * 1024 * 1024 + 1),
            headers={**headers, "Content-Type": "application/json"},
        )
    assert response.status_code == 413, response.text
    assert "content-length" not in response.request.headers
    if path.startswith("/v3"):
        assert response.json()["code"]
    else:
        assert response.headers["content-type"] == "application/problem+json"


# --- bounds of lists and periods ---------------------------------------------------------


# No rate limit in the way; a short JSON window (the default, 1100 days, is longer than
# any mandate of the test world).
UNLIMITED = make_settings(rate_limit_requests=10**6, meter_data_json_max_days=31)


@pytest.mark.parametrize("settings", [UNLIMITED])
async def test_every_list_and_period_is_bounded(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    esp = await auth_headers(client, world.esp_a)
    too_many = [make_ean(7_000_000 + n) for n in range(201)]
    refused: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/mandates", {"params": {"limit": 1001}}),
        ("GET", "/api/v1/mandates", {"params": {"cursor": "x" * 501}}),
        ("GET", "/api/v1/events", {"params": {"limit": 1001}}),
        ("GET", "/api/v1/events", {"params": {"types": "a," * 1001}}),
        ("GET", "/api/v1/meter-data/changes", {"params": {"limit": 1001}}),
        ("GET", "/api/v1/webhooks", {"params": {"limit": 100_000}}),
        ("POST", "/api/v1/meter-data/query",
         {"json": {"eans": too_many, "from": "2026-01-01", "to": "2026-01-02",
                   "granularity": "P1D"}}),
        ("POST", "/api/v1/meter-data/query",
         {"json": {"eans": [ean], "from": "2025-01-01", "to": "2026-01-03",
                   "granularity": "P1D"}}),
        ("GET", f"/api/v1/access-points/{ean}/meter-data",
         {"params": {"from": "2025-02-01", "to": "2026-06-01", "format": "json"}}),
        ("GET", "/api/v1/sla/report",
         {"params": {"channel": "api", "from": "2025-01-01", "to": "2026-03-01"}}),
    ]  # fmt: skip
    for method, path, kwargs in refused:
        response = await client.request(method, path, headers=esp, **kwargs)
        assert response.status_code in (413, 422), (path, kwargs, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # The same calls at their bound are answered.
    at_bound: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/mandates", {"params": {"limit": 1000}}),
        ("GET", "/api/v1/events", {"params": {"limit": 1000}}),
        ("POST", "/api/v1/meter-data/query",
         {"json": {"eans": too_many[:200], "from": "2026-01-01", "to": "2026-01-02",
                   "granularity": "P1D"}}),
        ("POST", "/api/v1/meter-data/query",
         {"json": {"eans": [ean], "from": "2026-01-01", "to": "2027-01-01",
                   "granularity": "P1D"}}),
    ]  # fmt: skip
    for method, path, kwargs in at_bound:
        response = await client.request(method, path, headers=esp, **kwargs)
        assert response.status_code == 200, (path, response.text)


# --- injection in filters ------------------------------------------------------------------

INJECTIONS = [
    "%",
    "_",
    "%%",
    "*",
    ".*",
    "\\",
    "' OR '1'='1",
    "1' OR 1=1 --",
    "x'; DROP TABLE mandates; --",
    "') OR ('a'='a",
    "ref%",
    "$where",
    '{"$ne": null}',
]


NATIVE_MANDATE_FILTERS = [
    "reference_number", "ean", "data_service_type", "energy_type", "status", "renewal_status",
    "expiring_by", "updated_since", "channel", "cursor",
]  # fmt: skip
V3_MANDATE_FILTERS = [
    "referenceNumber", "ean", "dataServiceTypes", "energyType", "status",
    "mandateExpirationDate", "renewalStatus", "lastUpdatedFrom", "lastUpdatedTo",
]  # fmt: skip


@pytest.mark.parametrize("settings", [UNLIMITED])
async def test_injection_in_filters_matches_nothing_and_breaks_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    """Wildcards and SQL in filters are values, never patterns or code: they match what a
    value that matches nothing matches, and the data is still there afterwards."""
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean, reference="ref-injection")
    esp = await auth_headers(client, world.esp_a)
    native_filters = NATIVE_MANDATE_FILTERS
    v3_filters = V3_MANDATE_FILTERS
    for value in INJECTIONS:
        for name in native_filters:
            answer = await client.get("/api/v1/mandates", params={name: value}, headers=esp)
            assert answer.status_code in (200, 422), (name, value, answer.text)
            if answer.status_code == 200:
                assert answer.json()["items"] == [], (name, value)
        for name in v3_filters:
            answer = await client.get("/v3/api/mandate", params={name: value}, headers=esp)
            assert answer.status_code in (400, 404), (name, value, answer.text)
        events = await client.get("/api/v1/events", params={"types": value}, headers=esp)
        assert events.status_code in (200, 422), events.text
        changes = await client.get(
            "/api/v1/meter-data/changes", params={"after": value}, headers=esp
        )
        assert changes.status_code in (200, 422), changes.text
        energy = await client.get(
            "/v3/api/mandate/energy",
            params={"ean": value, "periodType": "readTime", "referenceNumber": value},
            headers=esp,
        )
        assert energy.status_code in (400, 404), energy.text
        operator_list = await client.get(
            "/api/v1/access-points",
            params={"energy_type": value, "meter_type": value, "cursor": value},
            headers=world.operator_headers,
        )
        assert operator_list.status_code == 422, operator_list.text
    # Everything is still there.
    mine = await client.get("/api/v1/mandates", headers=esp)
    assert [m["reference_number"] for m in mine.json()["items"]] == ["ref-injection"]
    exact = await client.get(
        "/api/v1/mandates", params={"reference_number": "ref-injection"}, headers=esp
    )
    assert len(exact.json()["items"]) == 1


# --- SSRF through names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://LOCALHOST/hook",
        "https://localhost./hook",
        "https://2130706433/hook",  # 127.0.0.1 as one number
        "https://0x7f000001/hook",
        "https://0177.0.0.1/hook",  # octal
        "https://127.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[0:0:0:0:0:0:0:1]/hook",
        "https://ip6-localhost/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_names_that_resolve_to_loopback_are_refused(
    client: httpx.AsyncClient, world: ConsentWorld, url: str
) -> None:
    """Hosts that are not IP literals go through the system resolver; whatever they
    resolve to is checked (or they do not resolve, which is refused too)."""
    headers = await auth_headers(client, world.esp_a)
    response = await client.post("/api/v1/webhooks", json={"url": url}, headers=headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    # metadata.google.internal resolves (to link-local 169.254.169.254) only on GCP.
    assert any(reason in detail for reason in ("loopback", "link-local", "does not resolve")), (
        detail
    )


async def test_dns_rebinding_at_delivery_time_is_refused() -> None:
    """A name that was public at registration and resolves to loopback at delivery: the
    delivery checks the answer it connects to, and resolves once (no second lookup for the
    connection that a rebinding server could answer differently)."""
    with running_receiver() as receiver:
        lookups: list[str] = []

        async def rebinding(host: str, port: int) -> list[IPAddress]:
            lookups.append(host)
            return [ipaddress.ip_address("127.0.0.1")]

        rules = delivery.DeliveryRules(
            timeout_seconds=5,
            allowed_hosts=(),
            retry_schedule_seconds=(1,),
            resolver=rebinding,
            allowed_ports=(receiver.port,),
        )
        result = await delivery.post(
            f"https://hooks.esp.example:{receiver.port}/hook", b"{}", {}, rules
        )
        assert result.status_code is None
        assert result.error is not None
        assert "loopback" in result.error
        assert receiver.requests == []
        assert lookups == ["hooks.esp.example"]

        answers = iter(["93.184.215.14", "127.0.0.1"])

        async def flipping(host: str, port: int) -> list[IPAddress]:
            lookups.append(host)
            return [ipaddress.ip_address(next(answers))]

        lookups.clear()
        rules = delivery.DeliveryRules(
            timeout_seconds=1,
            allowed_hosts=(),
            retry_schedule_seconds=(1,),
            resolver=flipping,
            allowed_ports=(receiver.port,),
        )
        await delivery.post(f"https://hooks.esp.example:{receiver.port}/hook", b"{}", {}, rules)
        assert lookups == ["hooks.esp.example"]  # the checked address is the one used
        assert receiver.requests == []


# --- session fixation ------------------------------------------------------------------------

PLANTED = "attacker-chosen-session-id"


async def test_login_never_keeps_a_session_id_it_was_handed(app: FastAPI) -> None:
    from .support.consent_world import PASSWORD

    victim = await make_person(app, "victim.user", AccountRole.customer)
    attacker = await make_person(app, "attacker.user", AccountRole.customer)
    transport = httpx.ASGITransport(app=app)

    # The attacker's own valid session, planted in the victim's browser.
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as attacker_browser:
        logged = await attacker_browser.post(
            "/api/v1/auth/login", json={"username": attacker.username, "password": PASSWORD}
        )
        attacker_session = logged.cookies["datahub_session"]

    for planted in (PLANTED, attacker_session):
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", cookies={"datahub_session": planted}
        ) as browser:
            response = await browser.post(
                "/api/v1/auth/login", json={"username": victim.username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            issued = response.cookies["datahub_session"]
            assert issued != planted
            me = await browser.get("/api/v1/auth/me")
            assert me.json()["username"] == victim.username
        # The planted id never became the victim's session.
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", cookies={"datahub_session": planted}
        ) as fixer:
            me = await fixer.get("/api/v1/auth/me")
            if planted == PLANTED:
                assert me.status_code == 401
            else:
                assert me.json()["username"] == attacker.username

    # The portal's login form issues a fresh session too.
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", cookies={"datahub_session": PLANTED}
    ) as browser:
        answer = await browser_login(browser, victim.username, "/portal/")
        assert answer.status_code in (200, 303), answer.text
        issued_cookie = answer.cookies.get("datahub_session")
        assert issued_cookie
        issued = issued_cookie
        assert issued != PLANTED


# --- days are YYYY-MM-DD only ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1700000000", "2026-1-5", "20260105"])
async def test_a_number_is_not_a_day(
    client: httpx.AsyncClient, world: ConsentWorld, value: str
) -> None:
    """Pydantic's lax mode reads a number as a Unix timestamp (0 is 1970-01-01); a day
    enters only as YYYY-MM-DD (found by schemathesis: `communicating_on=0` was answered)."""
    listed = await client.get(
        "/api/v1/access-points",
        params={"communicating_on": value},
        headers=world.operator_headers,
    )
    assert listed.status_code == 422, listed.text
    esp = await auth_headers(client, world.esp_a)
    report = await client.get(
        "/api/v1/sla/report",
        params={"channel": "api", "from": value, "to": "2026-02-01"},
        headers=esp,
    )
    assert report.status_code == 422, report.text
    contract = await client.post(
        "/api/v1/contracts", json={"channels": ["api"], "valid_from": 0}, headers=esp
    )
    assert contract.status_code == 422, contract.text
    good = await client.get(
        "/api/v1/access-points",
        params={"communicating_on": "2026-01-05"},
        headers=world.operator_headers,
    )
    assert good.status_code == 200, good.text
