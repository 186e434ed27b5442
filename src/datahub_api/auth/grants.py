"""What each organisation's tokens may still do, cached in every process.

A token is verified without a database round trip; its scopes are then narrowed to what
the organisation's approved contracts grant *now*, and tokens of revoked clients are
refused. The cache reloads when any process announces a change (PostgreSQL ``NOTIFY`` on
:data:`ACCESS_CHANGED_CHANNEL`, sent in the changing transaction, so it arrives on
commit), right after a change committed by this process, and every
``grants_refresh_seconds`` as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from datahub_api.auth import repository as auth_repository
from datahub_api.auth.principal import Principal, Role
from datahub_api.auth.tokens import invalid_token
from datahub_api.brussels_days import today_in_brussels
from datahub_api.contracts import repository as contracts_repository
from datahub_api.contracts.repository import ACCESS_CHANGED_CHANNEL
from datahub_api.contracts.scopes import scopes_for_channels
from datahub_api.db import Database
from datahub_api.errors import Forbidden
from datahub_api.organisations import repository as organisations_repository

logger = logging.getLogger(__name__)


@dataclass
class AccessGrants:
    database: Database
    refresh_seconds: float
    organisation_scopes: dict[int, frozenset[str]] = field(default_factory=dict)
    revoked_clients: frozenset[str] = frozenset()
    subscription_keys: dict[str, int] = field(default_factory=dict)
    loaded: bool = False
    # When the snapshot now applied was read (wall clock, before its queries ran).
    loaded_at: float = 0.0
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Reloads run one at a time: a slow reload that read before a commit must not finish
    # after, and overwrite, a reload that read after it.
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reload(self, *, unless_read_after: float | None = None) -> None:
        """Read the grants again (skipped when a snapshot read after the given instant is
        already applied: many requests waiting on one stale token reload once)."""
        async with self._reloading:
            if unless_read_after is not None and self.loaded_at > unless_read_after:
                return
            await self._reload()

    async def _reload(self) -> None:
        started = time.time()
        async with self.database.read_sessions() as session:
            channels = await contracts_repository.active_channels_by_organisation(
                session, today_in_brussels()
            )
            active = await organisations_repository.active_organisation_ids(session)
            revoked = await auth_repository.revoked_client_ids(session)
            keys = await auth_repository.active_subscription_keys(session)
        self.organisation_scopes = {
            organisation: scopes_for_channels(channels.get(organisation, ()))
            for organisation in active
        }
        self.revoked_clients = frozenset(revoked)
        self.subscription_keys = keys
        self.loaded = True
        self.loaded_at = started

    async def narrow(self, principal: Principal) -> Principal | None:
        """The principal with only the scopes still granted; None when refused outright.

        A token issued after this process last read the grants (by another process, or
        before a change's notification arrived here) may carry grants newer than the
        cache: before refusing or narrowing such a token, read the grants again, once
        per token at most (the new snapshot is younger than the token)."""
        if not self.loaded:
            await self.reload()
        narrowed = self._narrow(principal)
        if principal.issued_at is None or (narrowed is not None and narrowed == principal):
            return narrowed
        # iat is whole seconds: the grant was decided within the second after it.
        granted_by = principal.issued_at + 1
        if self.loaded_at <= granted_by:
            await self.reload(unless_read_after=granted_by)
            narrowed = self._narrow(principal)
        return narrowed

    async def admit(self, principal: Principal) -> Principal:
        """The principal narrowed to its grants (:meth:`narrow`), or the refusal: a revoked
        client's token is an invalid token; a person whose organisation may not act now is
        refused outright (the same refusal as the portal's)."""
        narrowed = await self.narrow(principal)
        if narrowed is None:
            if principal.user_id is not None:
                raise Forbidden(
                    "Your organisation may not use the service now (suspended, closed or not "
                    "yet admitted by the grid operator)."
                )
            raise invalid_token()
        return narrowed

    def _narrow(self, principal: Principal) -> Principal | None:
        if principal.subject in self.revoked_clients:
            return None
        if principal.role is Role.esp:
            if principal.organisation_id is None:
                return None
            allowed = self.organisation_scopes.get(principal.organisation_id)
            if allowed is None:  # organisation suspended, closed or unknown
                return None
            return replace(principal, scopes=principal.scopes & allowed)
        return principal

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="access-grants-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _listen_forever(self) -> None:
        dsn = (
            make_url(self.database.direct_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(dsn, timeout=5)
                # A lost connection wakes the loop at once: it reconnects (and reloads, for
                # the changes nobody heard) as soon as the database is back, instead of at
                # the next safety-net reload.
                connection.add_termination_listener(self._on_notify)
                await connection.add_listener(ACCESS_CHANGED_CHANNEL, self._on_notify)
                await self.reload()
                while not connection.is_closed():
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.refresh_seconds)
                    await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: keep the last view, try again soon
                logger.info("access grants listener: %s; retrying", exc.__class__.__name__)
                await asyncio.sleep(min(self.refresh_seconds, 5))
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
