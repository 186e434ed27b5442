"""``make run``'s welcome, followed in a browser exactly as printed: the featured customer
logs in, answers the printed consent link for their digital meter, looks at their own data
(chart and downloads), sees who they share with and who read, and revokes a consent there.
In Dutch and in English, with screenshots."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from datahub_api.cli.welcome import describe_credentials
from datahub_api.demo.service import DemoParameters, seed_demo_world

from ..support.browser import NewPage, log_in, playwright_api, screenshot

expect = playwright_api().expect


async def test_the_welcomes_customer_walks_consent_my_data_and_revoke(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    async with app.state.database.write_sessions() as session:
        credentials = await seed_demo_world(
            session, app.state.settings, DemoParameters(eans=30, days=10, seed=42)
        )
        await session.commit()
    welcome = "\n".join(describe_credentials(credentials))
    login = re.search(r"customer:\s+(\S+) / (\S+)\s+\(digital meter (\d{18})", welcome)
    consent = re.search(r"consent link of (.+?) \(log in as a customer\): (\S+)", welcome)
    assert login, welcome
    assert consent, welcome
    username, password, ean = login.groups()
    esp_name, consent_url = consent.groups()

    page = await new_page()
    await log_in(page, username, password)
    await screenshot(page, "demo-customer-home")
    # The printed consent link: their digital meter is there to choose.
    await page.goto(urlsplit(consent_url).path)
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    box = page.get_by_label(re.compile(ean))
    await expect(box).to_be_visible()
    await box.check()
    await screenshot(page, "demo-customer-consent")
    await page.get_by_role("button", name="Toestemming geven").click()
    await expect(page.get_by_text("Bedankt. U gaf toestemming.")).to_be_visible()

    # My data: the access point, its chart with data, the downloads.
    await page.goto("/portal/")
    await page.get_by_role("navigation").get_by_role("link", name="Mijn meetgegevens").click()
    row = page.get_by_role("row").filter(has_text=ean)
    await expect(row).to_contain_text("digitale meter")
    await row.get_by_role("link", name="Bekijken").click()
    chart = page.locator("figure.chart svg").first  # the monthly peaks follow it
    await expect(chart).to_be_visible()
    assert int(await chart.get_attribute("data-buckets") or 0) in (92, 96, 100)
    assert int(await chart.get_attribute("data-gaps") or 0) < 96  # there is data to see
    await expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    await expect(page.get_by_role("link", name="Download JSON")).to_be_visible()
    await screenshot(page, "demo-customer-my-data-nl")
    await page.get_by_role("link", name="EN", exact=True).click()
    await expect(
        page.get_by_role("heading", name=re.compile("My metering data of"))
    ).to_be_visible()
    await screenshot(page, "demo-customer-my-data-en")

    # Who read my data: the demo ESPs' reads of the last week.
    await page.get_by_role("navigation").get_by_role("link", name="Who read my data").click()
    await expect(page.get_by_role("row").filter(has_text=ean).first).to_be_visible()

    # Who I share with: the ESP of the consent just given, and the others; revoke one.
    await page.get_by_role("navigation").get_by_role("link", name="Who I share with").click()
    section = page.locator("section.shared-with").filter(has_text=esp_name)
    await expect(section).to_be_visible()
    await screenshot(page, "demo-customer-sharing-en")
    live = section.get_by_role("row").filter(has=page.get_by_role("button", name="Revoke"))
    before = await live.count()
    assert before >= 1
    await live.first.get_by_role("button", name="Revoke").click()
    await expect(page.get_by_role("status")).to_contain_text("revoked")
    await expect(live).to_have_count(before - 1)
    await page.get_by_role("link", name="NL", exact=True).click()
    await expect(page.get_by_role("heading", name="Met wie deel ik mijn gegevens")).to_be_visible()
    await screenshot(page, "demo-customer-sharing-nl")
