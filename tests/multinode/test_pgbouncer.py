"""The API behind PgBouncer in transaction mode (``DATAHUB_DATABASE_POOLED``), with its
listeners and job queue on ``DATAHUB_DIRECT_DATABASE_URL``.

PgBouncer (Debian's package) runs in front of the test's primary with 4 server connections
(``replication.py``), so the transactions of the app's many connections share them: a
prepared statement kept on a server connection, or a LISTEN made through the pooler, would
break here.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from datahub_api.app import create_app
from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.db import create_database, libpq_url
from datahub_api.jobs import JobQueue
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.versions import MandateVersions
from datahub_api.settings import Settings

from ..support.consent_world import make_consent_world, owner_mandate
from ..support.database import truncate_all_tables
from ..support.environment import TEST_KEY_ENCRYPTION_KEY, free_port, make_settings
from ..support.meter_data import csv_body, day_rows
from ..support.nodes import node_env, start_api_node, stop_node, wait_ready
from ..support.parties import auth_headers, make_esp, make_machine_client, reload_grants
from ..support.replication import ReplicatedCluster
from ..support.waiting import until

pytestmark = pytest.mark.skipif(
    shutil.which("pgbouncer") is None,
    reason="PgBouncer is not installed (Debian package `pgbouncer`; .ci/run installs it)",
)

JUNE_MONDAY = date(2026, 6, 1)


@pytest.fixture
async def pooled_app(
    replicated_cluster: ReplicatedCluster, request: pytest.FixtureRequest
) -> AsyncIterator[FastAPI]:
    """The app on PgBouncer, its listeners and job queue on the primary itself; with the
    parameter ``"replica reads"``, reading from the replica too (the whole topology)."""
    cluster = replicated_cluster
    assert cluster.pgbouncer_url is not None
    await truncate_all_tables(cluster.primary.url)
    replica_reads = getattr(request, "param", "") == "replica reads"
    settings = make_settings(
        database_pooled=True,
        direct_database_url=cluster.primary.url,
        read_database_url=cluster.replica.url if replica_reads else None,
    )
    app = create_app(settings, database_url=cluster.pgbouncer_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def pooled_client(pooled_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=pooled_app), base_url="http://node"
    ) as client:
        yield client


@pytest.mark.parametrize("pooled_app", ["primary reads", "replica reads"], indirect=True)
async def test_the_api_works_through_pgbouncer_in_transaction_mode(
    replicated_cluster: ReplicatedCluster, pooled_app: FastAPI, pooled_client: httpx.AsyncClient
) -> None:
    app, client = pooled_app, pooled_client
    world = await make_consent_world(app, client)  # tokens, organisations, access points
    mandate_id = await owner_mandate(app, client, world)
    esp = await auth_headers(client, world.esp_a)
    mandates = await client.get("/api/v1/mandates", headers=esp)
    assert mandates.status_code == 200, mandates.text
    assert [item["id"] for item in mandates.json()["items"]] == [mandate_id]
    etag = mandates.headers["etag"]
    again = await client.get("/api/v1/mandates", headers={**esp, "If-None-Match": etag})
    assert again.status_code == 304

    head_end = await auth_headers(client, await make_machine_client(app, Role.head_end))
    ingested = await client.post(
        "/api/v1/ingest/meter-readings",
        content=csv_body(day_rows(world.owner_ean, JUNE_MONDAY)),
        headers={**head_end, "Content-Type": "text/csv"},
    )
    assert ingested.status_code == 200, ingested.text
    read = await client.get(
        f"/api/v1/access-points/{world.owner_ean}/meter-data",
        params={"from": "2026-06-01", "to": "2026-06-02", "granularity": "PT15M"},
        headers=esp,
    )
    assert read.status_code == 200, read.text
    as_csv = await client.get(
        f"/api/v1/access-points/{world.owner_ean}/meter-data",
        params={"from": "2026-06-01", "to": "2026-06-02", "granularity": "PT15M"},
        headers={**esp, "Accept": "text/csv"},
    )
    assert as_csv.status_code == 200, as_csv.text
    assert len(as_csv.text.splitlines()) > 96
    streamed = await client.post(
        "/api/v1/meter-data/query",
        json={
            "eans": [world.owner_ean, *world.tenant_eans],
            "from": "2026-06-01",
            "to": "2026-06-02",
            "granularity": "PT15M",
        },
        headers=esp,
    )
    assert streamed.status_code == 200, streamed.text
    assert len(streamed.content.splitlines()) == 3  # the owner's series, two refusals

    # Many requests at once over 4 server connections: each transaction takes any of them.
    answers = await asyncio.gather(
        *(
            client.get(f"/api/v1/mandates/{mandate_id}", headers=esp)
            if n % 2
            else client.get("/api/v1/events", headers=esp)
            for n in range(40)
        )
    )
    assert [answer.status_code for answer in answers] == [200] * 40

    # The job queue (on the direct URL) runs what the requests deferred.
    jobs: JobQueue = app.state.jobs
    await jobs.run_until_idle()
    if app.state.settings.read_database_url:
        served = app.state.metrics.registry.get_sample_value(
            "datahub_db_read_sessions_total", {"server": "replica", "reason": "caught_up"}
        )
        assert served, "no read went to the replica"


async def test_listeners_hear_changes_committed_through_pgbouncer(
    replicated_cluster: ReplicatedCluster, pooled_app: FastAPI, pooled_client: httpx.AsyncClient
) -> None:
    """The mandate versions listener is on the direct URL; a change committed by another
    process through PgBouncer (no after-commit hook) reaches it by NOTIFY."""
    app, client = pooled_app, pooled_client
    versions: MandateVersions = app.state.mandate_versions

    async def listening() -> bool:
        return versions._listening

    await until(listening, "the listener connected")
    world = await make_consent_world(app, client)
    mandate_id = await owner_mandate(app, client, world)
    esp = await auth_headers(client, world.esp_a)
    etag = (await client.get("/api/v1/mandates", headers=esp)).headers["etag"]
    poll = {**esp, "If-None-Match": etag}
    assert (await client.get("/api/v1/mandates", headers=poll)).status_code == 304
    other_process = create_database(
        replicated_cluster.pgbouncer_url or "", app.state.settings, direct_url=None
    )
    caller = Principal(
        subject="other-process",
        role=Role.esp,
        scopes=ESP_SCOPES,
        organisation_id=world.esp_a.organisation_id,
    )
    try:
        async with other_process.write_sessions() as session:
            await mandates_service.terminate(session, caller, mandate_id)
            await session.commit()
    finally:
        await other_process.dispose()

    async def seen() -> bool:
        return (await client.get("/api/v1/mandates", headers=poll)).status_code == 200

    await until(seen, "the change committed through PgBouncer was heard")
    await reload_grants(app)


def test_a_pooled_url_needs_a_direct_one() -> None:
    with pytest.raises(ValidationError, match="DATAHUB_DIRECT_DATABASE_URL"):
        Settings(database_url="postgresql://pgbouncer/datahub", database_pooled=True)


async def test_a_serve_process_takes_the_topology_from_its_environment(
    replicated_cluster: ReplicatedCluster,
    pooled_app: FastAPI,
    pooled_client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    """`datahub-api serve` with DATABASE_URL on PgBouncer, the direct URL, and two read
    URLs (the replica, and one where no server answers): it starts, issues a token, lists
    mandates and reads, and its metrics show reads on the replica."""
    cluster = replicated_cluster
    esp = await make_esp(pooled_app, "Topology ESP")
    env = node_env(cluster.pgbouncer_url or "", TEST_KEY_ENCRYPTION_KEY, tmp_path / "data")
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/datahub"
    env |= {
        "DATAHUB_DATABASE_POOLED": "true",
        "DATAHUB_DIRECT_DATABASE_URL": libpq_url(cluster.primary.url),
        "DATAHUB_READ_DATABASE_URL": f"{nobody}, {libpq_url(cluster.replica.url)}",
        "DATAHUB_METRICS_TOKEN": "scraper",
    }
    node = start_api_node(env, tmp_path)
    try:
        await asyncio.to_thread(wait_ready, node)
        async with node.client() as client:
            headers = await auth_headers(client, esp)
            for _ in range(3):
                listed = await client.get("/api/v1/mandates", headers=headers)
                assert listed.status_code == 200, listed.text
            metrics = await client.get("/metrics", headers={"Authorization": "Bearer scraper"})
        served = [
            line
            for line in metrics.text.splitlines()
            if line.startswith('datahub_db_read_sessions_total{reason="caught_up"')
        ]
        assert served, metrics.text
        assert "did not answer" in node.log.read_text()
    finally:
        stop_node(node)
