"""The ESP portal pages, driven as a browser would (forms, cookies, redirects): every page
renders for ESP staff, another ESP's access point is the unknown-page 404, the chart and
the CSV report show exactly what the API gives (DST days included), and bad input gets a
clear page."""

from __future__ import annotations

import html
import re
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from datahub_api.demo.service import DemoParameters, seed_demo_world
from datahub_api.portal.demo_data import esp_portal_url
from datahub_api.settings import Settings

from ..support.consent_world import Person, browser_login, field
from ..support.esp_portal_world import AUTUMN, SPRING, EspWorld, make_esp_world, make_staff
from ..support.parties import auth_headers, make_esp
from ..support.portal import held_connections


@pytest.fixture
async def esp_world(app: FastAPI, client: httpx.AsyncClient) -> EspWorld:
    return await make_esp_world(app, client)


async def browser(app: FastAPI, person: Person) -> httpx.AsyncClient:
    """A logged-in browser of ``person`` (close it after use)."""
    opened = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    answer = await browser_login(opened, person.username, "/portal/")
    assert answer.status_code == 303, answer.text
    return opened


def buckets(html: str) -> int:
    """The meter-data chart's columns (the page's first chart; the monthly peaks follow)."""
    found = re.search(r'data-buckets="(\d+)"', html)
    assert found, "no chart"
    chart = html[found.start() : html.index("</svg>", found.start())]
    assert chart.count('<g class="bucket') == int(found.group(1))
    return int(found.group(1))


def csv_lines(text: str) -> list[str]:
    return [line for line in text.lstrip("\ufeff").split("\r\n") if line]


async def test_every_page_renders_for_esp_staff(app: FastAPI, esp_world: EspWorld) -> None:
    staff = await browser(app, esp_world.staff_a)
    try:
        home = await staff.get("/portal/esp/")
        assert home.status_code == 200
        assert "Mandaten en toegangspunten" in home.text
        assert esp_world.ean in home.text
        assert "goedgekeurd" in home.text
        assert "tot en met 25-10-2026" in home.text  # last data received
        pages = {
            "/portal/esp/contracts": "Contracten en aanvragen",
            "/portal/esp/clients": "ESP A backend",
            "/portal/esp/webhooks": "U hebt geen webhooks.",
            "/portal/esp/nps-audits": "NPS-audits",
            "/portal/esp/history-exports": "nog geen historiek-exports",
            f"/portal/esp/access-points/{esp_world.ean}?span=day&date=2026-03-10": "Afname",
            f"/portal/esp/access-points/{esp_world.ean}?span=week&date=2026-03-10": "uren",
            f"/portal/esp/access-points/{esp_world.ean}?span=month&date=2026-03-10": "dagen",
            f"/portal/esp/access-points/{esp_world.ean}?span=year&date=2026-03-10": "maanden",
        }
        for path, text in pages.items():
            page = await staff.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert text in page.text, path
            assert 'name="csrf_token"' in page.text  # the logout form at least
        english = await staff.get("/portal/esp/contracts?lang=en")
        assert "Contracts and applications" in english.text
        assert "this website" in english.text
    finally:
        await staff.aclose()


async def test_the_chart_marks_gaps_and_estimates_in_brussels_time(
    app: FastAPI, esp_world: EspWorld
) -> None:
    staff = await browser(app, esp_world.staff_a)
    try:
        page = await staff.get(f"/portal/esp/access-points/{esp_world.ean}?date=2026-03-10")
    finally:
        await staff.aclose()
    assert buckets(page.text) == 96
    assert 'data-step="PT15M"' in page.text
    # slots 10 and 11 (02:30, 02:45) and 90..95 (22:30..23:45) have no data
    assert re.search(r'data-gaps="8"', page.text)
    assert re.search(r'data-estimates="2"', page.text)
    assert 'data-start="2026-03-10T01:30:00+00:00"' in page.text  # 02:30 in Brussels
    assert "10-03-2026 02:30-02:45 (CET) · geen gegevens" in page.text
    assert "geschat" in page.text
    assert "kWh per kwartier" in page.text  # the axis with its unit
    assert "Tijd (Brussel)" in page.text
    assert "Injectie" in page.text  # the legend
    assert ">03:00</text>" in page.text  # Brussels local hours on the axis
    assert "https://" not in page.text.split("<svg", 1)[1].split("</svg>")[0].replace(
        "http://www.w3.org/2000/svg", ""
    )


