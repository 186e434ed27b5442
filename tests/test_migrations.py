"""The migrations build exactly the models, and go down and up again cleanly."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from datahub_api.schema_migrations import alembic_config, migrations_dir, upgrade_to_head

from .support.database import create_scratch_database


async def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    # The same check CI runs as `alembic check`; raises when autogenerate would find changes.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_downgrade_to_base_and_upgrade_again(server_url: str) -> None:
    url = await create_scratch_database(server_url, "roundtrip")
    await asyncio.to_thread(upgrade_to_head, url)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    await asyncio.to_thread(upgrade_to_head, url)
    await asyncio.to_thread(command.check, alembic_config(url))


def test_one_head_and_date_slug_file_names() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    names = [p.name for p in Path(migrations_dir(), "versions").glob("*.py")]
    assert names
    for name in names:
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}-[a-z0-9_]+\.py", name), name


BACKFILL_WORLD = """
INSERT INTO organisations (id, name, enterprise_number, contact_email, status)
    VALUES (1, 'ESP', '0123456749', 'esp@example.org', 'active');
INSERT INTO accounts (id, username, password_hash, display_name, role) VALUES
    (1, 'landlord', 'x', 'Landlord', 'grid_user'), (2, 'tenant', 'x', 'Tenant', 'customer'),
    (3, 'owner', 'x', 'Owner', 'customer');
INSERT INTO access_points (id, ean, energy_type, meter_type, metering, gvm, content_hash)
    VALUES (1, '541448800000000007', 'E', 'DM', 'metering-on-meter', false, 'x');
INSERT INTO access_point_parties (access_point_id, account_id, role, valid_from, valid_to) VALUES
    (1, 1, 'grid_user', '2024-01-01', NULL),
    (1, 2, 'customer', '2025-03-30', '2025-07-01'),
    (1, 2, 'customer', '2025-07-01', '2026-10-25'),
    (1, 3, 'customer', '2026-10-25', NULL);
INSERT INTO mandates (id, organisation_id, ean, access_point_id, reference_number, channel,
    energy_type, data_service_type, data_period_from, data_period_to, expiration_date, status,
    source, given_by_account_id, grid_user_account_id, created_at) VALUES
    (1, 1, '541448800000000007', 1, 'tenant', 'api', 'E', 'VH_kwartier_uur',
     '2025-01-01Z', '2027-01-01Z', '2027-01-01Z', 'approved', 'consent', 2, 1,
     '2025-08-01 10:00Z'),
    (2, 1, '541448800000000007', 1, 'owner', 'api', 'E', 'VH_kwartier_uur',
     '2025-01-01Z', '2027-01-01Z', '2027-01-01Z', 'requested', 'consent', 3, 1,
     '2025-08-01 10:00Z'),
    (3, 1, '541448800000000007', 1, 'old', 'api', 'E', 'VH_kwartier_uur',
     '2025-01-01Z', '2027-01-01Z', '2027-01-01Z', 'finished', 'consent', 2, 1,
     '2025-08-01 10:00Z'),
    (4, 1, '541448800000000007', 1, 'sandbox', 'api', 'E', 'VH_kwartier_uur',
     '2025-01-01Z', '2027-01-01Z', '2027-01-01Z', 'approved', 'sandbox', NULL, NULL,
     '2025-08-01 10:00Z');
"""


async def test_the_tenure_migration_bounds_the_live_mandates(server_url: str) -> None:
    """0016 gives live mandates the tenure (touching periods merged) that held the day they
    were given, of both their people; one whose person did not hold the access point then
    reads nothing; finished ones and those without people stay unbounded."""
    url = await create_scratch_database(server_url, "tenure")
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0015")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in BACKFILL_WORLD.split(";"):
                if statement.strip():
                    await connection.execute(text(statement))
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0016")
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("SELECT id, tenure_from, tenure_to FROM mandates ORDER BY id")
                )
            ).all()
    finally:
        await engine.dispose()
    brussels = ZoneInfo("Europe/Brussels")

    def midnight(day: str) -> datetime:
        return datetime.fromisoformat(day).replace(tzinfo=brussels)

    assert [(row[0], row[1], row[2]) for row in rows] == [
        (1, midnight("2025-03-30"), midnight("2026-10-25")),  # the tenant, two periods merged
        (2, midnight("2025-08-01"), midnight("2025-08-01")),  # the owner was not there yet
        (3, None, None),
        (4, None, None),
    ]
