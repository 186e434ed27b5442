"""Portal page tests: a browser-like client per person (cookies, forms, redirects)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from datahub_api.brussels_days import day_start
from datahub_api.sla import repository as sla_repository

from .consent_world import browser_login, field
from .meter_data import day_rows
from .parties import Esp


class Held:
    """The most connections of the primary's pool held at once (reads and writes share it
    when there is no replica)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def checkout(self, *_: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def checkin(self, *_: Any) -> None:
        self.now -= 1


@asynccontextmanager
async def held_connections(app: FastAPI) -> AsyncIterator[Held]:
    """Counts what the primary's pool hands out while the block runs."""
    pool = app.state.database.write_engine.sync_engine.pool
    held = Held()
    event.listen(pool, "checkout", held.checkout)
    event.listen(pool, "checkin", held.checkin)
    try:
        yield held
    finally:
        event.remove(pool, "checkout", held.checkout)
        event.remove(pool, "checkin", held.checkin)


async def portal_browser(app: FastAPI, username: str) -> httpx.AsyncClient:
    """A client with its own cookie jar, logged in through the login form; close it."""
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    answer = await browser_login(browser, username, "/portal/")
    assert answer.status_code == 303, answer.text
    return browser


async def post_form(
    browser: httpx.AsyncClient, page_path: str, action: str, **data: str
) -> httpx.Response:
    """Open ``page_path``, take its CSRF token, and post ``data`` to ``action``."""
    page = await browser.get(page_path)
    assert page.status_code == 200, page.text
    return await browser.post(action, data={"csrf_token": field(page.text, "csrf_token"), **data})


def no_trace(response: httpx.Response) -> None:
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("text/html")


async def seed_sla_month(app: FastAPI, esp: Esp, first: date) -> None:
    """A month of the SLA tracker's figures on channel API: one communicating EAN of
    ``esp``, its days delivered the next morning, every 7th day 5 days late, the 20th
    never; then the roll-up, as the tracker's job does it."""
    from .sla_world import add_mandate, days, ingest, put_point, roll_up

    ean = await put_point(app)
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
    await add_mandate(app, esp, ean, first, last + timedelta(days=365))
    month = [day for day in days(first, last) if day.day != 20]
    await ingest(app, [row for day in month for row in day_rows(ean, day)], track=False)
    async with app.state.database.write_sessions() as session:
        for day in month:
            late = 5 if day.day % 7 == 0 else 1
            await sla_repository.record_deliveries(
                session,
                sla_repository.DeliveryDeltas(
                    ean=[ean], day=[day], streams=[1], complete=[1], validated=[0]
                ),
                day_start(day) + timedelta(days=late, hours=6),
            )
        await session.commit()
    await roll_up(app, days(first, last), datetime.now(UTC))
