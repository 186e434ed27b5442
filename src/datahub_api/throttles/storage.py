"""Where the counters live: Redis when ``DATAHUB_REDIS_URL`` is set, else PostgreSQL.

Both are ``limits`` storages, so every throttle is written once against the library's
interface (``incr``/``get``/``get_expiry``/``clear`` and the sliding-window counter). The
PostgreSQL storage is this service's own: each call is one short transaction of its own,
apart from the request's (a refused login rolls back; its failure must still count).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from limits.aio.storage import RedisStorage, SlidingWindowCounterSupport, Storage
from sqlalchemy.exc import DBAPIError

from datahub_api.db import Database
from datahub_api.settings import Settings
from datahub_api.throttles import repository


class PostgresStorage(Storage, SlidingWindowCounterSupport):
    """The ``limits`` storage interface over the ``throttle_counters`` table."""

    STORAGE_SCHEME = None

    def __init__(self, database: Callable[[], Database]) -> None:
        super().__init__()
        self._database = database

    @property
    def database(self) -> Database:
        return self._database()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (DBAPIError, OSError)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        async with self.database.write_sessions() as session:
            count = await repository.incr(session, key, expiry, amount)
            await session.commit()
        return count

    async def get(self, key: str) -> int:
        async with self.database.write_sessions() as session:
            count, _ = await repository.get(session, key)
        return count

    async def get_expiry(self, key: str) -> float:
        async with self.database.write_sessions() as session:
            _, expires = await repository.get(session, key)
        return expires if expires is not None else time.time()

    async def check(self) -> bool:
        try:
            await self.get("check")
        except self.base_exceptions:
            return False
        return True

    async def reset(self) -> int | None:
        async with self.database.write_sessions() as session:
            await repository.clear_prefix(session, "")
            await session.commit()
        return None

    async def clear(self, key: str) -> None:
        async with self.database.write_sessions() as session:
            await repository.clear(session, key)
            await session.commit()

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        async with self.database.write_sessions() as session:
            taken = await repository.acquire_sliding_window_entry(
                session, key, limit, expiry, amount
            )
            await session.commit()
        return taken

    async def acquire_and_window(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> tuple[bool, tuple[int, float, int, float]]:
        """A hit and the window after it, in one round trip."""
        async with self.database.write_sessions() as session:
            answer = await repository.acquire_and_window(session, key, limit, expiry, amount)
            await session.commit()
        return answer

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        async with self.database.write_sessions() as session:
            return await repository.sliding_window(session, key, expiry)

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        async with self.database.write_sessions() as session:
            await repository.clear_prefix(session, key + "/")
            await session.commit()


def open_storage(settings: Settings, database: Callable[[], Database]) -> Storage:
    """Redis when configured (every node of the service uses the same one), else the
    database (``database`` gives the process's, once its lifespan opened it); never process
    memory, so a budget never grows with the number of processes."""
    if settings.redis_url:
        options: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
        return RedisStorage(
            "async+" + settings.redis_url.removeprefix("async+"),
            implementation="redispy",
            wrap_exceptions=True,  # limits.errors.StorageError: answered 503
            key_prefix=settings.redis_key_prefix,
            **options,
        )
    return PostgresStorage(database)


async def sweep_expired(database: Database) -> int:
    """The periodic clean-up of the PostgreSQL counters (Redis expires keys itself)."""
    async with database.write_sessions() as session:
        gone = await repository.sweep(session)
        await session.commit()
    return gone
