"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from limits.aio.storage import Storage
from limits.errors import StorageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datahub_api import embedded_postgres
from datahub_api.access_log.router import router as access_log_router
from datahub_api.access_points.router import router as access_points_router
from datahub_api.accounts.router import router as accounts_router
from datahub_api.accounts.service import LoginThrottle
from datahub_api.api_docs import install_api_docs
from datahub_api.audit.service import audit_refusal
from datahub_api.auth.clients_router import router as clients_router
from datahub_api.auth.grants import AccessGrants
from datahub_api.auth.keys import KeyStore, key_source, warn_if_the_key_encryption_key_is_local
from datahub_api.auth.rate_limit import ClientRateLimiter, RateLimitHeadersMiddleware
from datahub_api.auth.router import router as auth_router
from datahub_api.auth.token_router import render_oauth_error
from datahub_api.auth.token_router import router as token_router
from datahub_api.capacity.router import router as capacity_router
from datahub_api.client_address import ClientAddressMiddleware
from datahub_api.contracts.router import router as contracts_router
from datahub_api.db import create_database, normalize_database_url
from datahub_api.deps import AppState, check_grants, state_of
from datahub_api.errors import (
    PROBLEM_SCHEMA,
    PayloadTooLarge,
    ServiceUnavailable,
    install_error_handlers,
    problem_responses,
    register_face_renderer,
    render,
)
from datahub_api.events.router import router as events_router
from datahub_api.fluvius_v3.errors import install_v3_face
from datahub_api.fluvius_v3.router import router as v3_router
from datahub_api.gas_calorific.router import router as gas_calorific_router
from datahub_api.health.admission import PROBES_IN_FLIGHT, Admission, AdmissionMiddleware
from datahub_api.health.draining import Drain, DrainMiddleware, drain_on_signals
from datahub_api.health.router import router as health_router
from datahub_api.history_exports.router import router as history_exports_router
from datahub_api.http_caching import install_not_modified
from datahub_api.installations.router import router as installations_router
from datahub_api.jobs import JobQueue
from datahub_api.mandates.router import router as mandates_router
from datahub_api.mandates.versions import MandateVersions
from datahub_api.meter_data.changes_router import router as meter_data_changes_router
from datahub_api.meter_data.query_router import router as meter_data_query_router
from datahub_api.meter_data.read_router import router as meter_data_read_router
from datahub_api.meter_data.router import INGEST_PATH
from datahub_api.meter_data.router import router as meter_data_ingest_router
from datahub_api.nps.router import router as nps_router
from datahub_api.observability import (
    Metrics,
    MetricsMiddleware,
    RequestIdMiddleware,
    configure_logging,
)
from datahub_api.organisations.router import router as organisations_router
from datahub_api.paper_mandates.router import router as paper_mandates_router
from datahub_api.portal.customer_pages import router as portal_customer_router
from datahub_api.portal.esp import router as portal_esp_router
from datahub_api.portal.mail_pages import router as portal_mail_router
from datahub_api.portal.my_data_pages import router as portal_my_data_router
from datahub_api.portal.operator_pages import router as portal_operator_router
from datahub_api.portal.pages import render_portal_error
from datahub_api.portal.router import install_portal_static
from datahub_api.portal.router import router as portal_router
from datahub_api.security_headers import SecurityHeadersMiddleware
from datahub_api.settings import Settings, get_settings
from datahub_api.sla.gauges import SlaGauges
from datahub_api.sla.router import router as sla_router
from datahub_api.throttles.service import AttemptCeiling, FailureThrottle
from datahub_api.throttles.storage import open_storage
from datahub_api.webhooks.router import router as webhooks_router

logger = logging.getLogger(__name__)

API_DESCRIPTION = """\
The data hub through which energy service providers (ESPs) get the metering data of their
customers' access points, with the customers' consent.

* `/api/v1/...`: the native API (problem+json errors, cursor paging, ETags).
* `/v3/api/...`: compatible with Fluvius's ESP API v3.
* Routes marked **sandbox only** exist only when the service runs with `DATAHUB_SANDBOX=true`.
"""


