"""The demo world's access points and the accounts they need."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points import service
from datahub_api.accounts.passwords import verify_password
from datahub_api.brussels_days import today_in_brussels
from datahub_api.cli.welcome import describe_credentials
from datahub_api.db import Base, Database, WriteSession
from datahub_api.demo import service as demo_service
from datahub_api.demo.service import CUSTOMER_PASSWORD, DemoParameters, seed_demo_world
from datahub_api.demo.world import DemoWorldBuilder
from datahub_api.settings import Settings

from ..support.database import truncate_all_tables


async def test_demo_access_points(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    database: Database = app.state.database
    # (How long seeding takes is a benchmark's business, not a unit test's.)
    async with database.write_sessions() as session:
        credentials = await seed_demo_world(session, settings, DemoParameters(eans=200, seed=42))
        await session.commit()

    points = credentials["access_points"]
    assert len(points) == 200
    assert len({point["ean"] for point in points}) == 200
    gas = sum(point["energy_type"] == "G" for point in points)
    assert 10 <= gas <= 50  # about 15%
    digital = [point for point in points if point["meter_type"] == "DM"]
    assert len(digital) > 100
    assert any(not point["communicating"] for point in digital)
    assert sum(point["communicating"] for point in digital) > 0.75 * len(digital)
    assert any(point["meter_type"] == "KM" and not point["gvm"] for point in points)
    assert any(point["gvm"] for point in points)

    customers = credentials["customers"]
    tenants = [c for c in customers if not c["is_grid_user"]]
    owners = [c for c in customers if c["is_grid_user"]]
    assert tenants
    assert len(owners) > len(tenants)
    by_ean = {point["ean"]: point for point in points}
    for tenant in tenants:
        for ean in tenant["eans"]:
            assert by_ean[ean]["customer"] == tenant["username"]
            assert by_ean[ean]["grid_user"] != tenant["username"]
    lines = describe_credentials(credentials)
    assert any(line.startswith("  access points: 200") for line in lines)
    assert sum(line.startswith("  access points") for line in lines) == 1
    after = lines[lines.index("  portal logins (one per role):") + 1 :]
    portal = [line for line in after if line.startswith("    ")]
    for role in ("ESP staff", "customer:", "tenant:", "grid user:", "operator:"):
        assert sum(line.startswith(f"    {role}") for line in portal) == 1, role
    [esp_line] = [line for line in portal if line.startswith("    ESP staff")]
    assert f"{settings.base_url}/portal/esp/:" in esp_line
    for line in portal:  # every printed login works
        username, password = re.search(r":\s+(\S+) / (\S+)\s+\(", line).groups()  # type: ignore[union-attr]
        login = await client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert login.status_code == 200, line

    today = today_in_brussels()
    async with database.read_sessions() as session:
        stored = await session.scalar(text("SELECT count(*) FROM access_points"))
        assert stored == 200
        earliest_per_ean = await session.execute(
            text("SELECT min(valid_from) FROM access_point_parties GROUP BY access_point_id")
        )
        assert all(row[0] <= today - timedelta(days=730) for row in earliest_per_ean)
        headpoint = await session.scalar(
            text("SELECT count(*) FROM access_points WHERE gvm AND metering <> 'metering-on-meter'")
        )
        assert headpoint == sum(point["gvm"] for point in points)
        assert await session.scalar(
            text("SELECT count(*) FROM sub_headpoints WHERE installation_type = 'PV'")
        )

        tenant = tenants[0]
        ean = tenant["eans"][0]
        rows = (await session.execute(text("SELECT username, id FROM accounts"))).all()
        account_ids: dict[str, int] = {row[0]: row[1] for row in rows}
        assert await service.customers_on(session, ean, today) == [account_ids[tenant["username"]]]
        assert (
            await service.grid_user_on(session, ean, today) == account_ids[by_ean[ean]["grid_user"]]
        )
        communicating = next(p for p in digital if p["communicating"])
        assert await service.is_communicating_on(session, communicating["ean"], today)
        silent = next(p for p in digital if not p["communicating"])
        assert not await service.is_communicating_on(session, silent["ean"], today)

        password_hash = await session.scalar(
            text("SELECT password_hash FROM accounts WHERE username = :u"),
            {"u": owners[0]["username"]},
        )
        assert verify_password(password_hash, CUSTOMER_PASSWORD)
        assert not verify_password(password_hash, "wrong")


# Append-only marks (appended per statement, so their ids follow the batches): their rows
# are compared without the id.
_MARK_TABLES = {"sla_classification_marks"}


async def _tables_digest(session: WriteSession) -> dict[str, str]:
    """Per table, an MD5 of its rows without their timestamps and password hashes (salted)."""
    digests = {}
    for table in Base.metadata.sorted_tables:
        skipped = "'password_hash', 'id'" if table.name in _MARK_TABLES else "'password_hash'"
        digests[table.name] = await session.scalar(
            text(
                "SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM "
                "(SELECT (SELECT jsonb_object_agg(k, v) FROM jsonb_each(to_jsonb(t)) AS e(k, v) "
                f"WHERE k NOT LIKE '%\\_at' AND k NOT IN ({skipped})) AS r "
                f'FROM "{table.name}" t) AS rows'
            )
        )
    return digests


async def test_access_points_stored_in_batches_are_the_world_of_one_plan(
    app: FastAPI, clean_database: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The access-point step plans and stores a batch at a time; any batch size gives the
    world (rows, credentials, the random source's state after it) of one batch."""
    database: Database = app.state.database
    found = []
    for batch in (10_000, 7):
        monkeypatch.setattr(demo_service, "STORE_BATCH", batch)
        world = DemoWorldBuilder(
            parameters=DemoParameters(eans=80, days=1, seed=11),
            settings=settings,
            rng=random.Random(11),
            credentials={},
        )
        await truncate_all_tables(clean_database)  # ids from 1 again
        async with database.write_sessions() as session:
            await demo_service.seed_access_points(session, world)
            found.append((world.credentials, world.rng.getstate(), await _tables_digest(session)))
            await session.rollback()
    assert found[0] == found[1]
    credentials = found[0][0]
    assert len(credentials["access_points"]) == 80
    assert credentials["featured_customer"]["ean"] in {
        p["ean"] for p in credentials["access_points"]
    }


def test_the_credentials_file_is_written_as_encoded_in_the_same_text(tmp_path: Path) -> None:
    credentials = {"access_points": [{"ean": "541448800000004312", "smr3": False}] * 3}
    path = demo_service.write_credentials(tmp_path, credentials)
    assert path.read_text() == json.dumps(credentials, indent=2) + "\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert demo_service.read_credentials(tmp_path) == credentials
