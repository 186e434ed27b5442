"""The operator's pages: contract applications, access point search, the SLA dashboard and
NPS audits; and that nobody else opens them."""

from __future__ import annotations

import calendar
import re
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from datahub_api.accounts.models import AccountRole
from datahub_api.contracts.models import Channel, DataAccessContract

from ..support.consent_world import make_consent_world, make_person
from ..support.nps_world import (
    NpsWorld,
    make_nps_world,
    open_audit,
    signed_mandate,
    signed_pdf,
    upload,
)
from ..support.parties import make_esp
from ..support.portal import no_trace, portal_browser, post_form, seed_sla_month

CONTRACTS = "/portal/operator/contracts"


@pytest.fixture
async def operator(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await make_person(app, "oscar.operator", AccountRole.operator)
    browser = await portal_browser(app, "oscar.operator")
    yield browser
    await browser.aclose()


async def contract_status(client: httpx.AsyncClient, app: FastAPI, number: str) -> str:
    async with app.state.database.read_sessions() as session:
        status = await session.scalar(
            select(DataAccessContract.status).where(DataAccessContract.number == number)
        )
    return str(status.value if status else None)


async def test_the_operator_approves_and_rejects_applications(
    app: FastAPI, client: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    first = await make_esp(app, "Zonnig BV", channels=[Channel.api, Channel.portal], approve=False)
    second = await make_esp(app, "Wolk NV", channels=[Channel.nps], approve=False)
    assert first.contract_number
    assert second.contract_number
    page = await operator.get(CONTRACTS)
    assert page.status_code == 200
    assert "Zonnig BV" in page.text
    assert "Wolk NV" in page.text
    assert "via API (geautomatiseerd)" in page.text
    approve = f"{CONTRACTS}/{first.contract_number}/approve"
    reject = f"{CONTRACTS}/{second.contract_number}/reject"
    no_csrf = await operator.post(approve)
    assert no_csrf.status_code == 403
    assert "Formulier verlopen" in no_csrf.text
    no_reason = await post_form(operator, CONTRACTS, reject, reason="   ")
    assert no_reason.status_code == 422
    assert "Geef een reden op." in no_reason.text
    assert await contract_status(client, app, second.contract_number) == "requested"
    approved = await post_form(operator, CONTRACTS, approve)
    assert approved.status_code == 303
    after = await operator.get(approved.headers["location"])
    assert f"Contract {first.contract_number} is goedgekeurd." in after.text
    rejected = await post_form(operator, CONTRACTS, reject, reason="Geen KBO-inschrijving")
    assert rejected.status_code == 303
    listed = await operator.get(CONTRACTS)
    assert "Er wachten geen aanvragen." in listed.text
    assert "Geen KBO-inschrijving" in listed.text  # recently decided, with the reason
    assert await contract_status(client, app, first.contract_number) == "approved"
    assert await contract_status(client, app, second.contract_number) == "rejected"
    twice = await post_form(operator, CONTRACTS, approve)
    assert twice.status_code == 409
    for bad in (f"{CONTRACTS}/9999999999/approve", f"{CONTRACTS}/abc/approve"):
        answer = await post_form(operator, CONTRACTS, bad)
        assert answer.status_code == 404, bad
        no_trace(answer)
    odd = await post_form(operator, CONTRACTS, f"{CONTRACTS}/{first.contract_number}/suspend")
    assert odd.status_code == 404
    # The approved ESP's backend gets its token scopes now.
    token = await client.post(
        "/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": first.client_id,
            "client_secret": first.client_secret,
        },
    )
    assert token.status_code == 200
    info = await client.get(
        "/api/v1/auth/token-info",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert "mandates:read" in info.text


async def test_access_point_search(
    app: FastAPI, client: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    world = await make_consent_world(app, client)
    blank = await operator.get("/portal/operator/access-points")
    assert blank.status_code == 200
    assert "Zoeken" in blank.text
    found = await operator.get(f"/portal/operator/access-points?q={world.owner_ean[:17]}")
    assert world.owner_ean in found.text
    assert "Olga Owner" in found.text
    every = await operator.get("/portal/operator/access-points?q=&energy_type=E")
    for ean in (*world.tenant_eans, world.owner_ean):
        assert ean in every.text
    assert "Larry Landlord" in every.text
    assert "Tina Tenant" in every.text
    none = await operator.get("/portal/operator/access-points?q=999")
    assert "Geen toegangspunten gevonden." in none.text
    letters = await operator.get("/portal/operator/access-points?q=54abc")
    assert letters.status_code == 400
    assert "alleen uit cijfers" in letters.text
    odd = await operator.get("/portal/operator/access-points?q=54&energy_type=X")
    assert odd.status_code == 400
    no_trace(odd)


def days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


@pytest.mark.parametrize("month", ["2026-03", "2026-10"])  # each with its DST day
async def test_the_sla_dashboard(app: FastAPI, operator: httpx.AsyncClient, month: str) -> None:
    empty = await operator.get(f"/portal/operator/sla?month={month}")
    assert empty.status_code == 200
    assert empty.text.count("Voor deze maand werden geen gegevens verwacht") == 3
    year, number = map(int, month.split("-"))
    await seed_sla_month(app, await make_esp(app, "ESP A"), date(year, number, 1))
    page = await operator.get(f"/portal/operator/sla?month={month}")
    assert page.status_code == 200
    # The DSO-wide figures of API and website; NPS counts only GVM installations. Each has
    # its month per day and its 12-month trend, inline SVG drawn by the shared chart module.
    assert "data:image" not in page.text
    months = re.findall(
        r'<svg [^>]*class="chart-svg [^"]*"[^>]*data-channel="(\w+)" data-days="(\d+)"', page.text
    )
    assert months == [("api", str(days_in(year, number))), ("portal", str(days_in(year, number)))]
    trends = re.findall(r'data-channel="(\w+)" data-months="(\d+)"', page.text)
    assert trends == [("api", "12"), ("portal", "12")]
    assert page.text.count("Voor deze maand werden geen gegevens verwacht") == 1
    month_svg = page.text.split('data-days="', 1)[1].split("</svg>", 1)[0]
    # Whole days only: one tick per calendar day, 1..31, none fractional or outside the month
    ticks = re.findall(r'<text class="x-label"[^>]*>([^<]*)</text>', month_svg)
    assert ticks == [str(day) for day in range(1, days_in(year, number) + 1)]
    # Dutch words, Dutch month name, the labelled target line, a value per day
    name = {"2026-03": "maart 2026", "2026-10": "oktober 2026"}[month]
    assert f"Dag van {name}" in month_svg
    assert "Op tijd binnen 3 dagen (%)" in month_svg
    assert ">doel 95%</text>" in month_svg
    twentieth = date(year, number, 20)
    weekday = ["ma", "di", "wo", "do", "vr", "za", "zo"][twentieth.weekday()]
    head = f"<title>{weekday} {twentieth:%d-%m-%Y}\n"
    assert head + "0,00% op tijd\nVerwacht: 1 · Op tijd: 0 · Te laat: 0\n" in month_svg
    assert "0,00% op tijd" in month_svg  # the 20th was never delivered
    assert "100,00% op tijd" in month_svg
    words = " ".join(re.findall(r">([^<]+)<", month_svg))  # what a person reads
    for english in ("target", "Day of", "on time", "March", "October", "Expected"):
        assert english not in words, english
    english_page = await operator.get(f"/portal/operator/sla?month={month}&lang=en")
    english_svg = english_page.text.split('data-days="', 1)[1].split("</svg>", 1)[0]
    assert f"Day of {name.replace('maart', 'March').replace('oktober', 'October')}" in english_svg
    assert ">target 95%</text>" in english_svg
    assert "0.00% on time" in english_svg
    await operator.get(f"/portal/operator/sla?month={month}&lang=nl")  # back to Dutch
    # 31 days: 26 the next morning, 4 five days late, the 20th never (the tracker's figures)
    assert "<td>31</td><td>26</td><td>4</td><td>1</td><td>0</td>" in page.text
    assert "<td>83,87%</td>" in page.text  # a Dutch decimal comma on the Dutch page
    for channel in ("Kanaal API", "Kanaal website", "Kanaal NPS"):
        assert channel in page.text
    assert "binnen 3 dagen" in page.text
    this_month = await operator.get("/portal/operator/sla")
    assert this_month.status_code == 200
    for nonsense in ("2026-13", "yesterday", "0000-00"):
        bad = await operator.get(f"/portal/operator/sla?month={nonsense}")
        assert bad.status_code == 422, nonsense
        assert "Kies een maand" in bad.text
        no_trace(bad)


@pytest.fixture
async def nps_world(app: FastAPI, client: httpx.AsyncClient) -> NpsWorld:
    return await make_nps_world(app, client)


async def test_nps_audits(
    app: FastAPI,
    client: httpx.AsyncClient,
    operator: httpx.AsyncClient,
    nps_world: NpsWorld,
) -> None:
    audits = "/portal/operator/nps-audits"
    assert "Geen controles." in (await operator.get(audits)).text
    document = signed_pdf("paper")
    mandate_id = await signed_mandate(client, nps_world, document)
    audit = await open_audit(client, nps_world, mandate_id)
    waiting = await operator.get(audits)
    assert "ESP A" in waiting.text
    assert nps_world.owner_ean in waiting.text
    assert "wacht op document" in waiting.text
    early = await post_form(operator, audits, f"{audits}/{audit['id']}", decision="accept")
    assert early.status_code == 409
    uploaded = await upload(client, nps_world.a, mandate_id, document)
    assert uploaded.status_code == 200
    submitted = await operator.get(f"{audits}?status=submitted")
    assert f"/api/v1/operator/nps/audits/{audit['id']}/evidence" in submitted.text
    evidence = await operator.get(f"/api/v1/operator/nps/audits/{audit['id']}/evidence")
    assert evidence.content == document  # the link works with the portal session
    odd = await post_form(operator, audits, f"{audits}/{audit['id']}", decision="maybe")
    assert odd.status_code == 422
    unknown = await post_form(operator, audits, f"{audits}/999999", decision="accept")
    assert unknown.status_code == 404
    accepted = await post_form(
        operator, audits, f"{audits}/{audit['id']}", decision="accept", note="klopt"
    )
    assert accepted.status_code == 303
    after = await operator.get(accepted.headers["location"])
    assert "Het document is aanvaard." in after.text
    assert "klopt" in after.text


async def test_only_operators_open_operator_pages(app: FastAPI) -> None:
    await make_person(app, "olga.owner", AccountRole.customer)
    customer = await portal_browser(app, "olga.owner")
    try:
        for path in (
            CONTRACTS,
            "/portal/operator/access-points?q=54",
            "/portal/operator/sla",
            "/portal/operator/nps-audits",
        ):
            answer = await customer.get(path)
            assert answer.status_code == 403, path
            no_trace(answer)
        posted = await post_form(customer, "/portal/mandates", f"{CONTRACTS}/0000000001/approve")
        assert posted.status_code == 403
    finally:
        await customer.aclose()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anonymous:
        answer = await anonymous.get("/portal/operator/sla?month=2026-03")
        assert answer.status_code == 303
        assert answer.headers["location"] == (
            "/portal/login?next=/portal/operator/sla%3Fmonth%3D2026-03"
        )
