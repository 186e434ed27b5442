"""Mail: what arrives at a real (local) SMTP server, the .eml files without one, retries,
exactly one mail per message, languages and the unsubscribe of informational mails."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select, text

from datahub_api.accounts.models import Account, AccountRole
from datahub_api.accounts.passwords import hash_password
from datahub_api.db import commit_and_run_hooks
from datahub_api.jobs import JobQueue
from datahub_api.mail import service as mail_service
from datahub_api.mail import tasks as mail_tasks
from datahub_api.mail import texts
from datahub_api.mail.models import Language, MailPreference, OutboxMessage, OutboxStatus
from datahub_api.mandates.tasks import enqueue_daily
from datahub_api.portal.i18n import placeholders

from ..support.consent_world import (
    PASSWORD,
    decide,
    make_consent_world,
    make_person,
    open_consent,
    owner_mandate,
)
from ..support.history_export_world import entry, make_export_world, request_export, run_jobs
from ..support.nps_world import open_audit, signed_mandate, signed_pdf
from ..support.parties import decide_contract, make_esp
from ..support.portal import no_trace, portal_browser, post_form


@dataclass
class Inbox:
    """What the local SMTP server received; it refuses the first ``refuse`` recipients
    with ``refusal`` (a 4xx: try again later)."""

    refuse: int = 0
    refusal: str = "451 4.3.0 Mailbox busy, try again later"
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return self.refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), parsed))
        self.raw.append(content)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_inbox(app: FastAPI) -> Iterator[Inbox]:
    """A real SMTP server on localhost, set as the service's ``DATAHUB_SMTP_URL``."""
    inbox = Inbox()
    port = _free_port()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-session chatter
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.state.settings.smtp_url = SecretStr(f"smtp://127.0.0.1:{port}")
    try:
        yield inbox
    finally:
        app.state.settings.smtp_url = None
        controller.stop()


async def outbox(app: FastAPI) -> list[OutboxMessage]:
    async with app.state.database.read_sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def body_of(message: EmailMessage) -> str:
    assert not message.is_multipart()  # plain text: the link in the text, no attachment
    assert not list(message.iter_attachments())
    return str(message.get_content())


async def test_a_decided_contract_is_mailed_to_the_esp_through_smtp(
    app: FastAPI, smtp_inbox: Inbox
) -> None:
    zonnig = await make_esp(app, "Zonnig BV", approve=False)
    wolk = await make_esp(app, "Wolk NV", approve=False)
    assert zonnig.contract_number
    assert wolk.contract_number
    await decide_contract(app, zonnig.contract_number, "approve", None)
    await decide_contract(app, wolk.contract_number, "reject", "Geen KBO-inschrijving")
    assert smtp_inbox.received == []  # queued after the commit, sent by the job
    await app.state.jobs.run_until_idle()

    by_recipient = {tuple(to): message for to, message in smtp_inbox.received}
    assert sorted(by_recipient) == [("wolknv@example.org",), ("zonnigbv@example.org",)]
    approved = by_recipient[("zonnigbv@example.org",)]
    assert approved["Subject"] == f"Contract {zonnig.contract_number} goedgekeurd"
    assert approved["To"] == "Zonnig BV <zonnigbv@example.org>"
    assert approved["From"] == "Datahub <datahub@localhost>"
    assert approved["Content-Language"] == "nl"
    assert approved["Auto-Submitted"] == "auto-generated"
    assert approved["Message-ID"].startswith("<")
    assert approved["List-Unsubscribe"] is None  # a decision: no unsubscribe
    body = body_of(approved)
    assert "http://127.0.0.1:8000/portal/esp/contracts" in body
    assert "dienstbericht" in body
    rejected = by_recipient[("wolknv@example.org",)]
    assert "Reden: Geen KBO-inschrijving" in body_of(rejected)

    rows = [row for row in await outbox(app) if row.kind.startswith("contract_")]
    assert [(row.kind, row.status, row.attempts) for row in rows] == [
        ("contract_approved", OutboxStatus.sent, 1),
        ("contract_rejected", OutboxStatus.sent, 1),
    ]
    assert {row.message_id for row in rows} == {
        message["Message-ID"] for _, message in smtp_inbox.received
    }

    await app.state.jobs.run_until_idle()
    for row in rows:  # a job run again sends nothing again
        await mail_tasks.send(app.state.jobs, row.id)
    assert len(smtp_inbox.received) == 2


