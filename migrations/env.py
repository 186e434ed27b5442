"""Alembic environment: async engine, our metadata with its naming convention."""

from __future__ import annotations

import asyncio
import logging.config

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from datahub_api.db import Base, normalize_database_url
from datahub_api.model_registry import import_all_models, is_unmanaged_table

import_all_models()
config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    # Run from the `alembic` command line: the same database the service would use.
    from datahub_api.database_location import resolve_database_url

    return resolve_database_url()


# Objects that a library's own schema owns (procrastinate's, applied by our migrations from
# the SQL the library ships) and the yearly meter-data partitions: never compared.
FOREIGN_OBJECT_PREFIXES = ("procrastinate_",)


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    if type_ == "table" and name is not None:
        return not (is_unmanaged_table(name) or name.startswith(FOREIGN_OBJECT_PREFIXES))
    return True


def _run_migrations(connection: Connection) -> None:
    context.configure(
        include_name=_include_name,
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(normalize_database_url(_database_url()))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
