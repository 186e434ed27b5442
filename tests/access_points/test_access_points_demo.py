"""The demo world's access points and the accounts they need."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.access_points import service
from datahub_api.accounts.passwords import verify_password
from datahub_api.brussels_days import today_in_brussels
from datahub_api.cli.welcome import describe_credentials
from datahub_api.db import Database
from datahub_api.demo.service import CUSTOMER_PASSWORD, DemoParameters, seed_demo_world
from datahub_api.settings import Settings


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
