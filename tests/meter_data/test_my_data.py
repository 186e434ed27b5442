"""A customer reads their own metering data (issue 20, item 1): their access points as
customer, their own days only (a previous or next tenant's days are gaps), on the API and in
the portal; another customer's EAN is an unknown one; their own reads are not ESP reads.

The flat of :mod:`tests.support.tenancy_world`: the previous tenant until the spring DST day (92
quarter-hours, the tenant's first), the tenant until the autumn DST day (100 quarter-hours,
the next tenant's first), the landlord its grid user throughout.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from html import unescape as html_unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from ..support.consent_world import Person, log_in
from ..support.parties import auth_headers
from ..support.portal import portal_browser
from ..support.tenancy_world import (
    AFTER,
    BEFORE,
    DURING,
    MOVE_IN,
    MOVE_OUT,
    QUARTER_HOURS,
    SINCE,
    Tenancy,
    make_tenancy,
)

ME = "/api/v1/me/access-points"


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> Tenancy:
    return await make_tenancy(app, client)


async def moved_out(world: Tenancy) -> None:
    """The tenant left on the autumn DST day; the next tenant came that day."""
    await world.occupy(
        (world.previous, SINCE, MOVE_IN.isoformat()),
        (world.tenant, MOVE_IN.isoformat(), MOVE_OUT.isoformat()),
        (world.following, MOVE_OUT.isoformat(), None),
    )


async def get(app: FastAPI, person: Person, path: str, **params: str) -> httpx.Response:
    browser = await log_in(app, person)
    try:
        return await browser.get(path, params=params)
    finally:
        await browser.aclose()


async def day_values(
    app: FastAPI, person: Person, ean: str, day: date
) -> list[float | None] | None:
    """The quarter-hour values of ``day`` as ``person`` reads them (None: refused)."""
    answer = await get(
        app,
        person,
        f"{ME}/{ean}/meter-data",
        **{"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
    )
    if answer.status_code != 200:
        assert answer.status_code == 404, answer.text
        return None
    found = answer.json()["series"]
    if not found:  # no day of the window is theirs: no series, as for a day without data
        return []
    [series] = found
    values: list[float | None] = series["values"]
    return values


def full(values: list[float | None] | None) -> bool:
    return values is not None and all(value is not None for value in values)


def empty(values: list[float | None] | None) -> bool:
    return values is not None and all(value is None for value in values)


async def test_each_customer_reads_their_own_days_only_on_both_dst_days(
    app: FastAPI, world: Tenancy
) -> None:
    listed = await get(app, world.tenant, ME)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "items": [
            {
                "ean": world.ean,
                "energy_type": "E",
                "meter_type": "DM",
                "tenures": [{"from": MOVE_IN.isoformat(), "to": None}],
            }
        ]
    }
    tenant_first_day = await day_values(app, world.tenant, world.ean, MOVE_IN)
    assert tenant_first_day is not None
    assert len(tenant_first_day) == QUARTER_HOURS[MOVE_IN] == 92
    assert full(tenant_first_day)
    assert empty(await day_values(app, world.tenant, world.ean, BEFORE))  # the previous one's
    assert full(await day_values(app, world.previous, world.ean, BEFORE))
    assert empty(await day_values(app, world.previous, world.ean, MOVE_IN))

    await moved_out(world)
    last = await get(app, world.tenant, ME)
    assert last.json()["items"][0]["tenures"] == [
        {"from": MOVE_IN.isoformat(), "to": MOVE_OUT.isoformat()}
    ]
    assert empty(await day_values(app, world.tenant, world.ean, MOVE_OUT))  # the next one's
    assert full(await day_values(app, world.tenant, world.ean, DURING))  # still theirs
    autumn = await day_values(app, world.following, world.ean, MOVE_OUT)
    assert autumn is not None
    assert len(autumn) == QUARTER_HOURS[MOVE_OUT] == 100
    assert full(autumn)
    assert full(await day_values(app, world.following, world.ean, AFTER))
    assert empty(await day_values(app, world.following, world.ean, DURING))


async def test_another_customers_access_point_is_an_unknown_one(
    app: FastAPI, world: Tenancy
) -> None:
    bounds = {"from": MOVE_IN.isoformat(), "to": DURING.isoformat()}
    # The landlord is only the grid user: the days are the tenants'.
    assert (await get(app, world.landlord, ME)).json() == {"items": []}
    theirs = await get(app, world.landlord, f"{ME}/{world.ean}/meter-data", **bounds)
    unknown = await get(app, world.landlord, f"{ME}/541448820000000001/meter-data", **bounds)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["title"] == unknown.json()["title"]
    # Asked before any parameter: nonsense bounds on another's EAN tell nothing either.
    odd = await get(app, world.following, f"{ME}/{world.ean}/meter-data", **{"from": "x"})
    assert odd.status_code == 404
    # An ESP is no customer.
    esp = await world.client.get(
        f"{ME}/{world.ean}/meter-data",
        params=bounds,
        headers=await auth_headers(world.client, world.esp_a),
    )
    assert esp.status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"from": "0001-01-01", "to": "0001-01-02"},
        {"from": "9999-12-30", "to": "9999-12-31"},
        {"from": "2026-06-10"},
        {"from": "2026-06-10", "to": "2026-06-11", "granularity": "PT5M"},
        {"from": "2026-06-10", "to": "2026-06-11", "format": "pdf"},
        {"from": "2026-06-10\x00", "to": "2026-06-11"},
        {"from": "2000-01-01", "to": "2099-12-31", "format": "xlsx"},  # over a sheet's rows
    ],
)
async def test_bad_questions_get_a_clear_422(
    app: FastAPI, world: Tenancy, params: dict[str, str]
) -> None:
    answer = await get(app, world.tenant, f"{ME}/{world.ean}/meter-data", **params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_csv_and_xlsx_hold_the_customers_days_in_the_fluvius_layout(
    app: FastAPI, world: Tenancy
) -> None:
    bounds = {"from": BEFORE.isoformat(), "to": (MOVE_IN + timedelta(days=1)).isoformat()}
    csv = await get(app, world.tenant, f"{ME}/{world.ean}/meter-data", format="csv", **bounds)
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Van (datum);Van (tijdstip);Tot (datum)")
    with_volume = [line for line in lines[1:] if line.split(";")[8]]
    # Only the tenant's first day (92 quarter-hours) has volumes; the day before is a gap.
    assert len(with_volume) == 92
    assert all(line.startswith("29-03-2026") for line in with_volume)

    xlsx = await get(app, world.tenant, f"{ME}/{world.ean}/meter-data", format="xlsx", **bounds)
    assert xlsx.status_code == 200
    sheet: Any = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len([row for row in rows[1:] if row[8] not in (None, "")]) == 92


async def test_own_reads_are_not_in_the_access_log(app: FastAPI, world: Tenancy) -> None:
    assert full(await day_values(app, world.tenant, world.ean, DURING))
    log = await get(app, world.tenant, f"/api/v1/access-points/{world.ean}/access-log")
    assert log.status_code == 200
    assert log.json()["items"] == []


# --- the portal ----------------------------------------------------------------------------


def chart_figures(html: str) -> dict[str, int]:
    """The chart's data attributes (buckets, gaps, estimates) as the page draws them."""
    found = re.search(r'<svg[^>]*data-buckets="(\d+)"[^>]*data-gaps="(\d+)"', html)
    assert found, "no chart on the page"
    return {"buckets": int(found.group(1)), "gaps": int(found.group(2))}