@pytest.mark.parametrize(("day", "quarters", "hours"), [(SPRING, 92, 23), (AUTUMN, 100, 25)])
async def test_dst_days_have_92_or_100_quarter_hours_in_the_chart_and_the_csv(
    app: FastAPI,
    client: httpx.AsyncClient,
    esp_world: EspWorld,
    day: date,
    quarters: int,
    hours: int,
) -> None:
    staff = await browser(app, esp_world.staff_a)
    ean = esp_world.ean
    try:
        page = await staff.get(f"/portal/esp/access-points/{ean}?span=day&date={day}")
        assert buckets(page.text) == quarters
        week = await staff.get(f"/portal/esp/access-points/{ean}?span=week&date={day}")
        assert buckets(week.text) == 7 * 24 - 24 + hours
        report = await staff.get(f"/portal/esp/access-points/{ean}/csv?span=day&date={day}")
        assert report.status_code == 200
        assert report.headers["content-type"].startswith("text/csv")
        lines = csv_lines(report.text)
        assert len(lines) == 1 + 2 * quarters  # header, then Afname and Injectie per quarter
        # The API's CSV of the same selection, for the same person (session cookie) ...
        same = await staff.get(
            f"/api/v1/access-points/{ean}/meter-data",
            params={"from": str(day), "to": str(date.fromordinal(day.toordinal() + 1))},
            headers={"Accept": "text/csv"},
        )
        assert same.status_code == 200, same.text
        assert same.text == report.text
    finally:
        await staff.aclose()
    # ... and for the ESP's backend (client credentials): the same rows.
    api = await client.get(
        f"/api/v1/access-points/{ean}/meter-data",
        params={
            "from": str(day),
            "to": str(date.fromordinal(day.toordinal() + 1)),
            "format": "csv",
        },
        headers=await auth_headers(client, esp_world.world.esp_a),
    )
    assert api.status_code == 200, api.text
    assert csv_lines(api.text) == lines


