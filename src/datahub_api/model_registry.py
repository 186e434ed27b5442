"""Imports every domain's models so that ``Base.metadata`` is complete (alembic, tests)."""

from __future__ import annotations

import importlib

DOMAINS_WITH_MODELS: tuple[str, ...] = (
    "demo",
    "organisations",
    "accounts",
    "contracts",
    "auth",
    "audit",
    "idempotency",
    "access_points",
    "events",
    "webhooks",
)


def import_all_models() -> None:
    for domain in DOMAINS_WITH_MODELS:
        importlib.import_module(f"datahub_api.{domain}.models")
