"""The monthly capacity peaks on the ESP portal's access-point page: 12 months up to the shown
period in the shared SVG chart (a column per month, the minimum and average lines, tooltips),
in Dutch and English, a table, the CSV of the API route, and a clear note without a
quarter-hour mandate."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.capacity.peaks import MonthPeak
from datahub_api.capacity.service import MonthFigures, MonthlyPeaks
from datahub_api.portal.capacity_chart import draw
from datahub_api.portal.i18n import texts

from ..support.access_point_data import fresh_ean
from ..support.esp_portal_world import EspWorld, make_esp_world
from ..support.portal import no_trace, portal_browser
from ..support.reading_world import access_log, mandate, moved_in_ean


@pytest.fixture
async def esp_world(app: FastAPI, client: httpx.AsyncClient) -> EspWorld:
    return await make_esp_world(app, client)


def page_url(world: EspWorld, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/portal/esp/access-points/{world.ean}?{query}"


def columns(html: str) -> list[tuple[str, str]]:
    """(month, title) of each column of the peaks chart."""
    chart = html[html.index('class="chart-svg peaks-chart"') :]
    chart = chart[: chart.index("</svg>")]
    return re.findall(r'data-start="([^"]+)"[^>]*>\s*<title>([^<]*)</title>', chart)


async def test_the_12_months_up_to_the_shown_month_in_dutch(
    app: FastAPI, esp_world: EspWorld
) -> None:
    staff = await portal_browser(app, esp_world.staff_a.username)
    try:
        page = await staff.get(page_url(esp_world, span="month", date="2026-10-01"))
    finally:
        await staff.aclose()
    assert page.status_code == 200, page.text
    no_trace(page)
    html = page.text
    assert "Maandpieken (capaciteitstarief)" in html
    months = columns(html)
    assert [month for month, _ in months] == [
        *(f"2025-{n:02d}" for n in (11, 12)),
        *(f"2026-{n:02d}" for n in range(1, 11)),
    ]
    tips = dict(months)
    # March: the estimated 0.5 kWh quarter-hour of the 10th at 03:00 is 2 kW, billed 2.5.
    assert tips["2026-03"].splitlines() == [
        "maart 2026",
        "piek 2 kW op 10-03-2026 03:00 (CET)",
        "gefactureerd 2,5 kW",
        "geschat",
        "176 van 2972 kwartieren",
    ]
    # October: only the autumn day's first 90 of 100 quarter-hours (slot 89: 90 Wh).
    assert tips["2026-10"].splitlines()[1] == "piek 0,36 kW op 25-10-2026 21:15 (CET)"
    assert tips["2026-06"].splitlines()[1] == "geen kwartierwaarden: geen piek"
    assert "minimum 2,5 kW" in html
    assert "gemiddelde 12 maanden 2,5 kW" in html
    assert (
        "Gemiddelde van de gefactureerde pieken van de 12 maanden tot oktober 2026: 2,5 kW" in html
    )
    assert 'class="bucket point gap' in html  # months without a peak are drawn as gaps
    csv_link = f"/api/v1/access-points/{esp_world.ean}/monthly-peaks?from=2025-11&amp;to=2026-10"
    assert csv_link in html


async def test_english_and_the_csv_link_works_for_the_session(
    app: FastAPI, esp_world: EspWorld
) -> None:
    staff = await portal_browser(app, esp_world.staff_a.username)
    try:
        page = await staff.get(page_url(esp_world, span="day", date="2026-03-10", lang="en"))
        assert page.status_code == 200, page.text
        assert "Monthly peaks (capacity tariff)" in page.text
        tips = dict(columns(page.text))
        assert tips["2026-03"].splitlines()[:3] == [
            "March 2026",
            "peak 2 kW at 10-03-2026 03:00 (CET)",
            "billed 2.5 kW",
        ]
        found = re.search(r'href="(/api/v1/access-points/[^"]+format=csv)"', page.text)
        assert found is not None
        download = await staff.get(found.group(1).replace("&amp;", "&"))
    finally:
        await staff.aclose()
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    lines = download.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 13
    assert lines[-1].split(";")[1:3] == ["2026-03", "2,000"]  # the 12 months up to March


async def test_the_peaks_read_is_in_the_customers_access_log(
    app: FastAPI, esp_world: EspWorld
) -> None:
    staff = await portal_browser(app, esp_world.staff_a.username)
    try:
        await staff.get(page_url(esp_world, span="month", date="2026-10-01"))
    finally:
        await staff.aclose()
    records = await access_log(app, esp_world.world.owner, esp_world.ean)
    quarter_hours = [r for r in records if r["via"] == "portal" and r["granularity"] == "PT15M"]
    # From the mandate's first instant (2025-01-01, inside the 11 months before November
    # 2025 that the rolling average reads) to the end of October 2026.
    assert [(r["period_from"], r["period_to"]) for r in quarter_hours] == [
        ("2025-01-01T00:00:00Z", "2026-10-31T23:00:00Z")
    ]


async def test_a_daily_mandate_gets_a_note_instead_of_the_chart(
    app: FastAPI, client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    world = esp_world.world
    ean = await moved_in_ean(
        client, world, fresh_ean(), metered_since="2024-01-01", moved_in="2024-01-01"
    )
    await mandate(app, client, world.esp_a, world.owner, ean, service="VH_dag")
    staff = await portal_browser(app, esp_world.staff_a.username)
    try:
        page = await staff.get(f"/portal/esp/access-points/{ean}?span=month&date=2026-03-01")
    finally:
        await staff.aclose()
    assert page.status_code == 200, page.text
    assert "Maandpieken vragen een mandaat voor kwartierwaarden." in page.text
    assert "peaks-chart" not in page.text


def test_the_minimum_and_average_lines_are_apart_or_share_one_label() -> None:
    def figures(month: date, wh: int | None) -> MonthFigures:
        peak = MonthPeak(month, wh, None, None, 0 if wh is None else 96, 2880)
        return MonthFigures(peak, None, 0)

    june, july = date(2026, 6, 1), date(2026, 7, 1)
    high = MonthlyPeaks("541448800000000000", [figures(june, 2000), figures(july, None)])
    high.months[-1] = MonthFigures(high.months[-1].peak, Decimal("8"), 1)
    drawn = draw(high, july, texts("en"), "en")
    assert drawn.chart is not None
    assert [rule.label for rule in drawn.chart.rules] == [
        "minimum 2.5 kW",
        "12-month average 8 kW",
    ]
    assert [column.gap for column in drawn.chart.columns] == [False, True]
    assert drawn.chart.columns[1].current
    two_kw = MonthFigures(figures(june, 500).peak, Decimal("2.5"), 1)
    low = MonthlyPeaks("541448800000000000", [two_kw])
    drawn = draw(low, june, texts("nl"), "nl")
    assert drawn.chart is not None
    assert [rule.label for rule in drawn.chart.rules] == [
        "minimum 2,5 kW · gemiddelde 12 maanden 2,5 kW"
    ]
