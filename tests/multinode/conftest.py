"""Fixtures of the scale-out tests that start servers of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .replication import ReplicatedCluster, missing_servers_reason, replicated_cluster_fixture


@pytest.fixture(scope="session")
def replicated_cluster() -> Iterator[ReplicatedCluster]:
    """A migrated PostgreSQL primary with a streaming replica (and PgBouncer, if installed),
    shared by the session's tests; skipped, saying why, without the server binaries."""
    reason = missing_servers_reason()
    if reason is not None:
        pytest.skip(reason)
    yield from replicated_cluster_fixture()
