"""An ESP world for the portal's ESP pages: ESP A with a mandate on the owner's EAN and
quarter-hours of three days (a plain one and both 2026 DST days: gaps, estimates and
injection), a staff member of ESP A and one of ESP B."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import httpx
from fastapi import FastAPI

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password

from .consent_world import PASSWORD, ConsentWorld, Person, make_consent_world
from .meter_data import day_rows
from .parties import Esp
from .reading_world import deliver, head_end_headers, mandate

SPRING, AUTUMN, PLAIN = date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 10)


@dataclass
class EspWorld:
    world: ConsentWorld
    staff_a: Person
    staff_b: Person
    ean: str


async def make_staff(app: FastAPI, username: str, esp: Esp) -> Person:
    async with app.state.database.write_sessions() as session:
        account = Account(
            username=username,
            password_hash=hash_password(PASSWORD),
            display_name=username,
            role=AccountRole.esp_user,
            organisation_id=esp.organisation_id,
        )
        session.add(account)
        await session.commit()
        return Person(id=account.id, username=username)


async def make_esp_world(app: FastAPI, client: httpx.AsyncClient) -> EspWorld:
    world = await make_consent_world(app, client)
    staff_a = await make_staff(app, "anna.esp-a", world.esp_a)
    staff_b = await make_staff(app, "bert.esp-b", world.esp_b)
    ean = world.owner_ean
    await mandate(app, client, world.esp_a, world.owner, ean)
    head_end = await head_end_headers(app, client)
    rows = []
    for day in (PLAIN, SPRING, AUTUMN):
        skipped = (10, 11, 12, 13) if day == PLAIN else (10, 11)
        rows += day_rows(ean, day, slots=[s for s in range(90) if s not in skipped])
        rows += day_rows(ean, day, direction="injection", value="0.100", slots=range(40, 60))
    rows += day_rows(ean, PLAIN, slots=[12, 13], state="EST", value="0.500")
    await deliver(client, head_end, rows)
    return EspWorld(world, staff_a, staff_b, ean)