async def test_a_refused_mail_is_retried_later_and_arrives_once(
    app: FastAPI, smtp_inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="datahub_api")
    esp = await make_esp(app, "Zonnig BV", approve=False)
    assert esp.contract_number
    smtp_inbox.refuse = 1
    await decide_contract(app, esp.contract_number, "approve", None)
    queue: JobQueue = app.state.jobs
    await queue.run_until_idle()
    assert smtp_inbox.received == []
    (row,) = [row for row in await outbox(app) if row.kind == "contract_approved"]
    assert row.status is OutboxStatus.pending
    assert row.attempts == 1
    assert row.last_error == "recipient refused (451)"  # the code, not the server's text
    assert row.next_attempt_at is not None
    first_message_id = row.message_id
    waiting = [job for job in await queue.jobs("todo") if job["task_name"] == mail_tasks.SEND]
    assert [job["args"] for job in waiting] == [{"message_id": row.id}]
    assert waiting[0]["scheduled_at"] == row.next_attempt_at  # backoff: the schedule's wait
    wait = (row.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert 30 < wait <= app.state.settings.mail_retry_schedule_seconds[0]

    # The retry falls due (twice: the stalled-job retry may run a job again).
    for _ in range(2):
        await queue.app.connector.execute_query_async(
            "UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo' "
            "AND task_name = %(name)s",
            name=mail_tasks.SEND,
        )
        queue.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)
        await queue.run_until_idle()
        await mail_tasks.send(queue, row.id)
    assert len(smtp_inbox.received) == 1
    (sent,) = [r for r in await outbox(app) if r.id == row.id]
    assert sent.status is OutboxStatus.sent
    assert sent.attempts == 2
    assert sent.message_id == first_message_id == smtp_inbox.received[0][1]["Message-ID"]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("datahub_api.mail")]
    assert any(f"mail {row.id} (contract_approved) to organisation" in m for m in ours)
    assert not [m for m in ours if "zonnigbv" in m]  # the address stays out of the logs


async def test_a_recipient_refused_for_good_is_not_retried(app: FastAPI, smtp_inbox: Inbox) -> None:
    esp = await make_esp(app, "Zonnig BV", approve=False)
    assert esp.contract_number
    smtp_inbox.refuse, smtp_inbox.refusal = 1, "550 5.1.1 No such user here"
    await decide_contract(app, esp.contract_number, "approve", None)
    await app.state.jobs.run_until_idle()
    (row,) = [row for row in await outbox(app) if row.kind == "contract_approved"]
    assert (row.status, row.attempts, row.last_error) == (
        OutboxStatus.failed,
        1,
        "recipient refused (550)",
    )
    assert [j for j in await app.state.jobs.jobs("todo") if j["task_name"] == mail_tasks.SEND] == []


async def set_mail_language(app: FastAPI, account_id: int, language: Language) -> None:
    async with app.state.database.write_sessions() as session:
        await mail_service.set_preferences(
            session, account_id=account_id, language=language, informational=True
        )
        await session.commit()


async def give_email(app: FastAPI, account_id: int, address: str) -> None:
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE accounts SET email = :address WHERE id = :id"),
            {"address": address, "id": account_id},
        )
        await session.commit()


async def write_mail(app: FastAPI, **arguments: Any) -> None:
    async with app.state.database.write_sessions() as session:
        mail_service.add(session, **arguments)
        await commit_and_run_hooks(session, app)


