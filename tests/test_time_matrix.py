"""The time matrix: every face an ESP reads metering data through, read across the tenure
boundaries of a mover (the isolation matrix's twin for time, issue 15).

One large digital installation (GVM, so every channel serves it) and three households that
each are its grid user and customer in turn: the previous one until the spring DST day of
2026, the mover from that day (92 quarter-hours) until the autumn DST day (100
quarter-hours), the next one from then. The mover gives ESP A an API mandate, an NPS mandate
(listed) and a signed yearly-history mandate. Every face is asked about the day before the
move-in, the move-in day, a day of the tenure, the move-out day and a day after, while the
mover lives there, after the registry learns the move-out, under the next household's
mandate, and with that mandate past its expiration instant.

Faces: native JSON and CSV, ``/v3`` readTime and insertTime, the bulk query, the change
feed, NPS daily files, the history export, the portal's chart and CSV; and what they tell
around the data: ``meter_data.available`` events, the ESP's SLA figures, the access log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.auth.principal import Role
from datahub_api.brussels_days import brussels_date
from datahub_api.history_exports import tasks as history_tasks
from datahub_api.jobs import JobQueue, commit
from datahub_api.nps.service import daily_files as nps_daily_files
from datahub_api.settings import Settings
from datahub_api.sla import service as sla_service

from .support.access_point_data import fresh_ean
from .support.consent_world import PASSWORD, Person, decide, log_in, make_person, open_consent
from .support.consent_world import put_access_point as put_point
from .support.environment import make_settings
from .support.meter_data import day_rows
from .support.nps_world import sha, signed_pdf
from .support.parties import Esp, auth_headers, make_esp, make_machine_client
from .support.portal import portal_browser
from .support.reading_world import deliver
from .support.time_faces import Faces, csv_values_by_day, files_of, only

SINCE = "2026-01-01"
BEFORE = date(2026, 3, 28)  # the previous household's last day
MOVE_IN = date(2026, 3, 29)  # spring DST: 92 quarter-hours
DURING = date(2026, 6, 10)
MOVE_OUT = date(2026, 10, 25)  # autumn DST: 100 quarter-hours, the next household's first
AFTER = date(2026, 11, 10)
DAYS = (BEFORE, MOVE_IN, DURING, MOVE_OUT, AFTER)
SLOTS = {BEFORE: 96, MOVE_IN: 92, DURING: 96, MOVE_OUT: 100, AFTER: 96}
PER_DAY_FACES = ("native", "native_csv", "v3_read", "bulk", "portal_chart", "portal_csv")
PERIOD = {"data_period_from": "2026-01-01T00:00:00Z", "data_period_to": "2027-06-01T00:00:00Z"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        meter_data_changes_margin_seconds=0, history_export_dir=tmp_path / "exports"
    )


@dataclass
class Movers:
    app: FastAPI
    client: httpx.AsyncClient
    esp: Esp
    previous: Person
    mover: Person
    following: Person
    ean: str
    operator: dict[str, str]
    head_end: dict[str, str]
    headers: dict[str, str]  # ESP A's

    async def occupy(self, *households: tuple[Person, str, str | None]) -> None:
        periods = [
            {"account_id": person.id, "valid_from": start}
            | ({"valid_to": end} if end is not None else {})
            for person, start, end in households
        ]
        await put_point(
            self.client,
            self.operator,
            self.ean,
            since=SINCE,
            gvm=True,
            grid_users=periods,
            customers=periods,
        )

    async def deliver(self, *days: date, value: str | None = None) -> None:
        rows = [row for day in days for row in day_rows(self.ean, day, value=value)]
        await deliver(self.client, self.head_end, rows)

    async def consent(self, person: Person, channel: str, reference: str) -> int:
        """``person`` (grid user and customer: approved at once) gives ESP A a mandate."""
        if channel == "api":
            identifier = await open_consent(
                self.client,
                self.esp,
                numberOfEans=1,
                referenceNumber=reference,
                dataServices=[
                    {
                        "dataServiceType": "VH_kwartier_uur",
                        "dataPeriodFrom": PERIOD["data_period_from"],
                        "dataPeriodTo": PERIOD["data_period_to"],
                    }
                ],
            )
        else:
            opened = await self.client.post(
                "/api/v1/consent-sessions",
                json={
                    "contract_number": self.esp.contract_number,
                    "reference_number": reference,
                    "channel": channel,
                    "data_services": [{"data_service_type": "VH_kwartier_uur", **PERIOD}],
                },
                headers=self.headers,
            )
            assert opened.status_code == 201, opened.text
            identifier = opened.json()["identifier"]
        decided = await decide(self.app, person, identifier, [self.ean])
        assert decided.status_code == 200, decided.text
        [made] = decided.json()["mandates"]
        assert made["status"] == "approved", made
        return int(made["id"])

    async def mandate(self, mandate_id: int) -> dict[str, Any]:
        answer = await self.client.get(f"/api/v1/mandates/{mandate_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def nps_file_days(self, day: date) -> dict[date, int]:
        """The next NPS daily file (made for ``day``): rows of the EAN per Brussels day."""
        async with self.app.state.database.write_sessions() as session:
            [made] = await nps_daily_files.make_daily_files(
                session, day=day, until=datetime.now(UTC)
            )
            await commit(session, self.app.state.jobs)
        answer = await self.client.get(f"/api/v1/nps/daily-files/{made.id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        found: dict[date, int] = {}
        for row in csv.DictReader(io.StringIO(answer.text)):
            assert row["ean"] == self.ean
            slot = brussels_date(datetime.fromisoformat(row["slot_start"]))
            found[slot] = found.get(slot, 0) + 1
        return found

    async def sla_expected(self, month: str) -> int:
        """ESP A's counted EAN-days on the API channel in ``month`` (rolled up first)."""
        first = date.fromisoformat(f"{month}-01")
        end = (first + timedelta(days=32)).replace(day=1)
        async with self.app.state.database.write_sessions() as session:
            days = [first + timedelta(days=n) for n in range((end - first).days)]
            await sla_service.roll_up_days(session, days, datetime.now(UTC))
            await session.commit()
        answer = await self.client.get(
            "/api/v1/sla/report",
            params={"channel": "api", "from": first.isoformat(), "to": end.isoformat()},
            headers=self.headers,
        )
        assert answer.status_code == 200, answer.text
        return int(answer.json()["total"]["expected"])

    async def reads_seen_by(self, person: Person) -> list[dict[str, Any]]:
        browser = await log_in(self.app, person)
        try:
            answer = await browser.get(f"/api/v1/access-points/{self.ean}/access-log")
            assert answer.status_code == 200, answer.text
            return list(answer.json()["items"])
        finally:
            await browser.aclose()


