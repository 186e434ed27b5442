"""SQL of the demo domain."""

from __future__ import annotations

from sqlalchemy import select, text

from datahub_api.db import Base, ReadSession, WriteSession
from datahub_api.demo.models import DemoWorld


async def latest_world(session: ReadSession) -> DemoWorld | None:
    result = await session.scalars(select(DemoWorld).order_by(DemoWorld.id.desc()).limit(1))
    return result.first()


def add_world(session: WriteSession, world: DemoWorld) -> None:
    session.add(world)


async def truncate_all(session: WriteSession) -> None:
    """Empty every table of ours (the schema and ``alembic_version`` stay)."""
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    if names:
        await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
