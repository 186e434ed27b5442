"""A flat whose tenants come and go: a landlord who stays its grid user, a previous tenant,
a tenant and the next one (customers); ESP A with every channel and a member of staff on
its portal; metering data on the days around the moves, both DST days of 2026 included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.auth.principal import Role

from .access_point_data import fresh_ean
from .consent_world import PASSWORD, Person, decide, log_in, make_person, open_consent
from .consent_world import put_access_point as put_point
from .meter_data import day_rows
from .parties import Esp, auth_headers, make_esp, make_machine_client
from .portal import portal_browser
from .reading_world import deliver
from .time_faces import Faces

SINCE = "2026-01-01"
BEFORE = date(2026, 3, 28)  # the previous tenant's last day
MOVE_IN = date(2026, 3, 29)  # the tenant's first day: spring DST, 92 quarter-hours
DURING = date(2026, 6, 10)
MOVE_OUT = date(2026, 10, 25)  # the next tenant's first day: autumn DST, 100 quarter-hours
AFTER = date(2026, 11, 10)
QUARTER_HOURS = {BEFORE: 96, MOVE_IN: 92, DURING: 96, MOVE_OUT: 100, AFTER: 96}
DATA_PERIOD = {"dataPeriodFrom": "2026-01-01T00:00:00Z", "dataPeriodTo": "2027-06-01T00:00:00Z"}


@dataclass
class Tenancy:
    app: FastAPI
    client: httpx.AsyncClient
    esp_a: Esp
    esp_b: Esp
    landlord: Person
    previous: Person
    tenant: Person
    following: Person
    ean: str
    operator: dict[str, str]
    head_end: dict[str, str]
    staff: str  # ESP A's portal login

    async def occupy(self, *tenants: tuple[Person, str, str | None], **body: Any) -> None:
        """The registry's customers of the flat (the landlord stays its grid user)."""
        body.setdefault("grid_users", [{"account_id": self.landlord.id, "valid_from": SINCE}])
        await put_point(
            self.client,
            self.operator,
            self.ean,
            since=SINCE,
            customers=[
                {"account_id": person.id, "valid_from": start}
                | ({"valid_to": end} if end is not None else {})
                for person, start, end in tenants
            ],
            **body,
        )

    async def deliver(self, *days: date, value: str | None = None) -> None:
        rows = [row for day in days for row in day_rows(self.ean, day, value=value)]
        await deliver(self.client, self.head_end, rows)

    async def consent(self, person: Person, reference: str, **over: Any) -> dict[str, Any]:
        """``person`` approves ESP A's consent request on the flat (API, quarter-hours);
        the mandate as the decision answers it."""
        identifier = await open_consent(
            self.client,
            self.esp_a,
            numberOfEans=1,
            referenceNumber=reference,
            **({"dataServices": [{"dataServiceType": "VH_kwartier_uur", **DATA_PERIOD}]} | over),
        )
        decided = await decide(self.app, person, identifier, [self.ean])
        assert decided.status_code == 200, decided.text
        [mandate] = decided.json()["mandates"]
        return dict(mandate)

    async def co_consent(self) -> None:
        """The landlord approves every co-consent waiting in their inbox."""
        browser = await log_in(self.app, self.landlord)
        try:
            inbox = (await browser.get("/api/v1/co-consents")).json()
            assert inbox, "nothing to co-consent"
            for task in inbox:
                answer = await browser.post(
                    f"/api/v1/co-consents/{task['id']}/decision", json={"decision": "approve"}
                )
                assert answer.status_code == 200, answer.text
        finally:
            await browser.aclose()

    async def mandate(self, mandate_id: int) -> dict[str, Any]:
        answer = await self.client.get(
            f"/api/v1/mandates/{mandate_id}", headers=await auth_headers(self.client, self.esp_a)
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def given_on(self, mandate_id: int, when: datetime) -> None:
        """As if the mandate had been given at ``when`` (a consent in the past)."""
        async with self.app.state.database.write_sessions() as session:
            await session.execute(
                text("UPDATE mandates SET created_at = :when WHERE id = :id"),
                {"when": when, "id": mandate_id},
            )
            await session.commit()

    async def faces(self) -> tuple[Faces, httpx.AsyncClient]:
        """ESP A's faces; close the returned portal browser after use."""
        portal = await portal_browser(self.app, self.staff)
        return Faces(self.client, await auth_headers(self.client, self.esp_a), portal), portal


async def make_tenancy(app: FastAPI, client: httpx.AsyncClient) -> Tenancy:
    esp_a = await make_esp(app, "ESP A")
    esp_b = await make_esp(app, "ESP B")
    staff = "erik.esp"
    async with app.state.database.write_sessions() as session:
        session.add(
            Account(
                username=staff,
                password_hash=hash_password(PASSWORD),
                display_name="Erik of ESP A",
                role=AccountRole.esp_user,
                organisation_id=esp_a.organisation_id,
            )
        )
        await session.commit()
    world = Tenancy(
        app=app,
        client=client,
        esp_a=esp_a,
        esp_b=esp_b,
        landlord=await make_person(app, "larry.landlord", AccountRole.grid_user),
        previous=await make_person(app, "paul.previous", AccountRole.customer),
        tenant=await make_person(app, "tina.tenant", AccountRole.customer),
        following=await make_person(app, "nora.next", AccountRole.customer),
        ean=fresh_ean(),
        operator=await auth_headers(client, await make_machine_client(app, Role.operator)),
        head_end=await auth_headers(client, await make_machine_client(app, Role.head_end)),
        staff=staff,
    )
    await world.occupy(
        (world.previous, SINCE, MOVE_IN.isoformat()), (world.tenant, MOVE_IN.isoformat(), None)
    )
    await world.deliver(*QUARTER_HOURS)
    return world
