"""A customer's own monthly capacity peaks (issue 20 item 3, the customer's side):
``GET /api/v1/me/access-points/{ean}/monthly-peaks`` and the chart on their "my data" page,
over their own days only (the previous tenant's 8 kW is not the tenant's peak), another
customer's EAN an unknown one, own reads not in the access log.

The flat of :mod:`tests.support.tenancy_world`: the previous tenant until the spring DST day, the
tenant from it (92 quarter-hours on their first day)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.brussels_days import day_start

from ..support.consent_world import Person, log_in
from ..support.parties import auth_headers
from ..support.portal import portal_browser
from ..support.tenancy_world import BEFORE, MOVE_IN, Tenancy, make_tenancy

ME = "/api/v1/me/access-points"


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> Tenancy:
    world = await make_tenancy(app, client)
    await world.deliver(BEFORE, value="2.000")  # the previous tenant's 8 kW quarter-hours
    return world


async def get(app: FastAPI, person: Person, path: str, **params: str) -> httpx.Response:
    browser = await log_in(app, person)
    try:
        return await browser.get(path, params=params)
    finally:
        await browser.aclose()


async def test_each_customer_has_the_peaks_of_their_own_days(app: FastAPI, world: Tenancy) -> None:
    march = {"from": "2026-03", "to": "2026-03"}
    mine = await get(app, world.tenant, f"{ME}/{world.ean}/monthly-peaks", **march)
    assert mine.status_code == 200, mine.text
    [month] = mine.json()["months"]
    # The spring day's last quarter-hour (slot 91: 92 Wh) is the tenant's highest.
    assert month["peak_kw"] == 0.368
    last = day_start(MOVE_IN) + timedelta(minutes=15 * 91)
    assert month["at"] == last.isoformat().replace("+00:00", "Z")
    assert (month["quarter_hours"], month["quarter_hours_expected"]) == (92, 31 * 96 - 4)
    assert (month["billed_kw"], month["completeness"]) == (2.5, "incomplete")
    theirs = await get(app, world.previous, f"{ME}/{world.ean}/monthly-peaks", **march)
    assert theirs.status_code == 200, theirs.text
    [before] = theirs.json()["months"]
    assert (before["peak_kw"], before["quarter_hours"]) == (8.0, 96)


async def test_another_customers_access_point_is_an_unknown_one(
    app: FastAPI, world: Tenancy
) -> None:
    path = f"{ME}/{world.ean}/monthly-peaks"
    theirs = await get(app, world.following, path, **{"from": "0001-01"})
    unknown = await get(app, world.following, f"{ME}/541448820000000001/monthly-peaks")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["title"] == unknown.json()["title"]
    esp = await world.client.get(path, headers=await auth_headers(world.client, world.esp_a))
    assert esp.status_code == 403
    odd = await get(app, world.tenant, path, **{"from": "2026-01", "to": "9999-12"})
    assert odd.status_code == 422
    assert odd.headers["content-type"].startswith("application/problem+json")


async def test_own_reads_are_not_in_the_access_log(app: FastAPI, world: Tenancy) -> None:
    mine = await get(app, world.tenant, f"{ME}/{world.ean}/monthly-peaks", format="csv")
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"].startswith("text/csv")
    log = await get(app, world.tenant, f"/api/v1/access-points/{world.ean}/access-log")
    assert log.json()["items"] == []


async def test_the_my_data_page_draws_the_customers_peaks(app: FastAPI, world: Tenancy) -> None:
    browser = await portal_browser(app, world.tenant.username)
    try:
        page = await browser.get(f"/portal/my-data/{world.ean}?span=month&date=2026-03-29")
        assert page.status_code == 200, page.text
        assert "Maandpieken (capaciteitstarief)" in page.text
        assert "piek 0,368 kW op 29-03-2026 23:45 (CEST)" in page.text
        assert "piek 8 kW" not in page.text
        found = re.search(r'href="(/api/v1/me/access-points/[^"]+format=csv)"', page.text)
        assert found is not None
        download = await browser.get(found.group(1).replace("&amp;", "&"))
    finally:
        await browser.aclose()
    assert download.status_code == 200, download.text
    lines = download.content.decode("utf-8-sig").splitlines()
    assert lines[-1].split(";")[1:3] == ["2026-03", "0,368"]
