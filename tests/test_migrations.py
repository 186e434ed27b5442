"""The migrations build exactly the models, and go down and up again cleanly."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from datahub_api.schema_migrations import alembic_config, migrations_dir, upgrade_to_head

from .conftest import create_scratch_database


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
