"""The portal's charts in a real browser, in Dutch and English: the operator's SLA
dashboard (whole days on the x axis, the page's words, the labelled target line, the
12-month trend) and the meter-data chart, with the tooltip script shown on hover, on
keyboard focus (Tab, then the arrow keys) and on touch, under a ``script-src 'self'``
Content-Security-Policy (no inline script)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI

from datahub_api.accounts.models import AccountRole

from ..support.browser import NewPage, log_in, playwright_api, screenshot
from ..support.consent_world import PASSWORD, make_person
from ..support.esp_portal_world import PLAIN, make_esp_world
from ..support.live_server import LiveServer
from ..support.parties import make_esp
from ..support.portal import seed_sla_month
from ..support.tenancy_world import make_tenancy

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Route

expect = playwright_api().expect

POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'"


async def under_policy(page: Page) -> list[str]:
    """Serve every page with the portal's coming script policy; the list collects what
    the browser reports as refused."""
    refused: list[str] = []

    async def with_policy(route: Route) -> None:
        response = await route.fetch()
        headers = {**response.headers, "content-security-policy": POLICY}
        await route.fulfill(response=response, headers=headers)

    await page.route("**/portal/**", with_policy)
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return refused


async def tab_into(page: Page, selector: str) -> None:
    """Press Tab until the focus is inside ``selector`` (as a keyboard user does)."""
    for _ in range(60):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            "(s) => !!document.activeElement && !!document.activeElement.closest(s)", selector
        ):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_the_sla_dashboard_in_dutch_and_english(app: FastAPI, new_page: NewPage) -> None:
    await seed_sla_month(app, await make_esp(app, "ESP A"), date(2026, 10, 1))
    await make_person(app, "oscar.operator", AccountRole.operator)
    page = await new_page()
    refused = await under_policy(page)
    await log_in(page, "oscar.operator", PASSWORD)
    await page.goto("/portal/operator/sla?month=2026-10")

    month = page.locator('svg.chart-svg[data-channel="api"][data-days]')
    await expect(month).to_be_visible()
    # Whole days: one tick per calendar day of October, no fractions, nothing outside
    ticks = await month.locator("text.x-label").all_text_contents()
    assert ticks == [str(day) for day in range(1, 32)]
    await expect(month.locator("text.axis-title").first).to_have_text("Dag van oktober 2026")
    await expect(month.locator("text.axis-title").last).to_have_text("Op tijd binnen 3 dagen (%)")
    await expect(month.locator("text.rule-label")).to_have_text("doel 95%")
    words = " ".join(await month.locator("text").all_text_contents())
    for english in ("target", "Day", "October", "on time"):
        assert english not in words, english
    trend = page.locator('svg.chart-svg[data-channel="api"][data-months]')
    await expect(trend.locator("g.point")).to_have_count(12)
    await expect(trend.locator("g.point.current")).to_have_attribute("data-start", "2026-10")
    await expect(trend.locator("text.x-label").last).to_have_text("okt")
    # The script took over the <title>s (no second, slow browser tooltip)
    await expect(month.locator("g.point title")).to_have_count(0)

    # Hover: the 20th was never delivered
    tip = page.locator("figure.sla-month .chart-tip").first
    await expect(tip).to_be_hidden()
    await month.locator("g.point").nth(19).hover()
    await expect(tip).to_be_visible()
    await expect(tip).to_contain_text("di 20-10-2026")
    await expect(tip).to_contain_text("0,00% op tijd")
    await expect(tip).to_contain_text("Verwacht: 1")
    await screenshot(page, "operator-sla-tooltip-nl")

    # Keyboard: Tab reaches the chart's first day, the arrow keys go from day to day
    await page.mouse.move(0, 0)
    await tab_into(page, 'svg.chart-svg[data-channel="api"][data-days]')
    await expect(tip).to_contain_text("do 01-10-2026")
    await page.keyboard.press("ArrowRight")
    await expect(tip).to_contain_text("vr 02-10-2026")
    await expect(tip).to_contain_text("100,00% op tijd")
    await page.keyboard.press("End")
    await expect(tip).to_contain_text("za 31-10-2026")
    await page.keyboard.press("Escape")
    await expect(tip).to_be_hidden()
    await screenshot(page, "operator-sla-nl")

    await page.get_by_role("link", name="EN", exact=True).click()
    await expect(month.locator("text.axis-title").first).to_have_text("Day of October 2026")
    await expect(month.locator("text.rule-label")).to_have_text("target 95%")
    await expect(trend.locator("text.x-label").last).to_have_text("Oct")
    await month.locator("g.point").nth(6).hover()
    await expect(tip).to_contain_text("Wed 07-10-2026")
    await expect(tip).to_contain_text("0.00% on time")  # the 7th: five days late
    await screenshot(page, "operator-sla-tooltip-en")
    await page.mouse.move(0, 0)
    await screenshot(page, "operator-sla-en")
    assert refused == []


async def touch_page(browser: Browser, portal: LiveServer, contexts: list[Any]) -> Page:
    context = await browser.new_context(
        base_url=portal.url,
        locale="nl-BE",
        viewport={"width": 820, "height": 1000},
        has_touch=True,
        is_mobile=True,
    )
    context.set_default_timeout(15_000)
    contexts.append(context)
    return await context.new_page()


async def test_the_meter_data_chart_tooltip_on_hover_keyboard_and_touch(
    app: FastAPI,
    client: httpx.AsyncClient,
    new_page: NewPage,
    browser: Browser,
    portal: LiveServer,
) -> None:
    world = await make_esp_world(app, client)
    url = f"/portal/esp/access-points/{world.ean}?span=day&date={PLAIN.isoformat()}"
    page = await new_page()
    refused = await under_policy(page)
    await log_in(page, world.staff_a.username, PASSWORD)
    await page.goto(url)
    # The meter-data chart is the page's first; the monthly peaks follow it.
    chart = page.locator("figure.chart svg.chart-svg").first
    tip = page.locator("figure.chart .chart-tip").first
    await expect(chart.locator("g.point")).to_have_count(96)
    # A browser without script shows the <title>; here the script took it over.
    await expect(chart.locator("g.point title")).to_have_count(0)
    await chart.locator("g.point").nth(40).hover()
    await expect(tip).to_be_visible()
    await expect(tip).to_contain_text("10-03-2026 10:00-10:15 (CET)")
    await expect(tip).to_contain_text("Afname:")
    await screenshot(page, "esp-chart-tooltip-nl")

    await page.mouse.move(0, 0)
    await tab_into(page, "figure.chart svg.chart-svg")
    await expect(tip).to_contain_text("00:00-00:15")
    await page.keyboard.press("ArrowRight")
    await expect(tip).to_contain_text("00:15-00:30")
    focused = await page.evaluate("document.activeElement.getAttribute('data-start')")
    assert focused == "2026-03-09T23:15:00+00:00"  # 00:15 in Brussels
    await page.get_by_role("link", name="EN", exact=True).click()
    await chart.locator("g.point").nth(40).hover()
    await expect(tip).to_contain_text("Offtake:")
    await screenshot(page, "esp-chart-tooltip-en")
    assert refused == []

    contexts: list[Any] = []
    try:
        phone = await touch_page(browser, portal, contexts)
        await log_in(phone, world.staff_a.username, PASSWORD)
        await phone.goto(url)
        phone_chart = phone.locator("figure.chart svg.chart-svg").first
        await phone_chart.locator("g.point").nth(48).tap()
        phone_tip = phone.locator("figure.chart .chart-tip").first
        await expect(phone_tip).to_be_visible()
        await expect(phone_tip).to_contain_text("12:00-12:15")
        await screenshot(phone, "esp-chart-tooltip-touch-nl")
    finally:
        for context in contexts:
            await context.close()


async def test_the_monthly_peaks_chart_in_dutch_and_english(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    world = await make_esp_world(app, client)
    page = await new_page()
    refused = await under_policy(page)
    await log_in(page, world.staff_a.username, PASSWORD)
    await page.goto(f"/portal/esp/access-points/{world.ean}?span=month&date=2026-10-01")
    peaks = page.locator("section.capacity-peaks")
    chart = peaks.locator("svg.peaks-chart")
    tip = peaks.locator(".chart-tip")
    heading = peaks.get_by_role("heading", level=2)
    await expect(heading).to_have_text("Maandpieken (capaciteitstarief)")
    await expect(chart.locator("g.point")).to_have_count(12)
    # The average is the minimum here: one line, both labels (one would hide the other).
    await expect(chart.locator("text.rule-label")).to_have_text(
        ["minimum 2,5 kW · gemiddelde 12 maanden 2,5 kW"]
    )
    await chart.locator('g.point[data-start="2026-03"]').hover()
    await expect(tip).to_be_visible()
    await expect(tip).to_contain_text("piek 2 kW op 10-03-2026 03:00 (CET)")
    await expect(tip).to_contain_text("gefactureerd 2,5 kW")
    await screenshot(page, "esp-monthly-peaks-nl")
    await page.get_by_role("link", name="EN", exact=True).click()
    await expect(heading).to_have_text("Monthly peaks (capacity tariff)")
    await chart.locator('g.point[data-start="2026-03"]').hover()
    await expect(tip).to_contain_text("peak 2 kW at 10-03-2026 03:00 (CET)")
    await screenshot(page, "esp-monthly-peaks-en")
    assert refused == []


async def test_the_customers_own_monthly_peaks_in_dutch_and_english(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    world = await make_tenancy(app, client)
    page = await new_page()
    refused = await under_policy(page)
    await log_in(page, world.tenant.username, PASSWORD)
    await page.goto(f"/portal/my-data/{world.ean}?span=month&date=2026-03-29")
    peaks = page.locator("section.capacity-peaks")
    chart = peaks.locator("svg.peaks-chart")
    await expect(peaks.get_by_role("heading", level=2)).to_have_text(
        "Maandpieken (capaciteitstarief)"
    )
    await expect(chart.locator("g.point")).to_have_count(12)
    await chart.locator('g.point[data-start="2026-03"]').hover()
    # Their own first day only (the spring DST day, 92 quarter-hours): slot 91 is 92 Wh.
    await expect(peaks.locator(".chart-tip")).to_contain_text("piek 0,368 kW op 29-03-2026")
    await screenshot(page, "my-data-monthly-peaks-nl")
    await page.get_by_role("link", name="EN", exact=True).click()
    await expect(peaks.get_by_role("heading", level=2)).to_have_text(
        "Monthly peaks (capacity tariff)"
    )
    await screenshot(page, "my-data-monthly-peaks-en")
    assert refused == []
