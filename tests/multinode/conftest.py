"""Fixtures of the scale-out tests that start servers of their own: the replicated cluster,
the test's own engine on the shared database, the nodes and workers a test starts (stopped
after it), and a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..support.nodes import (
    Node,
    Worker,
    stop_node,
)
from ..support.replication import (
    ReplicatedCluster,
    missing_servers_reason,
    replicated_cluster_fixture,
)
from ..support.webhook_receiver import Receiver, running_receiver


@pytest.fixture(scope="session")
def replicated_cluster() -> Iterator[ReplicatedCluster]:
    """A migrated PostgreSQL primary with a streaming replica (and PgBouncer, if installed),
    shared by the session's tests; skipped, saying why, without the server binaries."""
    reason = missing_servers_reason()
    if reason is not None:
        pytest.skip(reason)
    yield from replicated_cluster_fixture()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def engine(clean_database: str) -> AsyncIterator[AsyncEngine]:
    """The test's own look at the database the processes share."""
    engine = create_async_engine(clean_database)
    yield engine
    await engine.dispose()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        stop_node(node)