async def make_movers(app: FastAPI, client: httpx.AsyncClient) -> Movers:
    esp = await make_esp(app, "ESP A")
    async with app.state.database.write_sessions() as session:
        session.add(
            Account(
                username="erik.esp",
                password_hash=hash_password(PASSWORD),
                display_name="Erik of ESP A",
                role=AccountRole.esp_user,
                organisation_id=esp.organisation_id,
            )
        )
        await session.commit()
    world = Movers(
        app=app,
        client=client,
        esp=esp,
        previous=await make_person(app, "paul.previous", AccountRole.customer),
        mover=await make_person(app, "mia.mover", AccountRole.customer),
        following=await make_person(app, "nora.next", AccountRole.customer),
        ean=fresh_ean(),
        operator=await auth_headers(client, await make_machine_client(app, Role.operator)),
        head_end=await auth_headers(client, await make_machine_client(app, Role.head_end)),
        headers=await auth_headers(client, esp),
    )
    await world.occupy(
        (world.previous, SINCE, MOVE_IN.isoformat()), (world.mover, MOVE_IN.isoformat(), None)
    )
    return world


def per_day(expected: Mapping[date, int | None], days: tuple[date, ...]) -> dict[date, Any]:
    """The same answer on every per-day face, day by day."""
    return {day: dict.fromkeys(PER_DAY_FACES, expected[day]) for day in days}


async def read_every_day(faces: Faces, ean: str, days: tuple[date, ...]) -> dict[date, Any]:
    return {day: await faces.every_day_face(ean, day) for day in days}


