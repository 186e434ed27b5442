"""The application's state, typed, and the dependencies that hand it to the faces.

``create_app`` builds one :class:`AppState` and makes it the app's ``state``; the lifespan
fills in what exists only while the app runs (the database, the signing keys, the grants
cache, the mandate-version listener, the job queue). A face reads the state through
:func:`app_state` or one of the ``*Dep`` aliases below, never through untyped attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from limits.aio.storage import Storage

from datahub_api.accounts.service import LoginThrottle
from datahub_api.auth.dependencies import PrincipalCheck
from datahub_api.auth.grants import AccessGrants
from datahub_api.auth.keys import KeyStore
from datahub_api.auth.rate_limit import ClientRateLimiter
from datahub_api.db import Database
from datahub_api.errors import RefusalListener
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
    on_refusal: RefusalListener
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


async def request_settings(request: Request) -> Settings:
    return app_state(request).settings


async def request_database(request: Request) -> Database:
    return app_state(request).database


async def request_keys(request: Request) -> KeyStore:
    return app_state(request).keys


async def request_jobs(request: Request) -> JobQueue:
    return app_state(request).jobs


StateDep = Annotated[AppState, Depends(app_state)]
SettingsDep = Annotated[Settings, Depends(request_settings)]
DatabaseDep = Annotated[Database, Depends(request_database)]
KeysDep = Annotated[KeyStore, Depends(request_keys)]
JobsDep = Annotated[JobQueue, Depends(request_jobs)]
