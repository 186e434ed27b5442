"""The customer's and grid user's pages: my mandates with revoke, the co-consent inbox,
who read my data; the login round trip of an ended session; forms without CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from datahub_api.accounts.models import AccountRole
from datahub_api.mandates.models import ConsentSession

from ..support.consent_world import (
    ConsentWorld,
    browser_login,
    decide,
    field,
    make_consent_world,
    make_person,
    open_consent,
    owner_mandate,
)
from ..support.parties import auth_headers
from ..support.portal import held_connections, no_trace, portal_browser, post_form


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> ConsentWorld:
    return await make_consent_world(app, client)


async def esp_a_mandates(client: httpx.AsyncClient, world: ConsentWorld) -> list[dict[str, str]]:
    listed = await client.get("/api/v1/mandates", headers=await auth_headers(client, world.esp_a))
    items: list[dict[str, str]] = listed.json()["items"]
    return items


async def test_the_grid_user_co_consents_in_the_inbox(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_consent(client, world.esp_a, numberOfEans=1)
    decided = await decide(app, world.tenant, identifier, [world.tenant_eans[0]])
    assert decided.status_code == 200, decided.text
    assert [m["status"] for m in await esp_a_mandates(client, world)] == ["requested"]
    landlord = await portal_browser(app, "larry.landlord")
    try:
        inbox = await landlord.get("/portal/co-consents")
        assert inbox.status_code == 200
        assert "ESP A" in inbox.text
        assert "Tina Tenant" in inbox.text
        assert world.tenant_eans[0] in inbox.text
        task_id = inbox.text.split('action="/portal/co-consents/')[1].split('"')[0]
        no_csrf = await landlord.post(
            f"/portal/co-consents/{task_id}", data={"decision": "approve"}
        )
        assert no_csrf.status_code == 403
        assert "Formulier verlopen" in no_csrf.text
        no_trace(no_csrf)
        nonsense = await post_form(
            landlord, "/portal/co-consents", f"/portal/co-consents/{task_id}", decision="maybe"
        )
        assert nonsense.status_code == 422
        approved = await post_form(
            landlord, "/portal/co-consents", f"/portal/co-consents/{task_id}", decision="approve"
        )
        assert approved.status_code == 303
        assert approved.headers["location"] == "/portal/co-consents?done=approved"
        after = await landlord.get(approved.headers["location"])
        assert "U ging akkoord" in after.text
        assert "Er wacht geen vraag op uw akkoord." in after.text
        again = await post_form(
            landlord, "/portal/co-consents", f"/portal/co-consents/{task_id}", decision="reject"
        )
        assert again.status_code == 409
        unknown = await post_form(
            landlord, "/portal/co-consents", "/portal/co-consents/abc", decision="approve"
        )
        assert unknown.status_code == 404
        no_trace(unknown)
    finally:
        await landlord.aclose()
    assert [m["status"] for m in await esp_a_mandates(client, world)] == ["approved"]


async def test_only_the_grid_user_sees_and_answers_the_request(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    identifier = await open_consent(client, world.esp_a, numberOfEans=1)
    await decide(app, world.tenant, identifier, [world.tenant_eans[0]])
    landlord = await portal_browser(app, "larry.landlord")
    owner = await portal_browser(app, "olga.owner")
    try:
        inbox = await landlord.get("/portal/co-consents")
        task_id = inbox.text.split('action="/portal/co-consents/')[1].split('"')[0]
        assert "Er wacht geen vraag" in (await owner.get("/portal/co-consents")).text
        stranger = await post_form(
            owner, "/portal/co-consents", f"/portal/co-consents/{task_id}", decision="approve"
        )
        assert stranger.status_code == 404  # not theirs looks like not there
    finally:
        await landlord.aclose()
        await owner.aclose()
    assert [m["status"] for m in await esp_a_mandates(client, world)] == ["requested"]


async def test_a_customer_revokes_and_the_esp_is_refused(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    mandate_id = await owner_mandate(app, client, world)
    esp = await auth_headers(client, world.esp_a)
    data_url = f"/api/v1/access-points/{world.owner_ean}/meter-data"
    window = {"from": "2026-06-01", "to": "2026-06-02"}
    assert (await client.get(data_url, params=window, headers=esp)).status_code == 200
    owner = await portal_browser(app, "olga.owner")
    tenant = await portal_browser(app, "tina.tenant")
    try:
        page = await owner.get("/portal/mandates")
        assert page.status_code == 200
        assert "ESP A" in page.text
        assert world.owner_ean in page.text
        assert "goedgekeurd" in page.text
        revoke = f"/portal/mandates/{mandate_id}/revoke"
        forged = await owner.post(revoke, data={"csrf_token": "forged"})
        assert forged.status_code == 403
        no_trace(forged)
        not_hers = await post_form(tenant, "/portal/mandates", revoke)
        assert not_hers.status_code == 404
        assert (
            await post_form(tenant, "/portal/mandates", "/portal/mandates/x/revoke")
        ).status_code == 404
        done = await post_form(owner, "/portal/mandates", revoke)
        assert done.status_code == 303
        after = await owner.get(done.headers["location"])
        assert "De toestemming is ingetrokken" in after.text
        assert "beëindigd" in after.text
        twice = await post_form(owner, "/portal/mandates", revoke)
        assert twice.status_code == 409
        assert "al beëindigd" in twice.text
    finally:
        await owner.aclose()
        await tenant.aclose()
    refused = await client.get(data_url, params=window, headers=esp)
    assert refused.status_code in (403, 404), refused.text
    statuses = [m["status"] for m in await esp_a_mandates(client, world)]
    assert statuses == ["finished"]


async def test_who_read_my_data(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    await owner_mandate(app, client, world)
    esp = await auth_headers(client, world.esp_a)
    data_url = f"/api/v1/access-points/{world.owner_ean}/meter-data"
    for window in (
        {"from": "2026-10-25", "to": "2026-10-26"},
        {"from": "2026-06-01", "to": "2026-06-02"},
    ):
        read = await client.get(data_url, params=window, headers=esp)
        assert read.status_code == 200
    owner = await portal_browser(app, "olga.owner")
    tenant = await portal_browser(app, "tina.tenant")
    try:
        log = await owner.get("/portal/access-log")
        assert log.status_code == 200
        assert "ESP A" in log.text
        # The periods read, in Brussels time (the autumn DST day is 25 hours long).
        assert "01-06-2026 00:00 \u2013 02-06-2026 00:00" in log.text
        assert "25-10-2026 00:00 \u2013 26-10-2026 00:00" in log.text
        assert log.text.index("01-06-2026 00:00") < log.text.index("25-10-2026 00:00")
        one = await owner.get(f"/portal/access-log?ean={world.owner_ean}")
        assert "ESP A" in one.text
        theirs = await tenant.get(f"/portal/access-log?ean={world.owner_ean}")
        assert theirs.status_code == 404
        no_trace(theirs)
        nonsense = await tenant.get("/portal/access-log?ean=<script>")
        assert nonsense.status_code == 404
        assert "<script>" not in nonsense.text
        quiet = await tenant.get("/portal/access-log")
        assert "Niemand las de gegevens" in quiet.text
    finally:
        await owner.aclose()
        await tenant.aclose()


async def test_an_ended_session_goes_to_login_and_back(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        anonymous = await browser.get("/portal/access-log?ean=1")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/portal/login?next=/portal/access-log%3Fean%3D1"
        browser.cookies.set("datahub_session", "ended-or-forged")
        ended = await browser.get("/portal/mandates")
        assert ended.headers["location"] == "/portal/login?next=/portal/mandates&expired=1"
        login = await browser.get(ended.headers["location"])
        assert "Uw sessie is verlopen" in login.text
        assert field(login.text, "next") == "/portal/mandates"
        back = await browser_login(browser, "olga.owner", "/portal/mandates")
        assert back.headers["location"] == "/portal/mandates"
        # A form posted after the session ended goes back to the form's page.
        browser.cookies.clear()
        browser.cookies.set("datahub_session", "ended-or-forged")
        posted = await browser.post("/portal/mandates/1/revoke", data={"csrf_token": "x"})
        assert posted.headers["location"] == "/portal/login?next=/portal/mandates&expired=1"


async def test_the_menu_and_the_language_switch(app: FastAPI, world: ConsentWorld) -> None:
    owner = await portal_browser(app, "olga.owner")
    try:
        home = await owner.get("/portal/")
        for path in ("/portal/mandates", "/portal/co-consents", "/portal/access-log"):
            assert f'href="{path}"' in home.text
        assert "/portal/operator/" not in home.text
        assert 'href="/portal/?lang=en"' in home.text
        english = await owner.get("/portal/mandates?lang=en")
        assert "My consents" in english.text
        assert 'href="/portal/mandates?lang=nl"' in english.text
        sticky = await owner.get("/portal/access-log")
        assert "Who read my data" in sticky.text  # the choice is kept in a cookie
        operator_page = await owner.get("/portal/operator/contracts")
        assert operator_page.status_code == 403
        no_trace(operator_page)
    finally:
        await owner.aclose()


async def test_logout_ends_the_session(app: FastAPI, world: ConsentWorld) -> None:
    owner = await portal_browser(app, "olga.owner")
    try:
        left = await post_form(owner, "/portal/mandates", "/portal/logout")
        assert left.headers["location"] == "/portal/login"
        assert (await owner.get("/portal/mandates")).status_code == 303
    finally:
        await owner.aclose()


async def test_form_posts_hold_one_session(app: FastAPI, world: ConsentWorld) -> None:
    """A person's form post reads the person in the post's write session: one connection at
    a time (the mail settings, then the logout)."""
    owner = await portal_browser(app, "olga.owner")
    try:
        settings = await owner.get("/portal/mail-settings")
        token = field(settings.text, "csrf_token")
        async with held_connections(app) as held:
            saved = await owner.post(
                "/portal/mail-settings", data={"csrf_token": token, "language": "fr"}
            )
        assert saved.status_code in (200, 303), saved.text
        assert held.most == 1
        async with held_connections(app) as held:
            left = await owner.post("/portal/logout", data={"csrf_token": token})
        assert left.status_code == 303
        assert held.most == 1
    finally:
        await owner.aclose()


async def test_expired_and_used_consent_links_say_so(
    app: FastAPI, client: httpx.AsyncClient, world: ConsentWorld
) -> None:
    used = await open_consent(client, world.esp_a, numberOfEans=1)
    await decide(app, world.owner, used, [world.owner_ean])
    stale = await open_consent(client, world.esp_a, numberOfEans=1, referenceNumber="stale")
    async with app.state.database.write_sessions() as session:
        await session.execute(
            update(ConsentSession)
            .where(ConsentSession.short_url_identifier == stale)
            .values(valid_to=datetime.now(UTC) - timedelta(minutes=1))
        )
        await session.commit()
    owner = await portal_browser(app, "olga.owner")
    try:
        answered = await owner.get(f"/consent/{used}")
        assert answered.status_code == 409
        assert "Deze vraag is al beantwoord." in answered.text
        expired = await owner.get(f"/consent/{stale}")
        assert expired.status_code == 410
        assert "Deze vraag is verlopen" in expired.text
        late = await owner.post(
            f"/consent/{stale}",
            data={
                "csrf_token": field((await owner.get("/portal/mandates")).text, "csrf_token"),
                "decision": "approve",
                "eans": world.owner_ean,
            },
        )
        assert late.status_code == 410
        no_trace(late)
    finally:
        await owner.aclose()


async def test_an_operator_account_cannot_use_person_pages(app: FastAPI) -> None:
    await make_person(app, "oscar.operator", AccountRole.operator)
    operator = await portal_browser(app, "oscar.operator")
    try:
        for path in ("/portal/mandates", "/portal/co-consents", "/portal/access-log"):
            answer = await operator.get(path)
            assert answer.status_code == 403, path
            assert "Geen toegang" in answer.text
    finally:
        await operator.aclose()
