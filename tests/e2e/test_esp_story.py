"""ESP staff in a real browser: log in, open an access point, see a chart with data, switch
to both DST days and see 92 and 100 quarter-hours, download the CSV report and find the
API's rows in it; screenshots of the ESP's main pages."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from playwright.async_api import Page, expect

from ..support.browser import NewPage, log_in, screenshot
from ..support.consent_world import PASSWORD
from ..support.esp_portal_world import AUTUMN, PLAIN, SPRING, make_esp_world
from ..support.parties import auth_headers


async def show_day(page: Page, day: str) -> None:
    await page.get_by_label("Periode").select_option("day")
    await page.get_by_label("Datum").fill(day)
    await page.get_by_role("button", name="Tonen").click()
    await page.wait_for_load_state()


async def chart_buckets(page: Page) -> int:
    chart = page.locator("figure.chart svg").first  # the monthly peaks follow it
    await expect(chart).to_be_visible()
    drawn = await chart.locator("g.bucket").count()
    assert drawn == int(await chart.get_attribute("data-buckets") or -1)
    return drawn


async def test_esp_staff_look_at_an_access_point_and_download_its_csv(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage, tmp_path: Path
) -> None:
    world = await make_esp_world(app, client)
    ean = world.ean
    page = await new_page()
    await log_in(page, world.staff_a.username, PASSWORD)
    await expect(page.get_by_role("navigation").get_by_text("Toegangspunten")).to_be_visible()
    await screenshot(page, "esp-home")

    await page.get_by_role("navigation").get_by_role("link", name="Toegangspunten").click()
    row = page.get_by_role("row").filter(has_text=ean)
    await expect(row).to_contain_text("goedgekeurd")
    await expect(row).to_contain_text("tot en met 25-10-2026")
    await screenshot(page, "esp-access-points")
    await row.get_by_role("link", name="Gegevens bekijken").click()
    assert page.url.split("?")[0].endswith(f"/portal/esp/access-points/{ean}")

    await show_day(page, PLAIN.isoformat())
    assert await chart_buckets(page) == 96
    assert await page.locator("rect.bar.offtake").count() > 50
    assert await page.locator("rect.bar.injection").count() == 20
    assert await page.locator("rect.bar.estimated").count() >= 2
    await expect(page.locator("figcaption.legend").first).to_contain_text("geen gegevens")
    await expect(page.get_by_text("kWh per kwartier")).to_be_visible()
    await screenshot(page, "esp-chart-day")

    for day, quarters in ((SPRING, 92), (AUTUMN, 100)):
        await show_day(page, day.isoformat())
        assert await chart_buckets(page) == quarters, day
        await expect(page.get_by_text(f"({quarters} kwartieren)")).to_be_visible()
    await screenshot(page, "esp-chart-dst-autumn")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    report = saved.read_text(encoding="utf-8-sig").splitlines()
    api = await client.get(
        f"/api/v1/access-points/{ean}/meter-data",
        params={"from": str(AUTUMN), "to": "2026-10-26", "format": "csv"},
        headers=await auth_headers(client, world.world.esp_a),
    )
    assert api.status_code == 200
    assert report == api.text.lstrip("\ufeff").splitlines()
    assert len(report) == 1 + 2 * 100

    await page.get_by_label("Periode").select_option("week")
    await page.get_by_role("button", name="Tonen").click()
    await page.wait_for_load_state()
    assert await chart_buckets(page) == 7 * 24 + 1  # the week of the autumn DST day
    await screenshot(page, "esp-chart-week")
    await page.get_by_role("link", name="EN", exact=True).click()
    await expect(page.locator("svg text.axis-title").first).to_have_text("Time (Brussels)")
    await screenshot(page, "esp-chart-week-english")
    await page.get_by_role("link", name="NL", exact=True).click()

    await page.get_by_label("Periode").select_option("month")
    await page.get_by_role("button", name="Tonen").click()
    await page.wait_for_load_state()
    assert await chart_buckets(page) == 31
    await screenshot(page, "esp-chart-month")

    await page.goto(f"/portal/esp/access-points/{ean}?span=day&date=2026-02-30")
    await expect(page.get_by_role("alert")).to_contain_text("Deze datum begrijpen we niet")
    await screenshot(page, "esp-chart-bad-date")

    for link, name in (
        ("Contracten", "esp-contracts"),
        ("API-clients", "esp-clients"),
        ("Webhooks", "esp-webhooks"),
        ("NPS-audits", "esp-nps-audits"),
    ):
        await page.get_by_role("navigation").get_by_role("link", name=link).click()
        await page.wait_for_load_state()
        await screenshot(page, name)
    await page.get_by_role("navigation").get_by_role("link", name="API-clients").click()
    await page.get_by_label("Naam").fill("Portal test client")
    await page.get_by_role("button", name="Aanmaken").click()
    await expect(page.locator("#client-secret")).to_be_visible()
    await screenshot(page, "esp-client-secret-once")