async def test_csv_of_a_month_equals_the_api(
    app: FastAPI, client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    staff = await browser(app, esp_world.staff_a)
    try:
        report = await staff.get(
            f"/portal/esp/access-points/{esp_world.ean}/csv?span=month&date=2026-03-17"
        )
    finally:
        await staff.aclose()
    api = await client.get(
        f"/api/v1/access-points/{esp_world.ean}/meter-data",
        params={"from": "2026-03-01", "to": "2026-04-01", "granularity": "P1D", "format": "csv"},
        headers=await auth_headers(client, esp_world.world.esp_a),
    )
    assert report.status_code == api.status_code == 200
    assert csv_lines(report.text) == csv_lines(api.text)
    assert len(csv_lines(report.text)) == 1 + 31 * 4  # Dag and Nacht of Afname and Injectie
    assert any(";0,010;" in line or "Geschat" in line for line in csv_lines(report.text))


async def test_another_esp_gets_the_unknown_page(app: FastAPI, esp_world: EspWorld) -> None:
    other = await browser(app, esp_world.staff_b)
    try:
        theirs = await other.get(f"/portal/esp/access-points/{esp_world.ean}?date=2026-03-10")
        unknown = await other.get("/portal/esp/access-points/541448800000000007?date=2026-03-10")
        nonsense = await other.get("/portal/esp/access-points/not-an-ean")
        report = await other.get(f"/portal/esp/access-points/{esp_world.ean}/csv")
        assert theirs.status_code == unknown.status_code == nonsense.status_code == 404
        assert report.status_code == 404
        assert "text/html" in report.headers["content-type"]
        assert esp_world.ean not in theirs.text.replace(f"/{esp_world.ean}?", "")
        strip = re.compile(r'value="[^"]*"')
        assert strip.sub("", theirs.text.replace(esp_world.ean, "X")) == strip.sub(
            "", unknown.text.replace("541448800000000007", "X")
        )
        home = await other.get("/portal/esp/access-points")
        assert esp_world.ean not in home.text
        clients = await other.get("/portal/esp/clients")
        assert esp_world.world.esp_a.client_id not in clients.text
        rotate = await other.post(
            f"/portal/esp/clients/{esp_world.world.esp_a.client_id}/rotate",
            data={"csrf_token": field(clients.text, "csrf_token")},
        )
        assert rotate.status_code == 404
        withdraw = await other.post(
            f"/portal/esp/contracts/{esp_world.world.esp_a.contract_number}/withdraw",
            data={"csrf_token": field(clients.text, "csrf_token")},
        )
        assert withdraw.status_code == 404
    finally:
        await other.aclose()


async def test_nonsense_periods_get_a_clear_page(app: FastAPI, esp_world: EspWorld) -> None:
    staff = await browser(app, esp_world.staff_a)
    path = f"/portal/esp/access-points/{esp_world.ean}"
    try:
        for query, message in (
            ("?date=2026-02-30", "Deze datum begrijpen we niet"),
            ("?date=yesterday", "Deze datum begrijpen we niet"),
            ("?date=2026-13", "Deze datum begrijpen we niet"),
            ("?date=9999-01-01", "tussen 2000 en 2100"),
            ("?span=decade&date=2026-03-10", "Kies dag, week, maand of jaar"),
            ("?date=%00%ff", "Deze datum begrijpen we niet"),
        ):
            page = await staff.get(path + query)
            assert page.status_code == 422, query
            assert message in page.text, query
            assert "Traceback" not in page.text
            report = await staff.get(f"{path}/csv{query}")
            assert report.status_code == 422, query
            assert message in report.text
        outside = await staff.get(path + "?date=2024-06-01")
        assert outside.status_code == 403
        assert "u mag gegevens zien van 01-01-2025 01:00 tot 01-01-2027 01:00" in outside.text
        nothing = await staff.get(path + "?date=2026-06-01")  # inside the mandate, no data
        assert nothing.status_code == 200
        assert 'data-gaps="96"' in nothing.text
        default = await staff.get(path)  # no date: the last day with data
        assert default.status_code == 200
        assert "Dag: 25-10-2026" in default.text
    finally:
        await staff.aclose()


async def test_forms_without_the_csrf_token_change_nothing(
    app: FastAPI, esp_world: EspWorld
) -> None:
    staff = await browser(app, esp_world.staff_a)
    try:
        for path, data in (
            ("/portal/esp/clients", {"name": "sneaky"}),
            ("/portal/esp/contracts", {"channels": "portal"}),
            (f"/portal/esp/clients/{esp_world.world.esp_a.client_id}/revoke", {}),
            (f"/portal/esp/contracts/{esp_world.world.esp_a.contract_number}/withdraw", {}),
        ):
            for token in (None, "forged"):
                answer = await staff.post(
                    path, data=data if token is None else {**data, "csrf_token": token}
                )
                assert answer.status_code == 403, path
                assert "Het formulier is verlopen" in answer.text
                assert "Traceback" not in answer.text
        clients = await staff.get("/portal/esp/clients")
        assert "sneaky" not in clients.text
        assert "ingetrokken" not in clients.text
    finally:
        await staff.aclose()
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    async with anonymous:
        to_login = await anonymous.get(f"/portal/esp/access-points/{esp_world.ean}")
        assert to_login.status_code == 303
        assert to_login.headers["location"].startswith("/portal/login?next=/portal/esp/")
        post = await anonymous.post("/portal/esp/clients", data={"name": "x"})
        assert post.status_code == 303


async def test_api_clients_secret_shown_once_rotate_and_revoke(
    app: FastAPI, client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    staff = await browser(app, esp_world.staff_a)
    try:
        page = await staff.get("/portal/esp/clients")
        made = await staff.post(
            "/portal/esp/clients",
            data={"name": "Portal made", "csrf_token": field(page.text, "csrf_token")},
        )
        assert made.status_code == 201
        secret = re.search(r'id="client-secret">([^<]+)<', made.text)
        assert secret
        client_id = re.search(r"<th>client_id</th><td><code>([^<]+)</code>", made.text)
        assert client_id
        token = await client.post(
            "/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id.group(1),
                "client_secret": secret.group(1),
            },
        )
        assert token.status_code == 200
        listed = await staff.get("/portal/esp/clients")
        assert "Portal made" in listed.text
        assert secret.group(1) not in listed.text  # shown once only
        rotated = await staff.post(
            f"/portal/esp/clients/{client_id.group(1)}/rotate",
            data={"csrf_token": field(page.text, "csrf_token")},
        )
        assert rotated.status_code == 200
        new_secret = re.search(r'id="client-secret">([^<]+)<', rotated.text)
        assert new_secret
        assert new_secret.group(1) != secret.group(1)
        assert "Het vorige geheim blijft geldig tot" in rotated.text
        revoked = await staff.post(
            f"/portal/esp/clients/{client_id.group(1)}/revoke",
            data={"csrf_token": field(page.text, "csrf_token")},
        )
        assert revoked.status_code == 303
        refused = await client.post(
            "/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id.group(1),
                "client_secret": new_secret.group(1),
            },
        )
        assert refused.status_code in (400, 401)
        empty_name = await staff.post(
            "/portal/esp/clients", data={"name": " ", "csrf_token": field(page.text, "csrf_token")}
        )
        assert empty_name.status_code == 422
        assert "Geef de client een naam." in empty_name.text
    finally:
        await staff.aclose()