async def test_the_portal_shows_my_data_in_both_languages_on_both_dst_days(
    app: FastAPI, world: Tenancy
) -> None:
    await moved_out(world)
    tenant = await portal_browser(app, world.tenant.username)
    landlord = await portal_browser(app, world.landlord.username)
    try:
        home = await tenant.get("/portal/")
        assert 'href="/portal/my-data"' in home.text
        listed = await tenant.get("/portal/my-data")
        assert listed.status_code == 200
        assert world.ean in listed.text
        assert "29-03-2026 tot 25-10-2026" in listed.text
        assert "10-06-2026" in listed.text  # the last of the tenant's days with data
        english = await tenant.get("/portal/my-data?lang=en")
        assert "29-03-2026 to 25-10-2026" in english.text
        assert "My metering data" in english.text

        first = await tenant.get(f"/portal/my-data/{world.ean}?span=day&date=2026-03-29")
        assert first.status_code == 200, first.text
        assert chart_figures(first.text) == {"buckets": 92, "gaps": 0}
        autumn = await tenant.get(f"/portal/my-data/{world.ean}?span=day&date=2026-10-25")
        assert chart_figures(autumn.text) == {"buckets": 100, "gaps": 100}  # the next tenant's
        before = await tenant.get(f"/portal/my-data/{world.ean}?span=day&date=2026-03-28")
        assert chart_figures(before.text) == {"buckets": 96, "gaps": 96}  # the previous one's

        # The downloads are exactly the selection, and the tenant's own days only.
        csv_link = re.search(r'href="(/portal/my-data/[^"]+/csv[^"]*)"', first.text)
        json_link = re.search(r'href="(/api/v1/me/access-points/[^"]+)"', first.text)
        assert csv_link
        assert json_link
        csv = await tenant.get(html_unescape(csv_link.group(1)))
        assert csv.status_code == 200
        volumes = [
            line for line in csv.content.decode("utf-8-sig").splitlines()[1:] if line.split(";")[8]
        ]
        assert len(volumes) == 92
        json = await tenant.get(html_unescape(json_link.group(1)))
        assert json.status_code == 200, json.text
        assert len(json.json()["series"][0]["values"]) == 92

        # Not theirs: the landlord (grid user only) and an unknown EAN alike.
        assert (
            "U bent van geen enkel toegangspunt klant."
            in (await landlord.get("/portal/my-data")).text
        )
        theirs = await landlord.get(f"/portal/my-data/{world.ean}")
        unknown = await landlord.get("/portal/my-data/541448820000000001")
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.text.replace(world.ean, "") == unknown.text.replace("541448820000000001", "")
        assert (await landlord.get(f"/portal/my-data/{world.ean}/csv")).status_code == 404

        bad = await tenant.get(f"/portal/my-data/{world.ean}?span=day&date=0001-01-01")
        assert bad.status_code == 422
        assert "Choose a date between 2000 and 2100." in bad.text  # English since ?lang=en
    finally:
        await tenant.aclose()
        await landlord.aclose()
