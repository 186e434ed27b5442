"""Demo calorific values: one zone-wide (``default``) value per gas day over the demo's
period and the days ahead, definitive up to the end of the month before last (Fluvius fixes
a month's values after it closes), predictive after, so gas shows in kWh everywhere and the
demo holds both kinds."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from datahub_api.brussels_days import today_in_brussels
from datahub_api.db import WriteSession
from datahub_api.demo.world import DemoWorldBuilder
from datahub_api.gas_calorific import repository
from datahub_api.gas_calorific.models import DEFAULT_ZONE
from datahub_api.meter_data import repository as meter_data_repository


async def seed_calorific_values(session: WriteSession, world: DemoWorldBuilder) -> None:
    # A random source of its own: the other seeders' draws stay as they were.
    rng = random.Random(world.parameters.seed * 7919 + 16)  # noqa: S311  demo data
    today = today_in_brussels()
    first = today - timedelta(days=world.parameters.days + 2)
    definitive_until = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    rows = []
    day = first
    while day <= today + timedelta(days=1):
        value = Decimal(str(round(11.45 + rng.uniform(-0.15, 0.15), 5)))
        rows.append((DEFAULT_ZONE, day, value, "D" if day < definitive_until else "P"))
        day += timedelta(days=1)
    now = await meter_data_repository.clock(session)
    for start in range(0, len(rows), 1000):
        await repository.upsert_values(session, rows[start : start + 1000], now)
    await session.flush()
