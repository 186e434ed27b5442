"""Engines and the two session types (a request's sessions come from
:data:`datahub_api.deps.WriteSessionDep` and :data:`~datahub_api.deps.ReadSessionDep`).

``ReadSession`` runs read-only transactions, on a streaming replica when one has replayed
every change committed before the read began (:class:`ReadSessions`), else on the primary;
``WriteSession`` is the only type that may write, always on the primary. A repository
function that writes takes a ``WriteSession``, so the type checker tells which endpoint may
write. The request's write session is committed once, by its dependency, after the route
returns and before the response is sent; services only ``flush()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Enum, MetaData, TextClause, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from datahub_api.settings import Settings

logger = logging.getLogger(__name__)

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


class ReadObserver(Protocol):
    """Where read sessions are told to go (the Prometheus metrics of the app)."""

    def read_served(self, server: str, reason: str) -> None: ...

    def replica_lag(self, replica: str, lag_bytes: int) -> None: ...


# Why a read session went where it went (the ``reason`` a ReadObserver is told).
CAUGHT_UP = "caught_up"  # a replica had replayed the primary's position
LAGGING = "lagging"  # no replica caught up within read_replica_max_wait_seconds
UNAVAILABLE = "unavailable"  # no replica answered
NOT_A_REPLICA = "not_a_replica"  # the server named as a replica is not replaying WAL

# How often one read waits for a lagging replica (the others go to the primary at once): a
# replica that is only checked, never waited for, would not be seen to catch up while the
# primary keeps committing.
PROBE_SECONDS = 1.0


def _lsn_query(function: str) -> TextClause:
    # A WAL position as a number of bytes (NULL when the server has none, e.g. a primary's
    # replay position).
    return text(f"SELECT pg_wal_lsn_diff({function}(), '0/0')::bigint")


# The flushed position: a transaction's commit has been flushed by the time it returns
# (synchronous_commit on), and replicas are sent flushed WAL only, so they can reach it.
PRIMARY_POSITION = _lsn_query("pg_current_wal_flush_lsn")
REPLAYED_POSITION = _lsn_query("pg_last_wal_replay_lsn")


class PrimaryPosition:
    """The primary's flushed WAL position, read by a query that started after the caller
    asked: every transaction committed before the call is at or below it.

    Concurrent callers share one query (at most one runs, the next one collects everybody
    who asked meanwhile), so a busy node has at most one such query in flight, not one per
    read."""

    def __init__(self, engine: AsyncEngine) -> None:
        # An engine of its own (one query at a time needs one connection), so that reads
        # never wait for the writers' pool; no transaction around the one statement.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.queries = 0
        self._waiting: asyncio.Future[int] | None = None
        self._task: asyncio.Task[None] | None = None

    async def dispose(self) -> None:
        await self._engine.dispose()

    async def current(self) -> int:
        waiting = self._waiting
        if waiting is None:
            waiting = self._waiting = asyncio.get_running_loop().create_future()
            waiting.add_done_callback(_retrieve_exception)
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._ask(), name="primary WAL position")
        return await asyncio.shield(waiting)

    async def _ask(self) -> None:
        while self._waiting is not None:
            # Callers that arrive from here on wait for the next query: this one may have
            # started before their change committed.
            answer, self._waiting = self._waiting, None
            self.queries += 1
            try:
                answer.set_result(await self._query())
            except BaseException as exc:
                answer.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise

    async def _query(self) -> int:
        # No ping before the query (a round trip); a pooled connection found dead is
        # replaced once.
        for attempt in (1, 2):
            try:
                async with self._engine.connect() as connection:
                    return int(await connection.scalar(PRIMARY_POSITION))
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")


def _retrieve_exception(future: asyncio.Future[int]) -> None:
    if not future.cancelled():
        future.exception()  # a caller that went away leaves no "never retrieved" warning


@dataclass(eq=False)
class Replica:
    """One streaming replica and what this process last learnt of it."""

    name: str
    engine: AsyncEngine
    down_until: float = 0.0  # time.monotonic(); until then it is not tried
    # It missed the bound last time: checked by every read but waited for by one read per
    # PROBE_SECONDS only (the probe), until a check finds it caught up.
    lagging: bool = False
    next_probe: float = 0.0
    not_replaying: bool = False


class ReadSessions:
    """Opens read-only sessions: on a replica that has replayed everything the primary had
    committed when the session was asked for, else on the primary.

    The rule: a read sees every change committed before it began, whichever node or worker
    committed it. So a caller never sees its own write undone, and a read that follows an
    event, a webhook or a NOTIFY about a change sees that change. A replica behind the
    primary is waited for up to ``max_wait_seconds``; a replica that did not catch up in
    time is then checked by every read but waited for by one read per ``PROBE_SECONDS``
    until it has caught up; one that fails to answer is left out for ``retry_seconds``.
    Either way the read goes to the primary, with a metric and a log line, never an error."""

    def __init__(
        self,
        primary: async_sessionmaker[ReadSession],
        replicas: list[Replica],
        position: PrimaryPosition | None,
        *,
        max_wait_seconds: float,
        retry_seconds: float,
        observer: ReadObserver | None = None,
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.position = position
        self.max_wait_seconds = max_wait_seconds
        self.retry_seconds = retry_seconds
        self.observer = observer
        self._next = 0

    def __call__(self) -> AbstractAsyncContextManager[ReadSession]:
        if not self.replicas:
            return self.primary()
        return self._session()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[ReadSession]:
        connection = await self._caught_up_replica()
        if connection is None:
            async with self.primary() as session:
                yield session
            return
        try:
            async with ReadSession(
                bind=connection, expire_on_commit=False, autoflush=False
            ) as session:
                yield session
        finally:
            await connection.close()

    def _observe(self, server: str, reason: str) -> None:
        if self.observer is not None:
            self.observer.read_served(server, reason)

    async def _caught_up_replica(self) -> AsyncConnection | None:
        assert self.position is not None
        target = await self.position.current()
        now = time.monotonic()
        start = self._next % len(self.replicas)
        self._next += 1
        rotation = self.replicas[start:] + self.replicas[:start]
        candidates = [replica for replica in rotation if replica.down_until <= now]
        if not candidates:
            left_out = any(replica.not_replaying for replica in self.replicas)
            self._observe("primary", NOT_A_REPLICA if left_out else UNAVAILABLE)
            return None
        probes = [r for r in candidates if r.lagging and r.next_probe <= now]
        for replica in probes:
            replica.next_probe = now + PROBE_SECONDS
        waits = bool(probes) or not all(replica.lagging for replica in candidates)
        deadline = now + (self.max_wait_seconds if waits else 0.0)
        connections: dict[Replica, AsyncConnection] = {}
        delay = 0.001
        reason = UNAVAILABLE
        try:
            while True:
                for replica in list(candidates):
                    replayed = await self._replayed(replica, connections)
                    if replayed is None:
                        candidates.remove(replica)
                        if replica.not_replaying:
                            reason = NOT_A_REPLICA
                        continue
                    if self.observer is not None:
                        self.observer.replica_lag(replica.name, max(target - replayed, 0))
                    if replayed >= target:
                        if replica.lagging:
                            replica.lagging = False
                            logger.info("read replica %s has caught up again", replica.name)
                        self._observe("replica", CAUGHT_UP)
                        return connections.pop(replica)
                    reason = LAGGING
                if not candidates or time.monotonic() + delay > deadline:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
            for replica in candidates:
                if not replica.lagging:
                    replica.lagging = True
                    logger.warning(
                        "read replica %s had not replayed the primary's position after %.2f s;"
                        " its reads go to the primary until it catches up",
                        replica.name,
                        self.max_wait_seconds,
                    )
            self._observe("primary", reason)
            return None
        finally:
            for connection in connections.values():
                with contextlib.suppress(Exception):
                    await connection.close()

    async def _replayed(
        self, replica: Replica, connections: dict[Replica, AsyncConnection]
    ) -> int | None:
        """The replica's replay position (on the connection a session would use), or None
        when it cannot serve reads now."""
        connection = connections.get(replica)
        try:
            try:
                if connection is None:
                    connection = await replica.engine.connect()
                    connections[replica] = connection
                replayed = await connection.scalar(REPLAYED_POSITION)
            except DBAPIError as exc:
                # No ping before the check (a round trip): a pooled connection found dead
                # is replaced once before the replica counts as away.
                if not exc.connection_invalidated:
                    raise
                connections.pop(replica, None)
                connection = await replica.engine.connect()
                connections[replica] = connection
                replayed = await connection.scalar(REPLAYED_POSITION)
        except Exception as exc:
            connections.pop(replica, None)
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.invalidate()
            replica.down_until = time.monotonic() + self.retry_seconds
            logger.warning(
                "read replica %s did not answer (%s); its reads go to the primary for %.0f s",
                replica.name,
                exc.__class__.__name__,
                self.retry_seconds,
            )
            return None
        if replayed is None:
            replica.down_until = time.monotonic() + self.retry_seconds
            if not replica.not_replaying:
                replica.not_replaying = True
                logger.warning(
                    "read replica %s is not a streaming replica (no WAL replay position); "
                    "its reads go to the primary",
                    replica.name,
                )
            return None
        if replica.down_until:
            replica.down_until = 0.0
            logger.info("read replica %s answers again as a replica", replica.name)
        replica.not_replaying = False
        return int(replayed)


@dataclass
class Database:
    """The engines and session factories of one process."""

    url: str
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    write_sessions: async_sessionmaker[WriteSession]
    read_sessions: ReadSessions
    # The primary without a pooler, for LISTEN/NOTIFY and the job queue.
    direct_url: str = ""

    def __post_init__(self) -> None:
        self.direct_url = self.direct_url or self.url

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
        for replica in self.read_sessions.replicas:
            await replica.engine.dispose()
        if self.read_sessions.position is not None:
            await self.read_sessions.position.dispose()


def replica_name(url: str) -> str:
    """How logs and metrics name a replica: its host, port and database, no credentials."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "local"
    return f"{host}:{parsed.port or 5432}/{parsed.database or ''}"


