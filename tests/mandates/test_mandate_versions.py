"""The per-process cache of organisations' mandates versions behind the list ETags: a 304
poll costs no database read, changes made here are seen at once, changes made by another
process arrive by NOTIFY, and without its listener the cache is not trusted."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.db import ReadSession, create_database
from datahub_api.mandates import repository
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.versions import LISTENER_NAME, MandateVersions

from ..support.consent_world import ConsentWorld, make_consent_world, owner_mandate
from ..support.parties import auth_headers
from ..support.waiting import until


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The organisations whose version was read from the database."""
    read: list[int] = []
    real = repository.organisation_version

    async def counting(session: ReadSession, organisation_id: int) -> int:
        read.append(organisation_id)
        return await real(session, organisation_id)

    monkeypatch.setattr(repository, "organisation_version", counting)
    return read


async def listening(app: FastAPI) -> None:
    versions: MandateVersions = app.state.mandate_versions

    async def connected() -> bool:
        return versions._listening

    await until(connected, "the listener connected")


async def test_a_304_poll_reads_nothing_and_own_changes_show_at_once(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, reads: list[int]
) -> None:
    await listening(app)
    headers = await auth_headers(client, world.esp_a)
    first = await client.get("/api/v1/mandates", headers=headers)
    etag = first.headers["etag"]
    assert reads == [world.esp_a.organisation_id]
    for _ in range(3):
        again = await client.get("/api/v1/mandates", headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304
        assert again.headers["etag"] == etag
    assert reads == [world.esp_a.organisation_id]  # from the cache
    # A change committed by this process: the very next poll sees it.
    await owner_mandate(app, client, world)
    changed = await client.get("/api/v1/mandates", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert len(changed.json()["items"]) == 1


async def test_a_change_committed_by_another_process_arrives_by_notify(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await listening(app)
    mandate_id = await owner_mandate(app, client, world)
    headers = await auth_headers(client, world.esp_a)
    etag = (await client.get("/api/v1/mandates", headers=headers)).headers["etag"]
    poll = {**headers, "If-None-Match": etag}
    assert (await client.get("/api/v1/mandates", headers=poll)).status_code == 304
    esp = Principal(
        subject="other-process",
        role=Role.esp,
        scopes=ESP_SCOPES,
        organisation_id=world.esp_a.organisation_id,
    )
    other_process = create_database(app.state.database.url, app.state.settings)
    try:
        async with other_process.write_sessions() as session:
            await mandates_service.terminate(session, esp, mandate_id)
            await session.commit()  # no after-commit hooks: only the notification tells
    finally:
        await other_process.dispose()

    async def seen() -> bool:
        return (await client.get("/api/v1/mandates", headers=poll)).status_code == 200

    await until(seen, "the other process's change reached this one")
    items = (await client.get("/api/v1/mandates", headers=headers)).json()["items"]
    assert [m["status"] for m in items] == ["finished"]


async def test_without_its_listener_the_cache_is_not_trusted(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld, reads: list[int]
) -> None:
    await listening(app)
    versions: MandateVersions = app.state.mandate_versions
    headers = await auth_headers(client, world.esp_a)
    etag = (await client.get("/api/v1/mandates", headers=headers)).headers["etag"]
    poll = {**headers, "If-None-Match": etag}
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"
            ),
            {"n": LISTENER_NAME},
        )
        await session.commit()

    async def disconnected() -> bool:
        return not versions._listening

    await until(disconnected, "the listener noticed it was cut off")
    before = len(reads)
    for _ in range(2):
        assert (await client.get("/api/v1/mandates", headers=poll)).status_code == 304
    assert len(reads) == before + 2  # each poll read the database
    await listening(app)  # it reconnects by itself, and the cache serves again
    await client.get("/api/v1/mandates", headers=poll)
    after = len(reads)
    assert (await client.get("/api/v1/mandates", headers=poll)).status_code == 304
    assert len(reads) == after