async def test_a_form_post_holds_one_session(app: FastAPI, esp_world: EspWorld) -> None:
    """The page context of a form post is read in the post's write session: one connection
    at a time, not a read session held beside the write session."""
    staff = await browser(app, esp_world.staff_a)
    try:
        page = await staff.get("/portal/esp/clients")
        async with held_connections(app) as held:
            made = await staff.post(
                "/portal/esp/clients",
                data={"name": "One session", "csrf_token": field(page.text, "csrf_token")},
            )
        assert made.status_code == 201, made.text
        assert held.most == 1
    finally:
        await staff.aclose()


async def test_apply_for_a_contract_and_withdraw_it(app: FastAPI, esp_world: EspWorld) -> None:
    fresh = await make_esp(app, "ESP C", channels=[])
    staff_c = await make_staff(app, "carl.esp-c", fresh)
    staff = await browser(app, staff_c)
    try:
        page = await staff.get("/portal/esp/contracts")
        assert "U hebt nog geen contract." in page.text
        token = field(page.text, "csrf_token")
        none_chosen = await staff.post("/portal/esp/contracts", data={"csrf_token": token})
        assert none_chosen.status_code == 422
        assert "Kies minstens één kanaal" in none_chosen.text
        applied = await staff.post(
            "/portal/esp/contracts",
            data={"csrf_token": token, "channels": ["portal", "api", "nps", "annual_history"]},
        )
        assert applied.status_code == 303
        listed = await staff.get(applied.headers["location"])
        assert "is ingediend" in listed.text
        for label in ("deze website", "via API", "NPS (Netuser Paid", "jaarlijkse historiek"):
            assert label in listed.text
        assert "aangevraagd" in listed.text
        again = await staff.post(
            "/portal/esp/contracts", data={"csrf_token": token, "channels": "portal"}
        )
        assert again.status_code == 409
        assert "already covered" in again.text
        number = re.search(r"/portal/esp/contracts/(\d{10})/withdraw", listed.text)
        assert number
        withdrawn = await staff.post(
            f"/portal/esp/contracts/{number.group(1)}/withdraw", data={"csrf_token": token}
        )
        assert withdrawn.status_code == 303
        after = await staff.get("/portal/esp/contracts")
        assert "ingetrokken" in after.text
    finally:
        await staff.aclose()


