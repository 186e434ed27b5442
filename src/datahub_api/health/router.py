"""Liveness, readiness and metrics: what a load balancer and Prometheus ask.

``/metrics`` is for the scrapers the settings name (see :func:`check_metrics_scraper`)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from datahub_api.db import Database
from datahub_api.deps import app_state
from datahub_api.errors import DATABASE_RETRY_AFTER_SECONDS, PROBLEM_JSON, problem_responses
from datahub_api.health.draining import Drain
from datahub_api.schema_migrations import current_revision, head_revision, known_revisions
from datahub_api.security_headers import check_metrics_scraper

router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_SECONDS = 3.0


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"]
    migration: str | None


class NotReady(BaseModel):
    type: str
    title: str
    status: int
    detail: str


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    """Never touches the database."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: database reachable and migrated to this release's head (or a newer "
    "release's), node not shutting down",
    responses={503: {"model": NotReady, "content": {PROBLEM_JSON: {}}}},
)
async def readyz(request: Request) -> Response:
    drain: Drain = app_state(request).drain
    if drain.draining:  # SIGTERM: out of the load balancer's rotation (see draining.py)
        return _not_ready("draining: this node is shutting down")
    database: Database = app_state(request).database
    head = head_revision()
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            async with database.write_engine.connect() as connection:
                revision = await current_revision(connection)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return _not_ready(f"database unreachable: {exc.__class__.__name__}")
    if revision != head and (revision is None or revision in known_revisions()):
        return _not_ready(f"database schema is at {revision or 'nothing'}, expected {head}")
    # A revision this release does not know is a newer release's expand step (a rolling
    # upgrade migrates first, then replaces the nodes): the old nodes stay in rotation.
    return JSONResponse(Readiness(status="ready", database="ok", migration=revision).model_dump())


def _not_ready(reason: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": "Not ready", "status": 503, "detail": reason},
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **problem_responses(403, s403="Not a scraper named by the metrics settings"),
    },
    dependencies=[Depends(check_metrics_scraper)],
)
async def metrics(request: Request) -> Response:
    for refresh in app_state(request).metrics.before_scrape:
        await refresh(request.app)
    registry = app_state(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
