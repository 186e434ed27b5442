"""Mail in the browser: the operator finds the mails the service wrote (no SMTP server: .eml
files) and opens one; a customer chooses the language of their mails and switches reminders
off; a reminder's unsubscribe link works without logging in. Dutch and English."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text

from datahub_api.accounts.models import AccountRole
from datahub_api.db import commit_and_run_hooks
from datahub_api.mail import service as mail_service
from datahub_api.mail.models import Language, MailPreference, OutboxMessage

from ..support.browser import NewPage, log_in, playwright_api, screenshot
from ..support.consent_world import PASSWORD, make_person
from ..support.parties import decide_contract, make_esp

expect = playwright_api().expect


async def test_the_operator_reads_the_mails_and_a_customer_sets_theirs(
    app: FastAPI, client: httpx.AsyncClient, new_page: NewPage
) -> None:
    esp = await make_esp(app, "Zonnig BV", approve=False)
    assert esp.contract_number
    await decide_contract(app, esp.contract_number, "reject", "Geen KBO-inschrijving")
    customer = await make_person(app, "carla.customer", AccountRole.customer)
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE accounts SET email = 'carla@example.net' WHERE id = :id"),
            {"id": customer.id},
        )
        mail_service.add(
            session,
            account_id=customer.id,
            kind="mandate_expiring",
            payload={"ean": "541448800000000007", "esp": "Zonnig BV", "expires_at": "2027-04-01"},
        )
        await commit_and_run_hooks(session, app)
    await app.state.jobs.run_until_idle()
    await make_person(app, "oscar.operator", AccountRole.operator)

    operator = await new_page()
    await log_in(operator, "oscar.operator", PASSWORD)
    await operator.get_by_role("navigation").get_by_role("link", name="Mails").click()
    row = operator.get_by_role("row").filter(has_text=f"Contract {esp.contract_number}")
    await expect(row).to_contain_text("verstuurd")
    await expect(row).to_contain_text("zonnigbv@example.org")
    await screenshot(operator, "operator-mail")
    await row.get_by_role("link", name="Open .eml").click()
    await expect(operator.locator("body")).to_contain_text("Reden: Geen KBO-inschrijving")
    await screenshot(operator, "operator-mail-eml")
    english = await new_page("en-GB")
    await log_in(english, "oscar.operator", PASSWORD)
    await english.goto("/portal/operator/mail?lang=en")
    await expect(english.get_by_role("heading", name="Mails")).to_be_visible()
    await expect(english.locator("main")).to_contain_text("No SMTP server is set")
    await screenshot(english, "operator-mail-en")

    person = await new_page()
    await log_in(person, "carla.customer", PASSWORD)
    await person.get_by_role("navigation").get_by_role("link", name="Mails").click()
    await expect(person.get_by_text("Mailadres: carla@example.net")).to_be_visible()
    await person.get_by_label("Taal van uw mails").select_option("fr")
    await person.get_by_label("Stuur mij herinneringen").uncheck()
    await person.get_by_role("button", name="Bewaren").click()
    await expect(person.get_by_role("status")).to_contain_text("Uw keuze is bewaard.")
    await screenshot(person, "mail-settings")
    await person.goto("/portal/mail-settings?lang=en")
    await expect(person.get_by_label("Language of your mails")).to_have_value("fr")
    await expect(person.get_by_label("Send me reminders")).not_to_be_checked()
    await screenshot(person, "mail-settings-en")

    async with app.state.database.write_sessions() as session:  # reminders back on
        await mail_service.set_preferences(
            session, account_id=customer.id, language=Language.fr, informational=True
        )
        await session.commit()
        token = await session.scalar(
            select(MailPreference.unsubscribe_token).where(MailPreference.account_id == customer.id)
        )
        assert (
            await session.scalar(
                select(OutboxMessage.kind).where(OutboxMessage.account_id == customer.id)
            )
            == "mandate_expiring"
        )
    anyone = await new_page()
    await anyone.goto(f"/portal/mail/unsubscribe/{token}")
    await anyone.get_by_role("button", name="Afmelden").click()
    await expect(anyone.get_by_role("status")).to_contain_text("U bent afgemeld")
    await screenshot(anyone, "mail-unsubscribed")
    async with app.state.database.read_sessions() as session:
        informational = await session.scalar(
            select(MailPreference.informational).where(MailPreference.account_id == customer.id)
        )
    assert informational is False