async def test_self_registration_waits_for_the_operator(
    app: FastAPI, client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    async with anonymous:
        login = await anonymous.get("/portal/login")
        assert "/portal/register" in login.text
        form = await anonymous.get("/portal/register")
        assert form.status_code == 200
        body = {
            "name": "Nieuwe Energie",
            "enterprise_number": "0403.170.701",
            "contact_email": "data@nieuwe.example",
            "display_name": "Nina",
            "username": "nina.nieuw",
            "password": "a long demo password",
        }
        no_token = await anonymous.post("/portal/register", data=body)
        assert no_token.status_code == 403
        bad = await anonymous.post(
            "/portal/register",
            data={
                **body,
                "enterprise_number": "0123",
                "password": "short",
                "csrf_token": field(no_token.text, "csrf_token"),
            },
        )
        assert bad.status_code == 422
        assert "Ondernemingsnummer" in bad.text
        assert "Wachtwoord" in bad.text
        assert "Nieuwe Energie" in bad.text  # the form keeps what was typed
        done = await anonymous.post(
            "/portal/register", data={**body, "csrf_token": field(bad.text, "csrf_token")}
        )
        assert done.status_code == 201, done.text
        assert "wacht ze op goedkeuring" in done.text
        form = await anonymous.get("/portal/register")
        taken = await anonymous.post(
            "/portal/register", data={**body, "csrf_token": field(form.text, "csrf_token")}
        )
        # The same answer for a taken username: registering tells no one which names exist.
        assert taken.status_code == 201
        assert "wacht ze op goedkeuring" in taken.text
    nina = await browser(app, Person(id=0, username="nina.nieuw"))
    try:
        home = await nina.get("/portal/esp/contracts")
        assert "wacht op goedkeuring door de netbeheerder" in home.text
        refused = await nina.post(
            "/portal/esp/contracts",
            data={"csrf_token": field(home.text, "csrf_token"), "channels": "portal"},
        )
        assert refused.status_code == 403
        assert "not active" in refused.text
        approved = await client.post(
            "/api/v1/operator/organisations/0403170701/approve",
            headers=esp_world.world.operator_headers,
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "active"
        twice = await client.post(
            "/api/v1/operator/organisations/0403170701/approve",
            headers=esp_world.world.operator_headers,
        )
        assert twice.status_code == 409
        applied = await nina.post(
            "/portal/esp/contracts",
            data={"csrf_token": field(home.text, "csrf_token"), "channels": "portal"},
        )
        assert applied.status_code == 303
    finally:
        await nina.aclose()


async def test_people_who_are_not_esp_staff_are_refused(app: FastAPI, esp_world: EspWorld) -> None:
    owner = await browser(app, esp_world.world.owner)
    try:
        for path in ("/portal/esp/", f"/portal/esp/access-points/{esp_world.ean}"):
            page = await owner.get(path)
            assert page.status_code == 403
            assert "Alleen voor dienstverleners" in page.text
    finally:
        await owner.aclose()


async def test_the_chart_read_is_in_the_customers_access_log(
    app: FastAPI, esp_world: EspWorld
) -> None:
    from ..support.reading_world import access_log

    staff = await browser(app, esp_world.staff_a)
    try:
        await staff.get(f"/portal/esp/access-points/{esp_world.ean}?date=2026-03-10")
    finally:
        await staff.aclose()
    records = await access_log(app, esp_world.world.owner, esp_world.ean)
    assert any(r.get("via") == "portal" for r in records), records


async def test_the_demo_esp_staff_see_charts_of_their_access_points(
    app: FastAPI, settings: Settings
) -> None:
    """What `make run` offers: the printed ESP staff login finds approved mandates with
    data, and a chart and a CSV of the last day received."""
    async with app.state.database.write_sessions() as session:
        credentials = await seed_demo_world(session, settings, DemoParameters(eans=80, seed=7))
        await session.commit()
    esp = credentials["esps"][0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as staff:
        page = await staff.get(f"/portal/login?next={esp_portal_url(credentials)}")
        logged_in = await staff.post(
            "/portal/login",
            data={
                "username": esp["username"],
                "password": esp["password"],
                "csrf_token": field(page.text, "csrf_token"),
                "next": "/portal/esp/access-points",
            },
        )
        assert logged_in.status_code == 303
        listed = await staff.get(logged_in.headers["location"])
        rows = re.findall(
            r'href="/portal/esp/access-points/(\d{18})">Gegevens bekijken', listed.text
        )
        assert rows, "no approved mandate in the demo's ESP list"
        last_days = re.findall(r"tot en met (\d\d-\d\d-\d{4})", listed.text)
        assert last_days, "no data received in the demo"
        drawn = 0
        for ean in rows[:10]:
            chart = await staff.get(f"/portal/esp/access-points/{ean}?span=month")
            assert chart.status_code in (200, 403), chart.text[:300]  # 403: a mandate's window
            if chart.status_code == 200 and 'class="bar offtake' in chart.text:
                drawn += 1
                report = await staff.get(f"/portal/esp/access-points/{ean}/csv?span=month")
                assert report.status_code == 200
                assert len(csv_lines(report.text)) > 1
        assert drawn > 0
        audits = await staff.get("/portal/esp/nps-audits")
        assert audits.status_code == 200
        assert re.search(r"status-(open|refused|accepted|submitted)", audits.text), "no audit"


async def test_a_period_the_mandate_covers_in_part_is_narrowed(
    app: FastAPI, client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    """The mandate starts at 2025-01-01T00:00Z (01:00 in Brussels): the year 2025 shows its
    months from February, the first of January its quarter-hours from 01:00; the CSV holds
    the same selection as the API's."""
    staff = await browser(app, esp_world.staff_a)
    path = f"/portal/esp/access-points/{esp_world.ean}"
    try:
        year = await staff.get(f"{path}?span=year&date=2025-06-01")
        assert year.status_code == 200
        assert buckets(year.text) == 11
        assert "Uw mandaat dekt een deel van deze periode" in year.text
        report = await staff.get(f"{path}/csv?span=year&date=2025-06-01")
        day = await staff.get(f"{path}?span=day&date=2025-01-01")
        assert buckets(day.text) == 92
        assert "getoond van 01-01-2025 01:00 tot 02-01-2025 00:00" in day.text
    finally:
        await staff.aclose()
    api = await client.get(
        f"/api/v1/access-points/{esp_world.ean}/meter-data",
        params={"from": "2025-02-01", "to": "2026-01-01", "granularity": "P1M", "format": "csv"},
        headers=await auth_headers(client, esp_world.world.esp_a),
    )
    assert report.status_code == api.status_code == 200
    assert csv_lines(report.text) == csv_lines(api.text)  # (no data in 2025: the header)
    assert 'data-gaps="11"' in year.text


async def test_webhooks_and_their_delivery_log(app: FastAPI, esp_world: EspWorld) -> None:
    from datahub_api.webhooks import service as webhooks_service
    from datahub_api.webhooks.models import WebhookEndpoint

    async with app.state.database.write_sessions() as session:
        endpoint = WebhookEndpoint(
            organisation_id=esp_world.world.esp_a.organisation_id,
            url="https://esp-a.example/hooks/datahub",
            description="production",
            event_types=["mandate.approved"],
            secret="whsec_portal",
        )
        session.add(endpoint)
        await session.flush()
        await webhooks_service.send_test(session, endpoint)
        await session.commit()
    staff = await browser(app, esp_world.staff_a)
    try:
        listed = await staff.get("/portal/esp/webhooks")
        assert "https://esp-a.example/hooks/datahub" in listed.text
        assert "whsec_portal" not in listed.text  # the signing secret is not shown
        log = await staff.get(f"/portal/esp/webhooks/{endpoint.id}")
        assert log.status_code == 200
        assert "Afleverlog" in log.text
        assert f"msg_test_{endpoint.id}_" in log.text
        assert "pending" in log.text
        for nonsense in ("abc", "99999999999999999999", "-1"):
            assert (await staff.get(f"/portal/esp/webhooks/{nonsense}")).status_code == 404
    finally:
        await staff.aclose()


async def test_an_ended_session_goes_to_the_login_and_back_to_the_chart(
    app: FastAPI, esp_world: EspWorld
) -> None:
    target = f"/portal/esp/access-points/{esp_world.ean}?span=day&date=2026-03-29"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as returning:
        returning.cookies.set("datahub_session", "ended-long-ago")
        sent_away = await returning.get(target)
        assert sent_away.status_code == 303
        login = await returning.get(sent_away.headers["location"])
        assert "Uw sessie is verlopen" in login.text
        back = await returning.post(
            "/portal/login",
            data={
                "username": esp_world.staff_a.username,
                "password": "a long demo password",
                "csrf_token": field(login.text, "csrf_token"),
                "next": html.unescape(field(login.text, "next")),  # as a browser sends it
            },
        )
        assert back.status_code == 303
        assert back.headers["location"] == target
        chart = await returning.get(back.headers["location"])
        assert buckets(chart.text) == 92


async def test_a_new_subscription_key_replaces_the_old_one(
    app: FastAPI, client: httpx.AsyncClient, esp_world: EspWorld
) -> None:
    number = esp_world.world.esp_a.contract_number
    staff = await browser(app, esp_world.staff_a)
    try:
        before = await staff.get("/portal/esp/contracts")
        old = re.search(r'class="subscription-key">([0-9a-f]+)<', before.text)
        assert old
        rotated = await staff.post(
            f"/portal/esp/contracts/{number}/rotate-key",
            data={"csrf_token": field(before.text, "csrf_token")},
        )
        assert rotated.status_code == 200
        assert "heeft een nieuwe subscription key" in rotated.text
        new = re.search(r'class="subscription-key">([0-9a-f]+)<', rotated.text)
        assert new
        assert new.group(1) != old.group(1)
        forged = await staff.post(f"/portal/esp/contracts/{number}/rotate-key")
        assert forged.status_code == 403
    finally:
        await staff.aclose()
    api = await client.get(
        f"/api/v1/contracts/{number}/subscription-key",
        headers=await auth_headers(client, esp_world.world.esp_a),
    )
    assert api.json()["subscription_key"] == new.group(1)
