"""Every query whose list grows with its input takes it as one array parameter: PostgreSQL
carries at most 32,767 parameters per statement, and an expanding ``IN`` list (or a
multi-row ``VALUES``) takes one per item. Each path here gets more than that many items, on
the real engine, and answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi import FastAPI

from datahub_api.access_log import repository as access_log
from datahub_api.access_points import repository as access_points
from datahub_api.accounts import repository as accounts
from datahub_api.db import WriteSession
from datahub_api.gas_calorific import repository as gas_calorific
from datahub_api.history_exports import repository as history_exports
from datahub_api.nps import repository as nps
from datahub_api.organisations import repository as organisations
from datahub_api.paper_mandates import repository as paper_mandates
from datahub_api.webhooks import repository as webhooks

MANY = 40_000  # more than the 32,767 parameters a statement may carry
IDS = list(range(1, MANY + 1))
EANS = [f"5414488{n:011d}" for n in range(MANY)]
NOW = datetime(2026, 12, 1, tzinfo=UTC)

Path = Callable[[WriteSession], Awaitable[object]]

PATHS: dict[str, Path] = {
    "accounts.roles_by_id": lambda s: accounts.roles_by_id(s, IDS),
    "access_points.grid_user_periods": lambda s: access_points.grid_user_periods(s, IDS),
    "access_points.lock_existing": lambda s: access_points.lock_existing(s, EANS),
    "access_points.lock_for_metering": lambda s: access_points.lock_for_metering(s, EANS),
    "access_points.energy_types": lambda s: access_points.energy_types(s, EANS),
    "access_log.read_summary": lambda s: access_log.read_summary(s, EANS, IDS, NOW),
    "gas_calorific.stored_values": lambda s: gas_calorific.stored_values(
        s, [(f"zone-{n}", date(2026, 1, 1)) for n in range(MANY)]
    ),
    "gas_calorific.upsert_values": lambda s: gas_calorific.upsert_values(
        s, [(f"zone-{n}", date(2026, 1, 1), Decimal("11.45"), "P") for n in range(MANY)], NOW
    ),
    "gas_calorific.upsert_members": lambda s: gas_calorific.upsert_members(
        s, [(ean, "zone-a") for ean in EANS]
    ),
    "history_exports.item_counts": lambda s: history_exports.item_counts(s, IDS),
    "history_exports.with_withdrawn_data": lambda s: history_exports.with_withdrawn_data(
        s, IDS, NOW
    ),
    "history_exports.delivered_between": lambda s: history_exports.delivered_between(
        s, NOW, NOW, IDS
    ),
    "nps.listed_live_eans": lambda s: nps.listed_live_eans(s, 1, EANS),
    "nps.live_nps_mandate_eans": lambda s: nps.live_nps_mandate_eans(s, 1, EANS),
    "nps.own_mandates": lambda s: nps.own_mandates(s, 1, IDS),
    "nps.mandates_by_id": lambda s: nps.mandates_by_id(s, IDS),
    "nps.mandates_under_audit": lambda s: nps.mandates_under_audit(s, IDS),
    "organisations.latest_status_changes": lambda s: organisations.latest_status_changes(s, IDS),
    "paper_mandates.for_mandates": lambda s: paper_mandates.for_mandates(s, IDS),
    "paper_mandates.pending_checks": lambda s: paper_mandates.pending_checks(s, mandate_ids=IDS),
    "webhooks.attempts_of": lambda s: webhooks.attempts_of(s, IDS),
}


@pytest.mark.parametrize("path", sorted(PATHS))
async def test_more_items_than_a_statement_has_parameters(app: FastAPI, path: str) -> None:
    async with app.state.database.write_sessions() as session:
        await PATHS[path](session)
        await session.rollback()
