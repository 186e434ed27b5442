"""Two API nodes as separate processes on one database: each accepts what the other issued
(access tokens, session cookies with their CSRF tokens, consent links, paging cursors and
ETags), a key rotation by the CLI reaches both without a restart, and two nodes started at
the same moment on an empty database publish one key.

The nodes are ``datahub-api serve`` processes with data dirs of their own (nothing shared
through files), the same ``DATAHUB_KEY_ENCRYPTION_KEY`` and the same public base URL, as
behind a load balancer.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from jose import jwt
from pydantic import SecretStr

from datahub_api.app import create_app
from datahub_api.schema_migrations import upgrade_to_head

from ..support.consent_world import PASSWORD, ConsentWorld, field, make_consent_world, open_consent
from ..support.database import create_scratch_database
from ..support.environment import make_settings
from ..support.nodes import PUBLIC_URL, Node, node_env, start_api_node, stop_node, wait_ready
from ..support.parties import token


@dataclass
class Cluster:
    database_url: str
    env: dict[str, str]
    nodes: list[Node]
    jwks_at_start: list[dict[str, Any]]


def published_keys(node: Node) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{node.url}/.well-known/jwks.json").json()
    return answer


@pytest.fixture(scope="module")
async def cluster(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    """Two nodes started at the same moment on a freshly migrated, empty database."""
    url = await create_scratch_database(server_url, "nodes")
    await asyncio.to_thread(upgrade_to_head, url)
    folder = tmp_path_factory.mktemp("nodes")
    encryption_key = Fernet.generate_key().decode()
    envs = [node_env(url, encryption_key, folder / f"data-{n}") for n in (1, 2)]
    nodes = [start_api_node(env, folder) for env in envs]
    try:
        for node in nodes:
            await asyncio.to_thread(wait_ready, node)
        jwks = [await asyncio.to_thread(published_keys, node) for node in nodes]
        yield Cluster(url, envs[0], nodes, jwks)
    finally:
        for node in nodes:
            stop_node(node)


@pytest.fixture(scope="module")
async def setup_app(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    """An app on the nodes' database that makes the test parties (opened after the nodes)."""
    settings = make_settings(
        data_dir=tmp_path_factory.mktemp("setup"),
        key_encryption_key=SecretStr(cluster.env["DATAHUB_KEY_ENCRYPTION_KEY"]),
        public_base_url=PUBLIC_URL,
    )
    application = create_app(settings, database_url=cluster.database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def world(cluster: Cluster, setup_app: FastAPI) -> ConsentWorld:
    async with cluster.nodes[0].client() as node_1:
        return await make_consent_world(setup_app, node_1)


def kid_of(access_token: str) -> str:
    return str(jwt.get_unverified_header(access_token)["kid"])


def test_two_nodes_started_at_once_publish_the_same_single_key(cluster: Cluster) -> None:
    first, second = cluster.jwks_at_start
    assert len(first["keys"]) == 1
    assert first == second


async def test_a_token_from_one_node_works_on_the_other(
    cluster: Cluster, world: ConsentWorld
) -> None:
    esp = world.esp_a
    async with cluster.nodes[0].client() as node_1, cluster.nodes[1].client() as node_2:
        for issuer, verifier in ((node_1, node_2), (node_2, node_1)):
            access = await token(issuer, esp.client_id, esp.client_secret)
            answer = await verifier.get(
                "/api/v1/auth/token-info", headers={"Authorization": f"Bearer {access}"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["subject"] == esp.client_id


async def test_a_consent_link_cookie_and_csrf_token_from_node_1_post_on_node_2(
    cluster: Cluster, world: ConsentWorld
) -> None:
    async with cluster.nodes[0].client() as node_1, cluster.nodes[1].client() as node_2:
        identifier = await open_consent(node_1, world.esp_a, numberOfEans=1)
        login = await node_1.post(
            "/api/v1/auth/login", json={"username": world.owner.username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        # The browser takes node 1's session cookie to node 2 (the balancer chose it).
        node_2.cookies.set("datahub_session", login.cookies["datahub_session"])
        me = await node_2.get("/api/v1/auth/me")
        assert me.json()["username"] == world.owner.username
        decision = {"decision": "approve", "eans": [world.owner_ean]}
        path = f"/api/v1/consent-sessions/{identifier}/decision"
        # Node 2 checks the CSRF token of node 1's session: refused without it, ...
        refused = await node_2.post(path, json=decision)
        assert refused.status_code == 403, refused.text
        # ... and the consent link node 1 gave out is answered on node 2 with it.
        decided = await node_2.post(path, json=decision, headers={"X-CSRF-Token": csrf})
        assert decided.status_code == 200, decided.text
        assert decided.json()["mandates"][0]["ean"] == world.owner_ean


async def test_a_paging_cursor_and_an_etag_from_node_1_work_on_node_2(
    cluster: Cluster, world: ConsentWorld
) -> None:
    headers = world.operator_headers  # a token node 1 issued
    async with cluster.nodes[0].client() as node_1, cluster.nodes[1].client() as node_2:
        whole = await node_1.get("/api/v1/access-points", params={"limit": 100}, headers=headers)
        eans = [item["ean"] for item in whole.json()["items"]]
        assert len(eans) >= 3
        first = await node_1.get("/api/v1/access-points", params={"limit": 1}, headers=headers)
        cursor = first.json()["next_cursor"]
        assert cursor
        second = await node_2.get(
            "/api/v1/access-points", params={"limit": 1, "cursor": cursor}, headers=headers
        )
        assert second.status_code == 200, second.text
        assert [item["ean"] for item in second.json()["items"]] == eans[1:2]
        # An ETag of node 1 is the ETag of node 2: a poll there answers 304.
        unchanged = await node_2.get(
            "/api/v1/access-points",
            params={"limit": 1},
            headers={**headers, "If-None-Match": first.headers["etag"]},
        )
        assert unchanged.status_code == 304
        # The same for an ESP's mandate list (its ETag is a version counter each node caches).
        esp = world.esp_a
        esp_headers = {
            "Authorization": f"Bearer {await token(node_2, esp.client_id, esp.client_secret)}"
        }
        mandates = await node_2.get("/api/v1/mandates", headers=esp_headers)
        assert mandates.status_code == 200, mandates.text
        polled = await node_1.get(
            "/api/v1/mandates", headers={**esp_headers, "If-None-Match": mandates.headers["etag"]}
        )
        assert polled.status_code == 304
        # A mandate approved on node 1 changes the list: node 2's poll with the old ETag
        # gets the new list (each node's cached version is dropped by NOTIFY at commit).
        identifier = await open_consent(
            node_1, esp, numberOfEans=1, referenceNumber="customer-4712"
        )
        login = await node_1.post(
            "/api/v1/auth/login", json={"username": world.owner.username, "password": PASSWORD}
        )
        decided = await node_1.post(
            f"/api/v1/consent-sessions/{identifier}/decision",
            json={"decision": "approve", "eans": [world.owner_ean]},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
        )
        assert decided.status_code == 200, decided.text
        deadline = time.monotonic() + 10
        while (
            changed := await node_2.get(
                "/api/v1/mandates",
                headers={**esp_headers, "If-None-Match": mandates.headers["etag"]},
            )
        ).status_code == 304:
            assert time.monotonic() < deadline, "node 2 still answers 304 after the change"
            await asyncio.sleep(0.05)
        assert changed.status_code == 200
        assert len(changed.json()["items"]) == len(mandates.json()["items"]) + 1


async def test_a_rotation_by_the_cli_reaches_both_nodes_without_a_restart(
    cluster: Cluster, world: ConsentWorld
) -> None:
    esp = world.esp_a
    async with cluster.nodes[0].client() as node_1, cluster.nodes[1].client() as node_2:
        before = await token(node_1, esp.client_id, esp.client_secret)
        rotated = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "datahub_api.cli", "keys", "rotate"],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rotated.returncode == 0, rotated.stderr
        new_kid = json.loads(rotated.stdout)["kid"]
        assert new_kid != kid_of(before)
        # Within seconds both nodes sign with the new key and publish both keys.
        deadline = time.monotonic() + 5
        for node in (node_1, node_2):
            while kid_of(after := await token(node, esp.client_id, esp.client_secret)) != new_kid:
                assert time.monotonic() < deadline, "a node still signs with the old key"
                await asyncio.sleep(0.1)
            published = [
                key["kid"] for key in (await node.get("/.well-known/jwks.json")).json()["keys"]
            ]
            assert published[:2] == [new_kid, kid_of(before)]
            # The old token and the other node's new one are accepted everywhere.
            for access in (before, after):
                for verifier in (node_1, node_2):
                    answer = await verifier.get(
                        "/api/v1/auth/token-info", headers={"Authorization": f"Bearer {access}"}
                    )
                    assert answer.status_code == 200, answer.text


async def test_the_portal_login_form_of_node_1_is_accepted_by_node_2(
    cluster: Cluster, world: ConsentWorld
) -> None:
    async with cluster.nodes[0].client() as node_1, cluster.nodes[1].client() as node_2:
        page = await node_1.get("/portal/login?next=/portal/")
        assert page.status_code == 200
        # The browser carries node 1's login CSRF cookie and form field to node 2.
        node_2.cookies.update(node_1.cookies)
        logged_in = await node_2.post(
            "/portal/login",
            data={
                "username": world.tenant.username,
                "password": PASSWORD,
                "csrf_token": field(page.text, "csrf_token"),
                "next": field(page.text, "next"),
            },
        )
        assert logged_in.status_code == 303, logged_in.text
        # ... and node 1 knows the session node 2 opened.
        node_1.cookies.set("datahub_session", logged_in.cookies["datahub_session"])
        home = await node_1.get("/portal/")
        assert home.status_code == 200, home.text
        assert 'action="/portal/logout"' in home.text  # the page of someone logged in
