"""Graceful shutdown: an API node sent SIGTERM in a rolling restart finishes the request in
flight, answers `/readyz` 503 while it drains so the load balancer takes it out, then stops
taking connections; a request that outlasts the bound is cut off and the node still ends.

The slow request is real: it waits on a table the test holds locked, as a request stuck
behind a long transaction would.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from datahub_api.settings import Settings

from ..support.environment import make_settings
from ..support.nodes import PUBLIC_URL, Node, deployment_env, start_api_node, wait_ready
from ..support.parties import auth_headers, make_esp
from ..support.waiting import until

WEBHOOKS = "/api/v1/webhooks"  # reads webhook_endpoints, the table the test holds


@pytest.fixture
def settings() -> Settings:
    return make_settings(public_base_url=PUBLIC_URL)


async def test_a_draining_app_answers_readyz_503_and_closes_connections(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "close" not in ready.headers.get("connection", "")
    app.state.drain.begin()
    draining = await client.get("/readyz")
    assert draining.status_code == 503
    assert draining.json()["detail"] == "draining: this node is shutting down"
    assert draining.headers["retry-after"]
    alive = await client.get("/healthz")
    assert alive.status_code == 200  # still answers while the balancer takes it out
    assert alive.headers["connection"] == "close"


async def lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        )
        return int(found.scalar() or 0)


async def hold_webhook_endpoints(connection: AsyncConnection) -> None:
    await connection.execute(text("LOCK TABLE webhook_endpoints IN ACCESS EXCLUSIVE MODE"))


async def readyz(node: Node) -> int | None:
    """``/readyz`` on a new connection, as a load balancer's health check asks it; None when
    the node takes no connection."""
    try:
        async with node.client() as http:
            return (await http.get("/readyz", timeout=5)).status_code
    except httpx.TransportError:
        return None


async def start_node(
    clean_database: str, tmp_path: Path, nodes: list[Node], **settings: str
) -> Node:
    env = deployment_env(clean_database, tmp_path / "data", tmp_path / "exports", **settings)
    node = start_api_node(env, tmp_path)
    nodes.append(node)
    await asyncio.to_thread(wait_ready, node)
    return node


def ended(process: subprocess.Popen[bytes]) -> Callable[[], Awaitable[int | None]]:
    """The process's exit code, once it has ended."""

    async def exit_code() -> int | None:
        return process.poll()

    return exit_code


async def test_sigterm_finishes_the_request_in_flight_and_answers_not_ready_while_draining(
    app: FastAPI,
    client: httpx.AsyncClient,
    clean_database: str,
    engine: AsyncEngine,
    nodes: list[Node],
    tmp_path: Path,
) -> None:
    esp = await make_esp(app, "Rolling Restart ESP")
    headers = await auth_headers(client, esp)
    node = await start_node(
        clean_database,
        tmp_path,
        nodes,
        shutdown_delay_seconds="4",
        shutdown_timeout_seconds="20",
    )
    async with engine.connect() as holder, node.client() as slow_client:
        await hold_webhook_endpoints(holder)
        slow = asyncio.create_task(slow_client.get(WEBHOOKS, headers=headers, timeout=60))

        async def in_flight() -> bool:
            return await lock_waiters(engine) > 0

        await until(in_flight, "the slow request waiting on its table", 20)

        node.process.send_signal(signal.SIGTERM)

        async def not_ready() -> bool:
            return await readyz(node) == 503

        await until(not_ready, "/readyz answering 503", 3)
        async with node.client() as http:
            meanwhile = await http.get("/healthz")
        assert meanwhile.status_code == 200  # the delay: still served, told to go away
        assert meanwhile.headers["connection"] == "close"

        async def refused() -> bool:
            return await readyz(node) is None

        await until(refused, "new connections refused", 10)
        assert not slow.done(), "the request in flight is still being answered"
        assert node.process.poll() is None
        await holder.rollback()  # the long transaction ends: the request can finish

        answer = await slow
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == []

    code = await until(ended(node.process), "the node to end", 20)
    assert code in (0, -signal.SIGTERM)  # uvicorn ends by the signal it was sent
    log = node.log.read_text()
    assert "Traceback" not in log, log


async def test_a_request_outlasting_the_shutdown_bound_is_cut_off_and_the_node_ends(
    app: FastAPI,
    client: httpx.AsyncClient,
    clean_database: str,
    engine: AsyncEngine,
    nodes: list[Node],
    tmp_path: Path,
) -> None:
    esp = await make_esp(app, "Stuck Request ESP")
    headers = await auth_headers(client, esp)
    node = await start_node(
        clean_database,
        tmp_path,
        nodes,
        shutdown_delay_seconds="0",
        shutdown_timeout_seconds="2",
    )
    async with engine.connect() as holder, node.client() as slow_client:
        await hold_webhook_endpoints(holder)
        slow = asyncio.create_task(slow_client.get(WEBHOOKS, headers=headers, timeout=60))

        async def in_flight() -> bool:
            return await lock_waiters(engine) > 0

        await until(in_flight, "the stuck request waiting on its table", 20)
        node.process.send_signal(signal.SIGTERM)
        # The bound (2 s) and the app's shutdown, never the stuck request's 60 s.
        code = await until(ended(node.process), "the node to end within its bound", 15)
        assert code in (0, -signal.SIGTERM)
        # Cut off: the connection closed under it, or (when uvicorn cancels the request
        # before it began to answer) uvicorn's own 500, and the connection closed.
        try:
            answer = await slow
        except httpx.TransportError:
            pass
        else:
            assert answer.status_code == 500
            assert answer.headers["connection"] == "close"
        await holder.rollback()
    assert "timeout graceful shutdown exceeded" in node.log.read_text()


async def test_serve_with_several_workers_drains_each_of_them(
    clean_database: str, nodes: list[Node], tmp_path: Path
) -> None:
    """`serve --workers 2`: SIGTERM to the node reaches both worker processes, and each
    answers `/readyz` 503 while it drains."""
    env = deployment_env(
        clean_database,
        tmp_path / "data",
        tmp_path / "exports",
        shutdown_delay_seconds="6",
        shutdown_timeout_seconds="5",
    )
    node = start_api_node(env, tmp_path, "--workers", "2")
    nodes.append(node)
    await asyncio.to_thread(wait_ready, node)
    node.process.send_signal(signal.SIGTERM)

    async def all_not_ready() -> bool:
        answers = [await readyz(node) for _ in range(6)]  # new connections: either worker
        return set(answers) == {503}

    await until(all_not_ready, "/readyz answering 503 on every worker", 5)
    code = await until(ended(node.process), "the node to end", 20)
    assert code in (0, -signal.SIGTERM)
