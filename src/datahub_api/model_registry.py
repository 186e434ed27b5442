"""Imports every domain's models so that ``Base.metadata`` is complete (alembic, tests)."""

from __future__ import annotations

import importlib

from datahub_api.meter_data.models import is_partition

DOMAINS_WITH_MODELS: tuple[str, ...] = (
    "demo",
    "organisations",
    "accounts",
    "contracts",
    "auth",
    "audit",
    "idempotency",
    "access_points",
    "mandates",
    "access_log",
    "meter_data",
    "events",
    "webhooks",
    "sla",
    "nps",
    "history_exports",
    "paper_mandates",
    "gas_calorific",
    "throttles",
)


def import_all_models() -> None:
    for domain in DOMAINS_WITH_MODELS:
        importlib.import_module(f"datahub_api.{domain}.models")


def is_unmanaged_table(name: str) -> bool:
    """Tables made at run time rather than by migrations (yearly partitions of the meter
    data): alembic leaves them out of its comparison."""
    return is_partition(name)
