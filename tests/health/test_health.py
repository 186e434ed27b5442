"""Liveness, readiness (with its failure reasons), metrics and request ids."""

from __future__ import annotations

import ipaddress

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from datahub_api.app import create_app
from datahub_api.errors import install_error_handlers
from datahub_api.schema_migrations import head_revision, known_revisions
from datahub_api.settings import Settings

from ..support.database import create_scratch_database
from ..support.environment import make_settings, scrape_metrics


async def test_healthz_answers_without_touching_the_database() -> None:
    # An app pointed at a port where nothing listens: liveness must still say ok.
    app = create_app(make_settings(), database_url="postgresql://nobody@127.0.0.1:1/none")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_when_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migration": head_revision()}


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    app = create_app(make_settings(), database_url="postgresql://nobody@127.0.0.1:1/none")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    assert "database unreachable" in response.json()["detail"]


async def test_readyz_is_503_when_migrations_are_not_at_head(server_url: str) -> None:
    empty = await create_scratch_database(server_url, "unmigrated")
    app = create_app(make_settings(), database_url=empty)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == f"database schema is at nothing, expected {head_revision()}"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    hostile = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"


async def test_metrics_count_requests_per_route_template(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.get("/healthz")
    await client.get("/api/v1/no-such-thing/123")
    response = await scrape_metrics(app, client)
    assert response.status_code == 200
    body = response.text
    assert 'datahub_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in body
    assert 'route="unmatched",status="404"' in body
    assert "no-such-thing" not in body  # raw paths never become labels
    assert "datahub_http_request_duration_seconds_bucket" in body


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/totally/unknown"])
async def test_unknown_routes_are_problem_json(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert problem["title"] == "Not Found"
    assert problem["instance"] == path
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_oversized_bodies_are_refused_with_413(client: httpx.AsyncClient) -> None:
    big = b"x" * (10 * 1024 * 1024 + 1)
    response = await client.post("/api/v1/anything", content=big)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "exceeds" in response.json()["detail"]


@pytest.mark.parametrize(
    ("driver_error", "status"),
    [
        (asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"), 503),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), 503),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), 503),
        (asyncpg.exceptions.UndefinedColumnError("column x does not exist"), 500),
    ],
)
async def test_a_server_going_away_is_503_whatever_class_the_driver_gives_it(
    driver_error: Exception, status: int
) -> None:
    """asyncpg's "shutting down" reaches us as a plain DBAPIError (not an OperationalError):
    the SQLSTATE of the driver's error decides, so it is a 503 with Retry-After, not a 500."""
    app = FastAPI()
    install_error_handlers(app)

    class AdapterError(Exception):
        sqlstate = None

    @app.get("/api/v1/boom")
    async def boom() -> None:
        adapter = AdapterError(str(driver_error))
        adapter.__cause__ = driver_error
        raise DBAPIError("SELECT 1", None, adapter)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get("/api/v1/boom")
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert ("retry-after" in answer.headers) is (status == 503)


async def test_metrics_are_not_public_by_default(app: FastAPI, client: httpx.AsyncClient) -> None:
    refused = await client.get("/metrics")
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "datahub_http_requests_total" not in refused.text
    app.state.settings.metrics_token = SecretStr("the-scraper-secret")
    for wrong in ("Bearer nope", "Basic the-scraper-secret", "Bearer the-scraper-secre"):
        answer = await client.get("/metrics", headers={"Authorization": wrong})
        assert answer.status_code == 403, wrong
    good = await client.get("/metrics", headers={"Authorization": "Bearer the-scraper-secret"})
    assert good.status_code == 200
    assert "datahub_http_requests_total" in good.text


async def test_metrics_for_named_networks(app: FastAPI) -> None:
    """The direct peer's address decides, never a forwarded-for header."""

    async def scrape(peer: str, **headers: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(peer, 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return (await client.get("/metrics", headers=headers)).status_code

    app.state.settings.metrics_allowed_networks = [
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("2001:db8::7/128"),
    ]
    assert await scrape("10.1.2.3") == 200
    assert await scrape("2001:db8::7") == 200
    assert await scrape("10.2.0.1") == 403
    assert await scrape("10.2.0.1", **{"X-Forwarded-For": "10.1.2.3"}) == 403
    assert await scrape("2001:db8::8") == 403


def test_metrics_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAHUB_METRICS_ALLOWED_NETWORKS", '["10.0.0.0/8", "::1"]')
    monkeypatch.setenv("DATAHUB_METRICS_TOKEN", "s3cret")
    settings = Settings()
    assert ipaddress.ip_address("10.9.9.9") in settings.metrics_allowed_networks[0]
    assert ipaddress.ip_address("::1") in settings.metrics_allowed_networks[1]
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "s3cret"


async def test_readyz_stays_ready_on_a_newer_releases_schema_and_not_on_an_older_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A rolling upgrade migrates first (expand), then replaces the nodes: the old nodes
    must stay in the balancer's rotation on the newer schema, and a node newer than its
    database must not take traffic."""
    head = head_revision()
    older = sorted(known_revisions() - {head})[0]
    try:
        for revision, status in (("9999_a_newer_release", 200), (older, 503)):
            async with app.state.database.write_sessions() as session:
                await session.execute(
                    text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
                )
                await session.commit()
            answer = await client.get("/readyz")
            assert answer.status_code == status, (revision, answer.text)
        assert answer.json()["detail"] == f"database schema is at {older}, expected {head}"
    finally:
        async with app.state.database.write_sessions() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
            await session.commit()
