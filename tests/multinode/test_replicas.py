"""Reads on streaming replicas (``DATAHUB_READ_DATABASE_URL``): two API nodes on a primary
and its replica, both built by the test (``replication.py``).

The rule under test: a read sees every change committed before it began, whichever node
committed it. So with the replica's replay paused (``pg_wal_replay_pause()``), a caller
still sees its own write at once on either node, and an event in the change feed is never
followed by an ETag poll that lacks the change: those reads are served by the primary,
with a metric and a log line. A replica that is down degrades to the primary the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from datahub_api.app import create_app
from datahub_api.auth.principal import Role
from datahub_api.db import PrimaryPosition
from datahub_api.jobs import JobQueue
from datahub_api.mandates.versions import MandateVersions

from ..support.access_point_data import fresh_ean
from ..support.consent_world import (
    ConsentWorld,
    make_consent_world,
    owner_mandate,
    put_access_point,
)
from ..support.database import truncate_all_tables
from ..support.environment import make_settings
from ..support.parties import auth_headers, make_machine_client, reload_grants
from ..support.replication import ReplicatedCluster
from ..support.waiting import until
from ..support.webhook_receiver import Receiver

MAX_WAIT_SECONDS = 0.2


@dataclass
class Node:
    app: FastAPI
    client: httpx.AsyncClient

    def reads(self, server: str, reason: str) -> float:
        """How many read sessions this node served on ``server`` for ``reason``."""
        value = self.app.state.metrics.registry.get_sample_value(
            "datahub_db_read_sessions_total", {"server": server, "reason": reason}
        )
        return float(value or 0.0)

    def lag_bytes(self, replica: str) -> float:
        value = self.app.state.metrics.registry.get_sample_value(
            "datahub_db_replica_lag_bytes", {"replica": replica}
        )
        return float(value or 0.0)


def replica_name(cluster: ReplicatedCluster) -> str:
    return f"127.0.0.1:{cluster.replica.port}/datahub"


@pytest.fixture
async def nodes(
    replicated_cluster: ReplicatedCluster, receiver: Receiver
) -> AsyncIterator[list[Node]]:
    """Two API nodes reading from the replica, on a primary emptied for the test."""
    cluster = replicated_cluster
    await truncate_all_tables(cluster.primary.url)
    settings = make_settings(
        read_database_url=cluster.replica.url,
        read_replica_max_wait_seconds=MAX_WAIT_SECONDS,
        read_replica_retry_seconds=5.0,
        webhook_allowed_hosts=[receiver.host],
        webhook_allowed_ports=[receiver.port],
    )
    async with AsyncExitStack() as stack:
        started: list[Node] = []
        for _ in range(2):
            app = create_app(settings, database_url=cluster.primary.url)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")
            )
            started.append(Node(app, client))
        yield started


async def replica_has_access_point(cluster: ReplicatedCluster, ean: str) -> bool:
    found = await cluster.sql(
        cluster.replica, f"SELECT count(*) FROM access_points WHERE ean = '{ean}'"
    )
    return bool(found)


async def test_reads_go_to_the_replica_once_it_has_replayed_the_primary(
    replicated_cluster: ReplicatedCluster, nodes: list[Node]
) -> None:
    node1, node2 = nodes
    operator = await make_machine_client(node1.app, Role.operator)
    headers = await auth_headers(node1.client, operator)
    ean = fresh_ean()
    await put_access_point(node1.client, headers, ean)
    await replicated_cluster.replica_caught_up()
    before = node2.reads("replica", "caught_up")
    answer = await node2.client.get(f"/api/v1/access-points/{ean}", headers=headers)
    assert answer.status_code == 200, answer.text
    assert node2.reads("replica", "caught_up") > before
    assert node2.lag_bytes(replica_name(replicated_cluster)) == 0


async def test_a_paused_replica_never_undoes_a_callers_write(
    replicated_cluster: ReplicatedCluster, nodes: list[Node], caplog: pytest.LogCaptureFixture
) -> None:
    cluster = replicated_cluster
    node1, node2 = nodes
    operator = await make_machine_client(node1.app, Role.operator)
    headers = await auth_headers(node1.client, operator)
    await reload_grants(node2.app)
    await cluster.pause_replay()
    try:
        ean = fresh_ean()
        await put_access_point(node1.client, headers, ean)
        assert not await replica_has_access_point(cluster, ean)  # the replica lacks it
        for node in (node1, node2):
            answer = await node.client.get(f"/api/v1/access-points/{ean}", headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["ean"] == ean
        assert node1.reads("primary", "lagging") >= 1
        assert node2.reads("primary", "lagging") >= 1
        assert node2.lag_bytes(replica_name(cluster)) > 0
        assert "had not replayed the primary's position" in caplog.text
        # A second write, read at once: still never undone.
        await put_access_point(node1.client, headers, ean, gvm=True)
        answer = await node2.client.get(f"/api/v1/access-points/{ean}", headers=headers)
        assert answer.json()["gvm"] is True
    finally:
        await cluster.resume_replay()
    # Replay resumed: the replica serves the reads again (at the latest after the next
    # probe, one read a second waiting for it).
    before = node2.reads("replica", "caught_up")

    async def served_by_the_replica() -> bool:
        answer = await node2.client.get(f"/api/v1/access-points/{ean}", headers=headers)
        assert answer.status_code == 200
        return node2.reads("replica", "caught_up") > before

    await until(served_by_the_replica, "the resumed replica served a read")


async def test_an_etag_poll_after_an_event_sees_the_change(
    replicated_cluster: ReplicatedCluster, nodes: list[Node]
) -> None:
    """An ESP polls node 2 with the ETag it had; a mandate approved on node 1 shows in the
    change feed, and the poll that follows it (on node 2, replica paused) sees it."""
    cluster = replicated_cluster
    node1, node2 = nodes
    world: ConsentWorld = await make_consent_world(node1.app, node1.client)
    await reload_grants(node2.app)
    versions: MandateVersions = node2.app.state.mandate_versions

    async def listening() -> bool:
        return versions._listening

    await until(listening, "node 2's mandate versions listener connected")
    esp = await auth_headers(node1.client, world.esp_a)
    listed = await node2.client.get("/api/v1/mandates", headers=esp)
    etag = listed.headers["etag"]
    assert listed.json()["items"] == []
    feed = await node2.client.get("/api/v1/events", headers=esp)
    cursor = feed.json()["next_cursor"]
    await cluster.pause_replay()
    try:
        mandate_id = await owner_mandate(node1.app, node1.client, world)
        assert not await cluster.sql(
            cluster.replica, f"SELECT count(*) FROM mandates WHERE id = {mandate_id}"
        )
        events = await node2.client.get("/api/v1/events", params={"after": cursor}, headers=esp)
        assert events.status_code == 200
        announced = [event["data"] for event in events.json()["items"]]
        assert any(data.get("mandate_id") == mandate_id for data in announced), announced
        poll = await node2.client.get("/api/v1/mandates", headers={**esp, "If-None-Match": etag})
        assert poll.status_code == 200
        assert [item["id"] for item in poll.json()["items"]] == [mandate_id]
        assert node2.reads("primary", "lagging") >= 1
    finally:
        await cluster.resume_replay()


async def test_a_read_after_a_webhook_sees_the_change_it_announced(
    replicated_cluster: ReplicatedCluster, nodes: list[Node], receiver: Receiver
) -> None:
    """A worker delivers ``mandate.approved`` for a change made on node 1; the ESP's
    backend, told by the webhook, reads the mandate on node 2 (replica paused): it is there."""
    cluster = replicated_cluster
    node1, node2 = nodes
    world: ConsentWorld = await make_consent_world(node1.app, node1.client)
    await reload_grants(node2.app)
    esp = await auth_headers(node1.client, world.esp_a)
    hook = await node1.client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=esp)
    assert hook.status_code == 201, hook.text
    await cluster.pause_replay()
    try:
        await owner_mandate(node1.app, node1.client, world)
        jobs: JobQueue = node1.app.state.jobs
        await jobs.run_until_idle()
        announced = [json.loads(request.body) for request in receiver.requests]
        approved = [body for body in announced if body["type"] == "mandate.approved"]
        assert approved, announced
        mandate_id = approved[0]["data"]["mandate_id"]
        assert not await cluster.sql(
            cluster.replica, f"SELECT count(*) FROM mandates WHERE id = {mandate_id}"
        )
        read = await node2.client.get(f"/api/v1/mandates/{mandate_id}", headers=esp)
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "approved"
    finally:
        await cluster.resume_replay()


async def test_a_replica_that_is_down_degrades_to_the_primary(
    replicated_cluster: ReplicatedCluster, nodes: list[Node], caplog: pytest.LogCaptureFixture
) -> None:
    cluster = replicated_cluster
    node1, node2 = nodes
    operator = await make_machine_client(node1.app, Role.operator)
    headers = await auth_headers(node1.client, operator)
    ean = fresh_ean()
    await put_access_point(node1.client, headers, ean)
    await cluster.replica_caught_up()
    warm = await node2.client.get(f"/api/v1/access-points/{ean}", headers=headers)
    assert warm.status_code == 200  # node 2 holds pooled connections to the replica
    caplog.set_level(logging.INFO, logger="datahub_api.db")
    cluster.replica.stop("immediate")
    try:
        for _ in range(3):
            answer = await node2.client.get(f"/api/v1/access-points/{ean}", headers=headers)
            assert answer.status_code == 200, answer.text
        assert node2.reads("primary", "unavailable") == 3
        assert "did not answer" in caplog.text
    finally:
        cluster.replica.start()
        await cluster.replica_caught_up()


async def test_concurrent_reads_share_one_position_query_that_follows_their_commits(
    replicated_cluster: ReplicatedCluster,
) -> None:
    """The position a read waits for is taken by a query that started after the read asked
    (so it covers every earlier commit), and reads asking together share that query."""
    cluster = replicated_cluster
    engine = create_async_engine(cluster.primary.url)
    position = PrimaryPosition(engine)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT txid_current()"))  # a commit in the WAL
        async with engine.connect() as connection:
            # Flushed by the time the commit returned (synchronous_commit is on).
            committed = await connection.scalar(
                text("SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')::bigint")
            )
        assert await position.current() >= committed
        before = position.queries
        answers = await asyncio.gather(*(position.current() for _ in range(50)))
        assert min(answers) >= committed
        assert position.queries - before <= 2
    finally:
        await engine.dispose()


async def test_a_read_url_that_names_no_replica_leaves_reads_on_the_primary(
    replicated_cluster: ReplicatedCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """A read URL naming a server that replays no WAL (here the primary itself, as a
    promoted replica would be) is left out, with a metric and a log line, not trusted."""
    cluster = replicated_cluster
    await truncate_all_tables(cluster.primary.url)
    settings = make_settings(read_database_url=cluster.primary.url)
    app = create_app(settings, database_url=cluster.primary.url)
    logging.getLogger().addHandler(caplog.handler)  # create_app set the root's handlers
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client,
    ):
        node = Node(app, client)
        operator = await make_machine_client(app, Role.operator)
        headers = await auth_headers(client, operator)
        for _ in range(2):
            listed = await client.get("/api/v1/access-points", headers=headers)
            assert listed.status_code == 200, listed.text
        assert node.reads("primary", "not_a_replica") >= 2
        assert node.reads("replica", "caught_up") == 0
    assert "is not a streaming replica" in caplog.text


async def test_a_restarted_replica_serves_again_at_once(
    replicated_cluster: ReplicatedCluster, nodes: list[Node]
) -> None:
    """The pooled connections a restart broke are replaced on the next read, which the
    replica serves: a restart is not taken for an outage."""
    cluster = replicated_cluster
    node1, node2 = nodes
    operator = await make_machine_client(node1.app, Role.operator)
    headers = await auth_headers(node1.client, operator)
    ean = fresh_ean()
    await put_access_point(node1.client, headers, ean)
    await cluster.replica_caught_up()
    assert (await node2.client.get(f"/api/v1/access-points/{ean}", headers=headers)).is_success
    cluster.replica.stop("fast")
    cluster.replica.start()
    await cluster.replica_caught_up()
    before = node2.reads("replica", "caught_up")
    # A replica just restarted may still be replaying when the read asks (MAX_WAIT_SECONDS is
    # short, and a loaded machine slow): that read goes to the primary as "lagging". What the
    # test holds is that the broken connections never mark the replica down (that would send
    # every read for read_replica_retry_seconds to the primary as "unavailable").
    for _ in range(5):
        answer = await node2.client.get(f"/api/v1/access-points/{ean}", headers=headers)
        assert answer.status_code == 200
        if node2.reads("replica", "caught_up") > before:
            break
        await cluster.replica_caught_up()
    assert node2.reads("replica", "caught_up") == before + 1
    assert node2.reads("primary", "unavailable") == 0