class BodySizeLimitMiddleware:
    """Refuses bodies over the configured size with 413, before a route reads them.

    ``per_path`` gives other limits to exact paths (the meter-readings ingest takes
    batches far larger than ordinary bodies)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, receive, send, limit)
                return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
            return message

        async def guarded_send(message: Message) -> None:
            # A route that reads its body through a parser (FastAPI's JSON body) turns the
            # error raised above into "could not parse the body"; the answer is still 413.
            nonlocal started
            if exceeded:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(scope, receive, send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        from starlette.requests import Request

        response = render(
            Request(scope, receive), PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        )
        await response(scope, receive, send)


def _document_problem_schema(app: FastAPI) -> None:
    """Add the RFC 9457 ``Problem`` schema that error responses refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_SCHEMA
            )
            # Answers any route may give: body too large, and the database away.
            for path, operations in schema.get("paths", {}).items():
                if path.startswith("/v3/"):
                    for operation in operations.values():  # /v3 answers 400, never 422
                        operation.get("responses", {}).pop("422", None)
                if not path.startswith("/api/"):
                    continue
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    for status, response in problem_responses(413, 503).items():
                        responses.setdefault(str(status), response)
                    # FastAPI documents its 422 as plain JSON; ours are problem+json.
                    if "422" in responses:
                        responses["422"] = problem_responses(422)[422]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> FastAPI:
    """Build the ASGI app. Without a database URL (argument or settings) it starts the
    embedded PostgreSQL of the data dir for its lifetime."""
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    metrics = Metrics()
    metrics.before_scrape.append(SlaGauges(metrics.registry, settings).refresh)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = state_of(app)
        embedded = None
        url = database_url or settings.database_url
        if url is None:
            embedded = embedded_postgres.start(settings.embedded_pg_dir)
            url = embedded.url()
        database = create_database(
            normalize_database_url(url),
            settings,
            read_urls=settings.read_database_urls,
            direct_url=settings.direct_database_url,
            observer=metrics,
        )
        state.database = database
        if embedded is None:
            warn_if_the_key_encryption_key_is_local(settings)
        try:
            state.keys = await KeyStore(key_source(settings, database)).open()
        except BaseException:
            await database.dispose()
            if embedded is not None:
                embedded.release()
            raise
        grants = AccessGrants(database, settings.grants_refresh_seconds)
        state.access_grants = grants
        grants.start()
        mandate_versions = MandateVersions(database)
        state.mandate_versions = mandate_versions
        mandate_versions.start()
        jobs = JobQueue(database.direct_url, database, settings)
        state.jobs = jobs
        try:
            await jobs.open()
            if settings.run_worker_in_process:
                jobs.start_worker()
            with drain_on_signals(state.drain, settings.shutdown_delay_seconds):
                yield
        finally:
            await jobs.close()
            await mandate_versions.stop()
            await grants.stop()
            await database.dispose()
            if embedded is not None:
                embedded.release()

    app = FastAPI(
        title="datahub-api",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from this process by install_api_docs
        redoc_url=None,
    )
    throttles = install_throttles(app, settings)
    # The app's state is the typed AppState (deps.py), not Starlette's untyped State.
    app.state = AppState(  # type: ignore[assignment]
        settings=settings,
        metrics=metrics,
        drain=Drain(),
        principal_checks=[check_grants],
        throttle_storage=throttles.storage,
        rate_limiter=throttles.rate_limiter,
        login_throttle=throttles.login_throttle,
        token_throttle=throttles.token_throttle,
        registration_ceiling=throttles.registration_ceiling,
        admission=Admission(
            settings.max_in_flight, settings.admission_queue, settings.admission_wait_seconds
        ),
        probe_admission=Admission(
            PROBES_IN_FLIGHT, settings.admission_queue, settings.admission_wait_seconds
        ),
    )
    register_face_renderer("/oauth2", render_oauth_error)
    register_face_renderer("/portal", render_portal_error)
    install_error_handlers(app, on_refusal=audit_refusal)
    install_not_modified(app)
    install_v3_face(app)
    install_api_docs(app)
    install_portal_static(app)
    app.include_router(health_router)
    # The routes ESP backends poll come early: routes are matched in this order.
    app.include_router(mandates_router)
    app.include_router(events_router)
    app.include_router(auth_router)
    app.include_router(token_router)
    app.include_router(accounts_router)
    app.include_router(organisations_router)
    app.include_router(contracts_router)
    app.include_router(clients_router)
    app.include_router(access_points_router)
    app.include_router(gas_calorific_router)
    app.include_router(access_log_router)
    app.include_router(installations_router)
    app.include_router(portal_router)
    app.include_router(portal_esp_router)
    app.include_router(portal_customer_router)
    app.include_router(portal_my_data_router)
    app.include_router(portal_operator_router)
    app.include_router(portal_mail_router)
    app.include_router(v3_router)
    app.include_router(meter_data_ingest_router)
    app.include_router(meter_data_read_router)
    app.include_router(capacity_router)
    app.include_router(meter_data_changes_router)
    app.include_router(meter_data_query_router)
    app.include_router(webhooks_router)
    app.include_router(sla_router)
    app.include_router(nps_router)
    app.include_router(paper_mandates_router)
    app.include_router(history_exports_router)

    _document_problem_schema(app)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={INGEST_PATH: settings.ingest_max_body_bytes},
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(ClientAddressMiddleware, trusted_proxies=settings.trusted_proxies)
    app.add_middleware(DrainMiddleware, drain=state_of(app).drain)
    # Before all the rest: a request shed costs no more than its 503 (a saturated process
    # answers hundreds a second); it is counted in datahub_http_requests_shed. Only the
    # request id and the hardening headers, both cheap, come outside it: a shed answer
    # carries them too.
    app.add_middleware(
        AdmissionMiddleware,
        admission=state_of(app).admission,
        probes=state_of(app).probe_admission,
        retry_after_seconds=settings.admission_retry_after_seconds,
        on_shed=metrics.requests_shed.inc,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


@dataclass(frozen=True)
class Throttles:
    storage: Storage
    rate_limiter: ClientRateLimiter
    login_throttle: LoginThrottle
    token_throttle: FailureThrottle
    registration_ceiling: AttemptCeiling


def install_throttles(app: FastAPI, settings: Settings) -> Throttles:
    """Every budget of the app on one shared storage (Redis, else PostgreSQL)."""
    storage = open_storage(settings, lambda: state_of(app).database)

    async def on_storage_unavailable(request: Request, exc: Exception) -> Response:
        # Budgets are never skipped: without their store, the request waits for it.
        logger.warning("throttle storage unavailable: %s", exc)
        return render(
            request,
            ServiceUnavailable(
                "The rate-limit store is unavailable; please retry shortly.",
                headers={"Retry-After": "5"},
            ),
        )

    app.add_exception_handler(StorageError, on_storage_unavailable)
    return Throttles(
        storage=storage,
        rate_limiter=ClientRateLimiter(
            settings.rate_limit_requests, settings.rate_limit_window_seconds, storage
        ),
        login_throttle=LoginThrottle(
            storage,
            free_failures=settings.login_free_failures,
            max_wait_seconds=settings.throttle_backoff_max_seconds,
            failures_per_address_per_hour=settings.login_failures_per_address_per_hour,
        ),
        token_throttle=FailureThrottle(
            storage,
            "token",
            free_failures=settings.token_free_failures,
            max_wait_seconds=settings.throttle_backoff_max_seconds,
            ceiling_per_hour=settings.token_failures_per_address_per_hour,
            message="Too many failed client authentications; try again later.",
        ),
        registration_ceiling=AttemptCeiling(
            storage,
            "registration",
            settings.registrations_per_address_per_hour,
            3600,
            "Too many registrations from this address; try again later.",
        ),
    )
