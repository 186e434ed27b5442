"""Engines, the two session types and the per-request session dependencies.

``ReadSession`` runs read-only transactions (and may be pointed at a streaming replica);
``WriteSession`` is the only type that may write. A repository function that writes takes a
``WriteSession``, so the type checker tells which endpoint may write. The request's write
session is committed once, by its dependency, after the route returns and before the
response is sent; services only ``flush()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Enum, MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from datahub_api.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; the naming convention keeps migrations stable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def string_enum(kind: type[StrEnum], name: str, length: int = 20) -> Enum:
    """A Python enum stored as its values in a plain string column (no PostgreSQL enum
    type, so adding a member needs no migration of a type)."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        length=length,
        values_callable=lambda enum: [member.value for member in enum],
    )


class ReadSession(AsyncSession):
    """A session whose transactions are read-only."""


class WriteSession(ReadSession):
    """A session that may write; usable wherever a ``ReadSession`` is asked for."""


class DatabaseUrlError(ValueError):
    """``DATABASE_URL`` cannot be used."""


def normalize_database_url(url: str) -> str:
    """Accept libpq-style URLs (``postgres://``, ``postgresql://``) and use the asyncpg driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(
            "DATABASE_URL is not a database URL "
            "(expected postgresql://user:password@host:port/database)"
        ) from exc
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise DatabaseUrlError(
            f"DATABASE_URL must point at PostgreSQL, not {parsed.get_backend_name()!r}"
        )
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver suffix, for psql."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Database:
    """The engines and session factories of one process."""

    url: str
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    write_sessions: async_sessionmaker[WriteSession]
    read_sessions: async_sessionmaker[ReadSession]

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def create_database(url: str, settings: Settings, *, read_url: str | None = None) -> Database:
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_seconds,
        "server_settings": {"application_name": "datahub-api", "timezone": "UTC"},
    }
    write_engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    read_engine = (
        create_async_engine(
            read_url, pool_size=settings.db_pool_size, pool_pre_ping=True, connect_args=connect_args
        )
        if read_url
        else write_engine
    )
    return Database(
        url=url,
        write_engine=write_engine,
        read_engine=read_engine,
        write_sessions=async_sessionmaker(
            write_engine, class_=WriteSession, expire_on_commit=False, autoflush=False
        ),
        read_sessions=async_sessionmaker(
            read_engine.execution_options(postgresql_readonly=True),
            class_=ReadSession,
            expire_on_commit=False,
            autoflush=False,
        ),
    )


async def get_database(request: Request) -> Database:
    """The process's database (``async``: FastAPI would run a plain function in a thread)."""
    database: Database = request.app.state.database
    return database


AfterCommit = Callable[[Any], Awaitable[None]]


def after_commit(session: WriteSession, hook: AfterCommit) -> None:
    """Run ``hook(app)`` once the request's transaction has committed (and only then)."""
    hooks: list[AfterCommit] = session.info.setdefault("after_commit", [])
    if hook not in hooks:
        hooks.append(hook)


async def commit_and_run_hooks(session: WriteSession, app: Any) -> None:
    """Commit and then run the :func:`after_commit` hooks, as the request's session
    dependency does: for routes that open a write session of their own."""
    await session.commit()
    for hook in session.info.pop("after_commit", []):
        await hook(app)


async def _write_session(
    request: Request,
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[WriteSession]:
    async with database.write_sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await commit_and_run_hooks(session, request.app)


async def _read_session(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[ReadSession]:
    async with database.read_sessions() as session:
        yield session


# scope="function": the commit happens when the route returns, before the response is sent,
# so a failed commit is an error answer and never a success answer for lost data.
WriteSessionDep = Annotated[WriteSession, Depends(_write_session, scope="function")]
ReadSessionDep = Annotated[ReadSession, Depends(_read_session, scope="function")]
