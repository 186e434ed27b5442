"""The application's state, typed, and the dependencies that hand it to the faces.

``create_app`` builds one :class:`AppState` and makes it the app's ``state``; the lifespan
fills in what exists only while the app runs (the database, the signing keys, the grants
cache, the mandate-version listener, the job queue). Everything reads the state through
:func:`app_state` or :func:`state_of`, never through untyped attributes.

The layering: this module sits above what the state holds (the engines, the keys, the
grants cache, ...) and below what reads it per request (the caller's principal in
:mod:`datahub_api.auth.dependencies`, the request's sessions here): so a module the state
holds never reads the state itself; whoever needs it at request time asks up here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from limits.aio.storage import Storage

from datahub_api.accounts.service import LoginThrottle
from datahub_api.auth.grants import AccessGrants
from datahub_api.auth.keys import KeyStore
from datahub_api.auth.principal import Principal, PrincipalCheck
from datahub_api.auth.rate_limit import ClientRateLimiter
from datahub_api.db import Database, ReadSession, WriteSession, commit_and_run_hooks
from datahub_api.health.admission import Admission
from datahub_api.health.draining import Drain
from datahub_api.jobs import JobQueue
from datahub_api.mandates.versions import MandateVersions
from datahub_api.observability import Metrics
from datahub_api.settings import Settings
from datahub_api.throttles.service import AttemptCeiling, FailureThrottle


@dataclass(eq=False)
class AppState:
    """Everything a running app holds. The fields without a default are there from
    ``create_app`` on; the others from the start of the lifespan (reading one before is an
    ``AttributeError``, as it was on Starlette's untyped state)."""

    settings: Settings
    metrics: Metrics
    drain: Drain
    principal_checks: list[PrincipalCheck]
    throttle_storage: Storage
    rate_limiter: ClientRateLimiter
    login_throttle: LoginThrottle
    token_throttle: FailureThrottle
    registration_ceiling: AttemptCeiling
    admission: Admission
    probe_admission: Admission
    database: Database = field(init=False)
    keys: KeyStore = field(init=False)
    access_grants: AccessGrants = field(init=False)
    mandate_versions: MandateVersions = field(init=False)
    jobs: JobQueue = field(init=False)


def state_of(app: Any) -> AppState:
    """The typed state of an app built by ``create_app``."""
    state = app.state
    assert isinstance(state, AppState), "the app was not built by create_app"
    return state


def app_state(request: Request) -> AppState:
    """The state of the app serving ``request``."""
    return state_of(request.app)


def _started(app: Any, name: str) -> object:
    # After-commit hooks are handed the app, or outside a request the stand-in of
    # jobs.commit (a state holding only the job queue): what either holds, or None.
    return getattr(getattr(app, "state", None), name, None)


def started_jobs(app: Any) -> JobQueue | None:
    """The job queue of ``app`` once its lifespan has started it, else None (an after-commit
    hook of an app without one queues nothing)."""
    queue = _started(app, "jobs")
    return queue if isinstance(queue, JobQueue) else None


def started_database(app: Any) -> Database | None:
    """The database of ``app`` once its lifespan has opened it, else None."""
    database = _started(app, "database")
    return database if isinstance(database, Database) else None


def started_mandate_versions(app: Any) -> MandateVersions | None:
    """The mandate-version cache of ``app`` once its lifespan has started it, else None."""
    versions = _started(app, "mandate_versions")
    return versions if isinstance(versions, MandateVersions) else None


# --- the access grants, read at request time ------------------------------------------------


async def check_grants(request: Request, principal: Principal) -> Principal:
    """The principal check of the grants cache (:meth:`AccessGrants.admit`)."""
    return await app_state(request).access_grants.admit(principal)


async def reload_grants_after_commit(app: Any) -> None:
    """After-commit hook of a change to organisations, contracts or clients: this process
    sees its own change before it answers."""
    await state_of(app).access_grants.reload()


# --- the request's sessions -------------------------------------------------------------------


async def request_database(request: Request) -> Database:
    """The process's database (``async``: FastAPI would run a plain function in a thread)."""
    return app_state(request).database


DatabaseDep = Annotated[Database, Depends(request_database)]


async def _write_session(request: Request, database: DatabaseDep) -> AsyncIterator[WriteSession]:
    async with database.write_sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await commit_and_run_hooks(session, request.app)


async def _read_session(database: DatabaseDep) -> AsyncIterator[ReadSession]:
    async with database.read_sessions() as session:
        yield session


# scope="function": the commit happens when the route returns, before the response is sent,
# so a failed commit is an error answer and never a success answer for lost data.
WriteSessionDep = Annotated[WriteSession, Depends(_write_session, scope="function")]
ReadSessionDep = Annotated[ReadSession, Depends(_read_session, scope="function")]