def create_database(
    url: str,
    settings: Settings,
    *,
    read_urls: Sequence[str] = (),
    direct_url: str | None = None,
    observer: ReadObserver | None = None,
) -> Database:
    """The engines of one process: the primary at ``url`` (reads on it are read-only
    transactions), and the streaming replicas at ``read_urls`` (see :class:`ReadSessions`).
    With ``settings.database_pooled`` the connections keep no prepared statements, as a
    pooler in transaction mode (PgBouncer) hands each transaction any server connection."""
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_seconds,
        "server_settings": {"application_name": "datahub-api", "timezone": "UTC"},
    }
    if settings.database_pooled:
        # asyncpg then sends every statement unnamed and parses it again with its Bind, so
        # nothing outlives the transaction (SQLAlchemy's own cache would name statements).
        connect_args |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
    write_engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    read_engine = write_engine
    replica_connect_args = connect_args | {
        # A replica that does not answer must not hold a read up for long: the primary can.
        "timeout": min(settings.db_connect_timeout_seconds, 2.0),
    }
    replicas = [
        Replica(
            name=replica_name(read_url),
            engine=create_async_engine(
                normalize_database_url(read_url),
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_pool_size,
                connect_args=replica_connect_args,  # no pre-ping: the check is one
            ).execution_options(postgresql_readonly=True),
        )
        for read_url in read_urls
    ]
    primary_reads = async_sessionmaker(
        read_engine.execution_options(postgresql_readonly=True),
        class_=ReadSession,
        expire_on_commit=False,
        autoflush=False,
    )
    return Database(
        url=url,
        write_engine=write_engine,
        read_engine=read_engine,
        write_sessions=async_sessionmaker(
            write_engine, class_=WriteSession, expire_on_commit=False, autoflush=False
        ),
        read_sessions=ReadSessions(
            primary_reads,
            replicas,
            PrimaryPosition(
                create_async_engine(url, pool_size=1, max_overflow=0, connect_args=connect_args)
            )
            if replicas
            else None,
            max_wait_seconds=settings.read_replica_max_wait_seconds,
            retry_seconds=settings.read_replica_retry_seconds,
            observer=observer,
        ),
        direct_url=normalize_database_url(direct_url) if direct_url else url,
    )


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