async def test_every_face_across_a_movers_tenure(app: FastAPI, client: httpx.AsyncClient) -> None:
    world = await make_movers(app, client)
    start = datetime.now(UTC) - timedelta(minutes=1)
    # While the mover lives there, only the days up to now have data.
    await world.deliver(BEFORE, MOVE_IN, DURING)
    api = await world.consent(world.mover, "api", "mia-api")
    nps = await world.consent(world.mover, "nps", "mia-nps")
    listed = await client.post(
        "/api/v1/nps/requests",
        json={
            "reference_number": "mia-nps",
            "eans": [{"ean": world.ean, "evidence": {"source": "portal", "mandate_id": nps}}],
        },
        headers=world.headers,
    )
    assert listed.json()["items"][0]["outcome"] == "accepted", listed.text
    exported = await client.post(
        "/api/v1/history-exports",
        json={
            "reference_number": "mia-history",
            "period_from": "2026-01-01",
            "period_to": "2026-09-30",
            "format": "csv",
            "eans": [
                {
                    "ean": world.ean,
                    "evidence": {
                        "signatory_name": "Mia Mover",
                        "signed_on": "2026-05-01",
                        "document_sha256": sha(signed_pdf("Mia Mover")),
                    },
                }
            ],
        },
        headers=world.headers,
    )
    assert exported.status_code == 201, exported.text
    export_id = exported.json()["id"]
    queue: JobQueue = app.state.jobs
    await queue.run_until_idle()
    history = f"/api/v1/history-exports/{export_id}/file"

    portal = await portal_browser(app, "erik.esp")
    faces = Faces(client, world.headers, portal)
    try:
        # --- the mover lives there --------------------------------------------------
        living = (BEFORE, MOVE_IN, DURING)
        mine = {BEFORE: 0, MOVE_IN: 92, DURING: 96}
        assert await read_every_day(faces, world.ean, living) == per_day(mine, living)
        assert only(living, await faces.changes(world.ean)) == mine
        inserted = await faces.v3_inserted(world.ean, start)
        assert inserted is not None
        assert only(living, inserted) == mine
        assert only(living, await world.nps_file_days(date(2026, 11, 30))) == mine
        file = await client.get(history, headers=world.headers)
        assert file.status_code == 200, file.text
        [content] = files_of(file.content, "export.csv").values()
        assert only(living, csv_values_by_day(content, world.ean)) == mine
        listing = await portal.get("/portal/esp/access-points")
        assert DURING.strftime("%d-%m-%Y") in listing.text  # data up to the mover's last day
        # The ESP's service level counts the mover's days of March, not the previous
        # household's.
        assert await world.sla_expected("2026-03") == 3  # 29, 30 and 31 March
        # A correction of both households' days is announced for the mover's only.
        await world.deliver(BEFORE, DURING, value="5")
        announced = await client.get(
            "/api/v1/events", params={"types": "meter_data.available"}, headers=world.headers
        )
        assert [e["data"]["days"] for e in announced.json()["items"]] == [[DURING.isoformat()]]

        # --- the registry learns the move-out (the consent was given in May) -----------
        for mandate_id in (api, nps, exported.json()["items"][0]["mandate_id"]):
            async with app.state.database.write_sessions() as session:
                await session.execute(
                    text("UPDATE mandates SET created_at = :at WHERE id = :id"),
                    {"at": datetime(2026, 5, 1, 10, tzinfo=UTC), "id": mandate_id},
                )
                await session.commit()
        await world.occupy(
            (world.previous, SINCE, MOVE_IN.isoformat()),
            (world.mover, MOVE_IN.isoformat(), MOVE_OUT.isoformat()),
            (world.following, MOVE_OUT.isoformat(), None),
        )
        for mandate_id in (api, nps):
            ended = await world.mandate(mandate_id)
            assert (ended["status"], ended["finished_reason"]) == ("finished", "tenure_ended")
        await world.deliver(MOVE_OUT, AFTER)
        await world.deliver(DURING, value="6")
        refused = dict.fromkeys(DAYS, None)
        assert await read_every_day(faces, world.ean, DAYS) == per_day(refused, DAYS)
        assert await faces.changes(world.ean) == {}
        assert await faces.v3_inserted(world.ean, start) is None
        assert await world.nps_file_days(date(2026, 12, 1)) == {}
        withdrawn = await client.get(history, headers=world.headers)
        assert withdrawn.status_code == 410, withdrawn.text
        assert withdrawn.json()["withdrawn"][0]["reason"] == "tenure_ended"
        assert "history-export-withdrawn" in withdrawn.json()["type"]
        await history_tasks.run_sweep(queue)
        await queue.run_until_idle()
        status = (
            await client.get(f"/api/v1/history-exports/{export_id}", headers=world.headers)
        ).json()
        assert (status["status"], status["withdrawn"], status["download_url"]) == (
            "failed",
            True,
            None,
        )
        assert (await client.get(history, headers=world.headers)).status_code == 410

        # The portal's list of access points tells nothing of the next household's data.
        listing = await portal.get("/portal/esp/access-points")
        assert listing.status_code == 200
        assert AFTER.strftime("%d-%m-%Y") not in listing.text
        assert MOVE_OUT.strftime("%d-%m-%Y") not in listing.text

        # --- the next household's mandate: their days only ---------------------------
        await world.consent(world.following, "api", "nora-api")
        theirs = {BEFORE: 0, MOVE_IN: 0, DURING: 0, MOVE_OUT: 100, AFTER: 96}
        assert await read_every_day(faces, world.ean, DAYS) == per_day(theirs, DAYS)
        assert only(DAYS, await faces.changes(world.ean)) == theirs
        inserted = await faces.v3_inserted(world.ean, start)
        assert inserted is not None
        assert only(DAYS, inserted) == theirs
        assert await world.sla_expected("2026-03") == 0
        assert await world.sla_expected("2026-10") == 7  # from 25 October

        # --- past its expiration instant, before the daily job -------------------------
        async with app.state.database.write_sessions() as session:
            await session.execute(
                text(
                    "UPDATE mandates SET expiration_date = now() - interval '1 second' "
                    "WHERE reference_number = 'nora-api'"
                )
            )
            await session.commit()
        assert await read_every_day(faces, world.ean, DAYS) == per_day(refused, DAYS)
        assert await faces.changes(world.ean) == {}
        assert await faces.v3_inserted(world.ean, start) is None
    finally:
        await portal.aclose()

    # --- who sees whose reads -----------------------------------------------------------
    mover_reads = await world.reads_seen_by(world.mover)
    assert mover_reads, "the mover still sees who read her days after moving out"
    assert {r["mandate_id"] for r in mover_reads} >= {api}
    following_reads = await world.reads_seen_by(world.following)
    assert following_reads
    assert all(r["period_from"] >= "2026-10-24T22:00:00+00:00" for r in following_reads)
    assert api not in {r["mandate_id"] for r in following_reads}
    assert await world.reads_seen_by(world.previous) == []