async def test_informational_mail_in_the_addressee_language_with_one_click_unsubscribe(
    app: FastAPI, smtp_inbox: Inbox
) -> None:
    person = await make_person(app, "greta.gridtuser", AccountRole.customer)
    await give_email(app, person.id, "greta@example.net")
    await set_mail_language(app, person.id, Language.de)
    expiring = {
        "ean": "541448800000000007",
        "esp": "Zonnig BV",
        "expires_at": "2027-03-31T22:00:00+00:00",  # midnight in Brussels
    }
    await write_mail(app, account_id=person.id, kind="mandate_expiring", payload=expiring)
    await app.state.jobs.run_until_idle()

    ((to, mail),) = smtp_inbox.received
    assert to == ["greta@example.net"]
    assert mail["Content-Language"] == "de"
    assert mail["Subject"] == (
        "Ihre Vollmacht für Zonnig BV zu 541448800000000007 läuft am 2027-04-01 ab"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(mail["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:8000/portal/mail/unsubscribe/")
    # As written on the wire: the URL itself, not RFC 2047-encoded (clients read it so).
    assert f"\r\nList-Unsubscribe: <{unsubscribe}>\r\n".encode() in smtp_inbox.raw[0]
    body = body_of(mail)
    assert "Abbestellen: " + unsubscribe in body
    assert "http://127.0.0.1:8000/portal/mandates" in body

    # RFC 8058: the mail client posts to the link, no login, no form token.
    path = unsubscribe.removeprefix("http://127.0.0.1:8000")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anyone:
        page = await anyone.get(path)  # a link scanner's GET changes nothing
        assert page.status_code == 200
        assert "Abbestellen" in page.text or "Afmelden" in page.text
        async with app.state.database.read_sessions() as session:
            pref = await session.scalar(
                select(MailPreference).where(MailPreference.account_id == person.id)
            )
        assert pref is not None
        assert pref.informational
        done = await anyone.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        unknown = await anyone.post("/portal/mail/unsubscribe/not-a-token")
        assert unknown.status_code == 404

    # Reminders stop; what they must act on still comes.
    await write_mail(app, account_id=person.id, kind="mandate_expiring", payload=expiring)
    await write_mail(
        app,
        account_id=person.id,
        kind="co_consent_request",
        payload={"ean": expiring["ean"], "customer": "Tina Tenant", "due_at": "2027-01-15"},
    )
    await app.state.jobs.run_until_idle()
    rows = await outbox(app)
    assert [(row.kind, row.status, row.last_error) for row in rows[-2:]] == [
        ("mandate_expiring", OutboxStatus.skipped, "unsubscribed"),
        ("co_consent_request", OutboxStatus.sent, None),
    ]
    assert len(smtp_inbox.received) == 2
    co_consent = smtp_inbox.received[1][1]
    assert co_consent["Subject"] == (
        "Ihre Zustimmung für die Messdaten von 541448800000000007 wird erbeten"
    )
    assert co_consent["List-Unsubscribe"] is None
    assert "2027-01-15" in body_of(co_consent)


async def test_without_smtp_mails_are_eml_files_in_the_data_dir(app: FastAPI) -> None:
    mail_dir: Path = app.state.settings.mail_path
    esp = await make_esp(app, "Zonnig BV", approve=False)
    assert esp.contract_number
    person = await make_person(app, "nina.nomail", AccountRole.customer)
    await decide_contract(app, esp.contract_number, "approve", None)
    await write_mail(
        app, account_id=person.id, kind="paper_mandate_name_mismatch", payload={"ean": "5414"}
    )
    await app.state.jobs.run_until_idle()
    rows = {row.kind: row for row in await outbox(app)}
    approved = rows["contract_approved"]
    assert approved.status is OutboxStatus.sent
    assert approved.eml_file == f"{approved.id:08d}-contract_approved.eml"
    written = message_from_bytes((mail_dir / approved.eml_file).read_bytes(), policy=policy.default)
    assert written["To"] == "Zonnig BV <zonnigbv@example.org>"
    assert written["Message-ID"] == approved.message_id
    nobody = rows["paper_mandate_name_mismatch"]  # an account without an address
    assert (nobody.status, nobody.last_error) == (OutboxStatus.skipped, "no e-mail address")


async def test_the_sweeper_queues_mail_whose_job_was_lost(app: FastAPI) -> None:
    person = await make_person(app, "lost.letter", AccountRole.customer)
    await give_email(app, person.id, "lost@example.net")
    async with app.state.database.write_sessions() as session:  # no after-commit hooks run
        mail_service.add(
            session, account_id=person.id, kind="paper_mandate_name_mismatch", payload={}
        )
        await session.commit()
    queue: JobQueue = app.state.jobs
    assert await mail_tasks.sweep(queue) == 0  # not overdue yet
    queue.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)
    assert await mail_tasks.sweep(queue) == 1
    assert await mail_tasks.sweep(queue) == 0  # one job waits per message
    await queue.run_until_idle()
    (row,) = [row for row in await outbox(app) if row.account_id == person.id]
    assert row.status is OutboxStatus.sent


def test_every_kind_speaks_every_language_with_the_same_placeholders() -> None:
    known = set(texts.facts({})) | {"link"}
    for kind, mail_text in texts.KINDS.items():
        for parts in (mail_text.subject, mail_text.body):
            assert set(parts) == set(Language), kind
            fields = {language: placeholders(parts[language]) for language in Language}
            assert len({frozenset(f) for f in fields.values()}) == 1, (kind, fields)
            assert fields[Language.nl] <= known, kind
    for table in (texts.FOOTER, texts.REQUIRED_NOTICE, texts.UNSUBSCRIBE):
        assert set(table) == set(Language)
    assert [kind for kind, t in texts.KINDS.items() if t.informational] == ["mandate_expiring"]


async def test_the_operator_lists_the_mails_and_opens_the_eml_files(app: FastAPI) -> None:
    esp = await make_esp(app, "Zonnig BV", approve=False)
    assert esp.contract_number
    await decide_contract(app, esp.contract_number, "reject", "Geen KBO-inschrijving")
    await app.state.jobs.run_until_idle()
    (row,) = [row for row in await outbox(app) if row.kind == "contract_rejected"]
    await make_person(app, "oscar.operator", AccountRole.operator)
    operator = await portal_browser(app, "oscar.operator")
    try:
        listed = await operator.get("/portal/operator/mail")
        assert listed.status_code == 200
        no_trace(listed)
        assert "Er is geen SMTP-server ingesteld" in listed.text
        assert str(app.state.settings.mail_path) in listed.text
        assert f"Contract {esp.contract_number} geweigerd" in listed.text
        assert "zonnigbv@example.org" in listed.text  # operators see where it went
        assert f'href="/portal/operator/mail/{row.id}"' in listed.text
        opened = await operator.get(f"/portal/operator/mail/{row.id}")
        assert opened.status_code == 200
        assert opened.headers["content-type"].startswith("text/plain")
        assert f"Message-ID: {row.message_id}" in opened.text
        assert "Reden: Geen KBO-inschrijving" in opened.text
        assert (await operator.get("/portal/operator/mail/999999")).status_code == 404
        english = await operator.get("/portal/operator/mail?lang=en")
        assert "No SMTP server is set" in english.text
        app.state.settings.smtp_url = SecretStr("smtp://mailer:s3cret@mail.example:587")
        try:
            with_smtp = await operator.get("/portal/operator/mail")
        finally:
            app.state.settings.smtp_url = None
        assert "smtp://mail.example:587" in with_smtp.text
        assert "s3cret" not in with_smtp.text
    finally:
        await operator.aclose()


async def test_a_person_chooses_the_mail_language_and_reminders(
    app: FastAPI, smtp_inbox: Inbox
) -> None:
    person = await make_person(app, "fanny.french", AccountRole.customer)
    await give_email(app, person.id, "fanny@example.net")
    browser = await portal_browser(app, "fanny.french")
    try:
        shown = await browser.get("/portal/mail-settings")
        assert shown.status_code == 200
        no_trace(shown)
        assert "Mailadres: fanny@example.net" in shown.text
        assert 'value="nl" selected' in shown.text  # the portal's language until chosen
        settings_page = "/portal/mail-settings"
        bad = await post_form(browser, settings_page, settings_page, language="xx")
        assert bad.status_code == 400
        saved = await post_form(
            browser, "/portal/mail-settings", "/portal/mail-settings", language="fr"
        )  # no "reminders": switched off
        assert saved.status_code == 303
        after = await browser.get(saved.headers["location"])
        assert "Uw keuze is bewaard." in after.text
        assert 'value="fr" selected' in after.text
        assert "checked" not in after.text
    finally:
        await browser.aclose()
    expiring = {"ean": "541448800000000007", "esp": "Zonnig BV", "expires_at": "2027-04-01"}
    await write_mail(app, account_id=person.id, kind="mandate_expiring", payload=expiring)
    await write_mail(
        app, account_id=person.id, kind="paper_mandate_registered", payload={**expiring}
    )
    await app.state.jobs.run_until_idle()
    ((_, mail),) = smtp_inbox.received
    assert mail["Subject"] == "Mandat papier enregistré sur votre point d'accès 541448800000000007"
    assert mail["Content-Language"] == "fr"
    assert "Contestez-le ici : http://127.0.0.1:8000/portal/mandates" in body_of(mail)


async def test_a_co_consent_request_and_a_mandate_expiring_reach_the_people(
    app: FastAPI, client: httpx.AsyncClient, smtp_inbox: Inbox
) -> None:
    world = await make_consent_world(app, client)
    await give_email(app, world.landlord.id, "landlord@example.net")
    await give_email(app, world.owner.id, "owner@example.net")
    await set_mail_language(app, world.owner.id, Language.en)
    started = datetime.now(UTC).replace(microsecond=0)
    end = started + timedelta(days=200)
    period = {
        "dataServices": [
            {
                "dataServiceType": "VH_dag",
                "dataPeriodFrom": started.isoformat(),
                "dataPeriodTo": end.isoformat(),
            }
        ]
    }
    identifier = await open_consent(client, world.esp_a, numberOfEans=1, **period)
    decided = await decide(app, world.tenant, identifier, [world.tenant_eans[0]])
    assert decided.status_code == 200, decided.text
    await owner_mandate(app, client, world, referenceNumber="owner-1", **period)
    queue: JobQueue = app.state.jobs
    await queue.run_until_idle()
    ((to, asked),) = smtp_inbox.received
    assert to == ["landlord@example.net"]
    assert asked["Subject"] == (
        f"Uw toestemming gevraagd voor de meetgegevens van {world.tenant_eans[0]}"
    )
    assert "http://127.0.0.1:8000/portal/co-consents" in body_of(asked)
    assert asked["List-Unsubscribe"] is None  # they must act on it

    queue.clock = lambda: end - timedelta(days=90)  # the renewal window opens
    assert await enqueue_daily(queue) is not None
    await queue.run_until_idle()
    ((to, reminder),) = smtp_inbox.received[1:]
    assert to == ["owner@example.net"]
    assert reminder["Subject"] == (
        f"Your mandate for ESP A on {world.owner_ean} expires on "
        f"{end.astimezone(texts.BRUSSELS).date().isoformat()}"
    )
    assert reminder["List-Unsubscribe"] is not None


async def test_an_audit_opened_and_a_history_export_ready_reach_the_esp(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    export_world = await make_export_world(app, client)
    world = export_world.nps
    answer = await request_export(client, world.a, [entry(world.owner_ean)])
    assert answer.status_code == 201, answer.text
    await run_jobs(app)
    mandate_id = await signed_mandate(client, world, signed_pdf("the real one"))
    audit = await open_audit(client, world, mandate_id)
    await run_jobs(app)
    mails = {row.kind: row for row in await outbox(app) if row.organisation_id is not None}
    ready, opened = mails["history_export_ready"], mails["audit_opened"]
    assert ready.status is OutboxStatus.sent
    assert ready.subject == "Historiek-export hx-1 is klaar"
    mail_dir: Path = app.state.settings.mail_path
    assert ready.eml_file is not None
    written = message_from_bytes((mail_dir / ready.eml_file).read_bytes(), policy=policy.default)
    assert isinstance(written, EmailMessage)
    body = body_of(written)  # a link to the export, never the file
    assert "http://127.0.0.1:8000/portal/esp/history-exports" in body
    assert opened.status is OutboxStatus.sent
    assert opened.payload["audit_id"] == audit["id"]
    assert opened.subject == f"Audit geopend: ondertekend mandaat voor {audit['ean']} gevraagd"


async def test_esp_staff_choose_the_language_of_their_organisations_mails(
    app: FastAPI, smtp_inbox: Inbox
) -> None:
    esp = await make_esp(app, "Soleil SA", approve=False)
    assert esp.contract_number
    async with app.state.database.write_sessions() as session:
        session.add(
            Account(
                username="sophie.soleil",
                password_hash=hash_password(PASSWORD),
                display_name="Sophie of Soleil",
                role=AccountRole.esp_user,
                organisation_id=esp.organisation_id,
            )
        )
        await session.commit()
    browser = await portal_browser(app, "sophie.soleil")
    try:
        shown = await browser.get("/portal/mail-settings")
        assert shown.status_code == 200
        assert "Mailadres: soleilsa@example.org" in shown.text  # the contact address
        assert 'name="reminders"' not in shown.text  # nothing an ESP may switch off
        saved = await post_form(
            browser, "/portal/mail-settings", "/portal/mail-settings", language="fr"
        )
        assert saved.status_code == 303
    finally:
        await browser.aclose()
    await decide_contract(app, esp.contract_number, "approve", None)
    await app.state.jobs.run_until_idle()
    ((to, mail),) = smtp_inbox.received
    assert to == ["soleilsa@example.org"]
    assert mail["Subject"] == f"Contrat {esp.contract_number} approuvé"
    assert "Vos contrats : http://127.0.0.1:8000/portal/esp/contracts" in body_of(mail)


def test_the_smtp_url_says_how_to_connect() -> None:
    submission = mail_service.SmtpTransport("smtp://mailer:p%40ss@mail.example:587", 12.0)
    assert submission.options() == {
        "hostname": "mail.example",
        "port": 587,
        "username": "mailer",
        "password": "p@ss",
        "use_tls": False,
        "start_tls": True,  # never log in over plain text
        "timeout": 12.0,
    }
    relay = mail_service.SmtpTransport("smtp://relay.internal", 30.0).options()
    assert (relay["port"], relay["username"], relay["start_tls"]) == (25, None, None)
    implicit = mail_service.SmtpTransport("smtps://u:p@mail.example", 30.0).options()
    assert (implicit["port"], implicit["use_tls"], implicit["start_tls"]) == (465, True, None)
    with pytest.raises(ValueError, match="smtp://"):
        mail_service.SmtpTransport("http://mail.example", 30.0).options()


async def test_a_mail_that_cannot_be_built_fails_once_and_is_not_retried(
    app: FastAPI, smtp_inbox: Inbox
) -> None:
    esp = await make_esp(app, "Zonnig BV", approve=False)
    assert esp.contract_number
    async with app.state.database.write_sessions() as session:
        await session.execute(
            text("UPDATE organisations SET name = :name WHERE id = :id"),
            {"name": "Zonnig\r\nBcc: someone@example.invalid", "id": esp.organisation_id},
        )
        await session.commit()
    await decide_contract(app, esp.contract_number, "approve", None)
    await app.state.jobs.run_until_idle()
    (row,) = [row for row in await outbox(app) if row.kind == "contract_approved"]
    assert row.status is OutboxStatus.failed
    assert row.last_error is not None
    assert row.last_error.startswith("the mail could not be built")
    assert smtp_inbox.received == []
    assert [j for j in await app.state.jobs.jobs("todo") if j["task_name"] == mail_tasks.SEND] == []
