"""Demo SLA figures: the demo's day blocks are loaded in bulk (not through ingest), so the
EAN-days are rebuilt from them and every demo day is rolled up. The meter-data demo makes
some days late, some never complete and some never arrive, and one month (about 45 days
back) misses the API target (see ``meter_data/demo_data.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from datahub_api.brussels_days import today_in_brussels
from datahub_api.db import WriteSession
from datahub_api.demo.world import DemoWorldBuilder
from datahub_api.sla import repository, service


async def seed_sla(session: WriteSession, world: DemoWorldBuilder) -> None:
    today = today_in_brussels()
    first = today - timedelta(days=world.parameters.days)
    await repository.rebuild_from_blocks(session, first, today)
    days = [first + timedelta(days=n) for n in range((today - first).days)]
    await service.roll_up_days(session, days, datetime.now(UTC))
