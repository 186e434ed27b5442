"""Each organisation's mandates version (what its mandate-list ETags are made of), cached in
every process, so that an ``If-None-Match`` poll that finds nothing changed costs no
database round trip.

Every mandate change bumps the organisation's version in its own transaction
(:func:`repository.bump_organisation_version`), which also sends ``NOTIFY`` on
:data:`repository.MANDATES_CHANGED_CHANNEL` with the organisation id; PostgreSQL delivers
it when that transaction commits. Every process listens, and a notification makes it forget
that organisation's version; the next poll reads it again. Changes committed by this
process are forgotten before their request answers (an after-commit hook), so a client sees
its own changes at once. The cache is used only while the listener is connected (it is
emptied whenever the listener connects), and an entry at most ``max_age_seconds`` old.

A read that a notification overtakes is not kept (:attr:`_forgets` moved meanwhile), and a
notification that arrives after a stale read was kept removes it, so a forgotten change
never sticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import asyncpg

from datahub_api.db import Database, libpq_url
from datahub_api.mandates import repository

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 10.0
LISTENER_NAME = "datahub-api-mandate-versions"
RECONNECT_SECONDS = 2.0


@dataclass
class MandateVersions:
    database: Database
    max_age_seconds: float = 30.0
    _versions: dict[int, tuple[int, float]] = field(default_factory=dict)
    _listening: bool = False
    _forgets: int = 0
    _task: asyncio.Task[None] | None = None

    async def version(self, organisation_id: int) -> int:
        """The organisation's current mandates version (read in a session of its own when
        not cached, so that a poll answered from the cache opens none)."""
        now = time.monotonic()
        if self._listening:
            cached = self._versions.get(organisation_id)
            if cached is not None and now - cached[1] < self.max_age_seconds:
                return cached[0]
        forgets = self._forgets
        async with self.database.read_sessions() as session:
            version = await repository.organisation_version(session, organisation_id)
        if self._listening and forgets == self._forgets:
            self._versions[organisation_id] = (version, now)
        return version

    def forget(self, organisation_id: int | None = None) -> None:
        """Forget one organisation's version, or every one."""
        self._forgets += 1
        if organisation_id is None:
            self._versions.clear()
        else:
            self._versions.pop(organisation_id, None)

    # --- the listener ----------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="mandate-versions-listener")

    async def stop(self) -> None:
        self._stop_trusting()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _stop_trusting(self) -> None:
        self._listening = False
        self.forget()

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: read versions from it until back
                logger.info("mandate versions listener: %s; retrying", exc.__class__.__name__)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        """Trust the cache for as long as one listening connection lives."""
        lost = asyncio.Event()

        def on_lost(_connection: object) -> None:
            self._stop_trusting()  # at once: notifications may be missed from now on
            lost.set()

        connection = await asyncpg.connect(
            libpq_url(self.database.direct_url),
            timeout=5,
            server_settings={"application_name": LISTENER_NAME},
        )
        try:
            connection.add_termination_listener(on_lost)
            await connection.add_listener(repository.MANDATES_CHANGED_CHANNEL, self._on_notify)
            self.forget()  # whatever changed while nobody listened
            self._listening = True
            while not lost.is_set() and not connection.is_closed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), KEEPALIVE_SECONDS)
                if not lost.is_set():  # a connection that died silently fails here
                    await connection.execute("SELECT 1", timeout=5)
        finally:
            self._stop_trusting()
            with contextlib.suppress(Exception):
                await connection.close()

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.forget(int(payload))
        except ValueError:
            self.forget()
