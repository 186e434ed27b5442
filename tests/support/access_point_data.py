"""Test data for the access-point registry: accounts in the database and access-point bodies."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi import FastAPI

from datahub_api.access_points.ean import make_ean
from datahub_api.accounts import repository as accounts_repository
from datahub_api.db import Database

_serials = itertools.count(1)


def fresh_ean() -> str:
    """A valid Belgian EAN not used before in this test process."""
    return make_ean(next(_serials) * 7919)


async def add_accounts(app: FastAPI, count: int, *, role: str = "customer") -> list[int]:
    """``count`` accounts in the app's database; their ids."""
    database: Database = app.state.database
    first = next(_serials)
    async with database.write_sessions() as session:
        ids = await accounts_repository.add_accounts(
            session,
            accounts_repository.NewAccounts(
                username=[f"{role}-{first}-{i}" for i in range(count)],
                password_hash=["not-a-real-hash"] * count,
                display_name=[f"Person {i}" for i in range(count)],
                email=[None] * count,
                role=[role] * count,
            ),
        )
        await session.commit()
    return ids


def access_point_body(
    ean: str | None = None,
    *,
    grid_user: int | None = None,
    customer_ids: tuple[int, ...] = (),
    since: str = "2024-01-01",
    **overrides: Any,
) -> dict[str, Any]:
    """A digital electricity meter that communicates since ``since``."""
    body: dict[str, Any] = {
        "energy_type": "E",
        "meter_type": "DM",
        "metering": "metering-on-meter",
        "gvm": False,
        "physical_meters": [
            {"seq_number": "1", "meter_id": "1SAG2120063032", "installed_from": since}
        ],
        "communication_periods": [{"valid_from": since}],
        "grid_users": [{"account_id": grid_user, "valid_from": since}] if grid_user else [],
        "customers": [{"account_id": c, "valid_from": since} for c in customer_ids],
    }
    if ean is not None:
        body["ean"] = ean
    body.update(overrides)
    return body
