"""Mails: written to the outbox in the changing transaction, sent by a job.

**Writing.** A domain adds an :class:`~datahub_api.mail.models.OutboxMessage` (with
:func:`add`, or directly, as the mandate domains always did) in the transaction of the
change it tells about: the mail exists iff the change commits. Its job is queued after the
commit (:mod:`datahub_api.mail.tasks` notices new outbox rows at flush), and a sweeper
queues any that were missed.

**Sending, once.** ``mail.send`` (:func:`attempt`) runs under a per-message lock: it reads
the row, and does nothing if the message is no longer pending, so a job run twice or a
duplicate job never sends twice. It renders the mail in the addressee's language (their
mail preference, else Dutch), fixes its ``Message-ID`` before the first attempt, hands it to
the SMTP server (``DATAHUB_SMTP_URL``) or writes it as an ``.eml`` file in the mail dir (no
SMTP server: the embedded default), and records the outcome. A refusal is retried along
``DATAHUB_MAIL_RETRY_SCHEDULE_SECONDS`` (a recipient the server refuses for good fails at
once). Only a crash between the server's "250 OK" and recording it sends a mail again, with
the same Message-ID.

**Addresses stay out of the logs**: log lines name the outbox id, kind and the account or
organisation id; the address is only on the row (the operator's mail page shows it).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
from pydantic_core import to_jsonable_python

from datahub_api.db import Database, ReadSession, WriteSession
from datahub_api.mail import repository, texts
from datahub_api.mail.models import Language, MailPreference, OutboxMessage, OutboxStatus
from datahub_api.settings import Settings

logger = logging.getLogger(__name__)

UNSUBSCRIBE_PATH = "/portal/mail/unsubscribe/"
# Headers folded at RFC 5322's 998, not 78: a longer word (the unsubscribe URL) would
# otherwise be RFC 2047-encoded, which no mail client reads as a List-Unsubscribe URL.
MAIL_POLICY = policy.default.clone(max_line_length=998)
ERROR_MAX = 500


def add(
    session: WriteSession,
    *,
    kind: str,
    payload: dict[str, Any],
    account_id: int | None = None,
    organisation_id: int | None = None,
) -> OutboxMessage:
    """A mail of ``kind`` (see :data:`texts.KINDS`) to an account or to an organisation's
    contact address, sent once this transaction commits."""
    if kind not in texts.KINDS:
        raise ValueError(f"no mail texts for kind {kind!r}; add them to mail/texts.py")
    if (account_id is None) == (organisation_id is None):
        raise ValueError("a mail goes to an account or to an organisation")
    message = OutboxMessage(
        account_id=account_id,
        organisation_id=organisation_id,
        kind=kind,
        payload=to_jsonable_python(payload),
    )
    repository.add(session, message)
    return message


# --- rendering ---------------------------------------------------------------------------


def _domain_of(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def _link(settings: Settings, path: str) -> str:
    return settings.base_url.rstrip("/") + path


def unsubscribe_url(settings: Settings, token: str) -> str:
    return _link(settings, UNSUBSCRIBE_PATH + token)


def render(
    message: OutboxMessage,
    *,
    settings: Settings,
    name: str,
    address: str,
    language: Language,
    now: datetime,
    unsubscribe_token: str | None,
) -> EmailMessage:
    """The mail of an outbox row (its ``message_id`` already fixed): plain text, the link
    in the text (never an attachment), ``List-Unsubscribe`` only on informational kinds."""
    text = texts.KINDS[message.kind]
    values = {**texts.facts(message.payload), "link": _link(settings, text.link_path)}
    subject = text.subject[language].format_map(values)
    lines = [text.body[language].format_map(values), "", "-- ", texts.FOOTER[language]]
    email = EmailMessage(policy=MAIL_POLICY)
    email["From"] = settings.mail_from
    local, _, domain = address.rpartition("@")
    email["To"] = Address(display_name=name, username=local, domain=domain)
    email["Subject"] = subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    if text.informational and unsubscribe_token is not None:
        url = unsubscribe_url(settings, unsubscribe_token)
        email["List-Unsubscribe"] = f"<{url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        lines.append(texts.UNSUBSCRIBE[language].format(unsubscribe=url))
    else:
        lines.append(texts.REQUIRED_NOTICE[language])
    email.set_content("\n".join(lines) + "\n")
    email["Content-Language"] = language.value  # after set_content, which clears Content-*
    return email


# --- transports --------------------------------------------------------------------------


class Refused(Exception):
    """The mail was not taken; ``permanent`` when retrying cannot help."""

    def __init__(self, summary: str, *, permanent: bool = False) -> None:
        super().__init__(summary)
        self.summary = summary
        self.permanent = permanent


class Transport(Protocol):
    async def send(self, email: EmailMessage, outbox_id: int, kind: str) -> str | None:
        """Hand the mail over; the ``.eml`` file's name when it was written to one."""


def _summary(exc: Exception) -> Refused:
    """What to record of an SMTP failure: the class and reply code, never the server's
    text (it quotes the recipient's address)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({refused.code for refused in exc.recipients})
        return Refused(
            f"recipient refused ({', '.join(map(str, codes))})",
            permanent=bool(codes) and all(code >= 500 for code in codes),
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return Refused(f"{type(exc).__name__} ({exc.code})")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError)):
        return Refused(f"{type(exc).__name__}: {str(exc)[:200]}")
    return Refused(type(exc).__name__)


@dataclass(frozen=True)
class SmtpTransport:
    """``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it, required
    when a user is given; port 25 by default, 587 for submission) or
    ``smtps://[user:password@]host[:port]`` (TLS from the start, port 465)."""

    url: str
    timeout_seconds: float

    def options(self) -> dict[str, Any]:
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("DATAHUB_SMTP_URL is smtp://host:port or smtps://host:port")
        implicit_tls = parts.scheme == "smtps"
        user = unquote(parts.username) if parts.username else None
        return {
            "hostname": parts.hostname,
            "port": parts.port or (465 if implicit_tls else 25),
            "username": user,
            "password": unquote(parts.password) if parts.password else None,
            "use_tls": implicit_tls,
            # None: upgrade when offered; True: refuse to log in over plain text.
            "start_tls": None if implicit_tls or user is None else True,
            "timeout": self.timeout_seconds,
        }

    async def send(self, email: EmailMessage, outbox_id: int, kind: str) -> str | None:
        # Flattened here with our policy (aiosmtplib would refold at 78 and encode the
        # unsubscribe URL); the envelope says who it is from and to.
        try:
            content = email.as_bytes(policy=MAIL_POLICY.clone(linesep="\r\n"))
            sender = parseaddr(str(email["From"]))[1]
            recipients = [address.addr_spec for address in email["To"].addresses]
            await aiosmtplib.send(content, sender=sender, recipients=recipients, **self.options())
        except Exception as exc:
            raise _summary(exc) from exc
        return None


@dataclass(frozen=True)
class FileTransport:
    """No SMTP server: each mail becomes ``<mail dir>/<outbox id>-<kind>.eml`` (written
    whole, then moved into place; writing it again replaces it)."""

    directory: Path

    async def send(self, email: EmailMessage, outbox_id: int, kind: str) -> str | None:
        name = eml_name(outbox_id, kind)
        await asyncio.to_thread(self._write, name, bytes(email))
        return name

    def _write(self, name: str, content: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.partial"
        partial.write_bytes(content)
        os.replace(partial, self.directory / name)


def eml_name(outbox_id: int, kind: str) -> str:
    return f"{outbox_id:08d}-{kind}.eml"


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url is not None:
        return SmtpTransport(settings.smtp_url.get_secret_value(), settings.smtp_timeout_seconds)
    return FileTransport(settings.mail_path)


# --- one attempt -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: OutboxStatus | None  # None: nothing done (not pending, or not due yet)
    retry_at: datetime | None = None


def _who(message: OutboxMessage) -> str:
    if message.account_id is not None:
        return f"account {message.account_id}"
    return f"organisation {message.organisation_id}"


async def _prepare(
    session: WriteSession, settings: Settings, message: OutboxMessage, now: datetime
) -> EmailMessage | None:
    """The mail to send, with the row updated to say what goes where; None when it is
    not to be sent (the row says why)."""
    text = texts.KINDS.get(message.kind)
    if text is None:
        message.status, message.last_error = OutboxStatus.failed, "no texts for this kind"
        return None
    addressee = await repository.addressee(session, message)
    if addressee.address is None or "@" not in addressee.address:
        message.status, message.last_error = OutboxStatus.skipped, "no e-mail address"
        return None
    owner = {"account_id": message.account_id, "organisation_id": message.organisation_id}
    found: MailPreference | None
    if text.informational:
        found = await repository.ensure_preference(session, **owner)
        if not found.informational:
            message.status, message.last_error = OutboxStatus.skipped, "unsubscribed"
            return None
    else:
        found = await repository.preference(session, **owner)
    language = texts.language_of(found.language if found else None)
    if message.message_id is None:
        message.message_id = make_msgid(f"outbox.{message.id}", _domain_of(settings.mail_from))
    try:
        email = render(
            message,
            settings=settings,
            name=addressee.name,
            address=addressee.address,
            language=language,
            now=now,
            unsubscribe_token=found.unsubscribe_token if found else None,
        )
    except (ValueError, TypeError, LookupError) as unbuildable:
        # A name or address the mail headers refuse (a line break, say) fails the same on
        # every attempt: failed for good, for the operator's page, never retried.
        message.status = OutboxStatus.failed
        message.last_error = f"the mail could not be built ({unbuildable.__class__.__name__})"
        return None
    message.language = language.value
    message.recipient = addressee.address
    message.subject = str(email["Subject"])[:300]
    return email


async def attempt(
    database: Database,
    settings: Settings,
    message_id: int,
    now: datetime,
    transport: Transport | None = None,
) -> Outcome:
    """One attempt at sending an outbox message (what ``mail.send`` runs)."""
    transport = transport or transport_for(settings)
    async with database.write_sessions() as session:
        message = await repository.get_for_update(session, message_id)
        if message is None or message.status is not OutboxStatus.pending:
            return Outcome(None)
        if message.next_attempt_at is not None and message.next_attempt_at > now:
            return Outcome(None, message.next_attempt_at)
        email = await _prepare(session, settings, message, now)
        kind, who = message.kind, _who(message)
        await session.commit()
    if email is None:
        logger.info("mail %s (%s) to %s not sent: %s", message_id, kind, who, message.last_error)
        return Outcome(message.status)
    try:
        eml_file = await transport.send(email, message_id, kind)
    except Refused as refused:
        return await _failed(database, settings, message_id, now, refused)
    async with database.write_sessions() as session:
        message = await repository.get_for_update(session, message_id)
        if message is None or message.status is not OutboxStatus.pending:
            return Outcome(None)
        message.status = OutboxStatus.sent
        message.sent_at = now
        message.attempts += 1
        message.next_attempt_at = None
        message.eml_file = eml_file
        await session.commit()
    logger.info("mail %s (%s) to %s sent%s", message_id, kind, who, " as .eml" if eml_file else "")
    return Outcome(OutboxStatus.sent)


async def _failed(
    database: Database, settings: Settings, message_id: int, now: datetime, refused: Refused
) -> Outcome:
    schedule = settings.mail_retry_schedule_seconds
    async with database.write_sessions() as session:
        message = await repository.get_for_update(session, message_id)
        if message is None or message.status is not OutboxStatus.pending:
            return Outcome(None)
        message.attempts += 1
        message.last_error = refused.summary[:ERROR_MAX]
        if refused.permanent or message.attempts > len(schedule):
            message.status = OutboxStatus.failed
            message.next_attempt_at = None
        else:
            message.next_attempt_at = now + timedelta(seconds=schedule[message.attempts - 1])
        outcome = Outcome(
            message.status if message.status is OutboxStatus.failed else None,
            message.next_attempt_at,
        )
        who, kind, attempts = _who(message), message.kind, message.attempts
        await session.commit()
    logger.warning(
        "mail %s (%s) to %s not taken (attempt %s): %s%s",
        message_id,
        kind,
        who,
        attempts,
        refused.summary,
        "; given up" if outcome.status is OutboxStatus.failed else "",
    )
    return outcome


# --- what the pages read ------------------------------------------------------------------


async def recent(session: ReadSession, limit: int) -> list[repository.Listed]:
    """The newest mails with their addressee's name (the operator's page)."""
    return await repository.recent(session, limit)


async def counts(session: ReadSession) -> dict[str, int]:
    """How many mails are in each status."""
    return await repository.counts(session)


async def get(session: ReadSession, message_id: int) -> OutboxMessage | None:
    return await repository.get(session, message_id)


async def address_of(
    session: ReadSession, *, account_id: int | None = None, organisation_id: int | None = None
) -> str | None:
    """Where the mails of an account or an organisation go."""
    return await repository.address_of(
        session, account_id=account_id, organisation_id=organisation_id
    )


async def token_is_known(session: ReadSession, token: str) -> bool:
    return await repository.by_token(session, token[:64]) is not None


# --- preferences -------------------------------------------------------------------------


async def unsubscribe(session: WriteSession, token: str) -> MailPreference | None:
    """Switch off the informational mails of the token's addressee (the link in a mail)."""
    found = await repository.by_token(session, token[:64])
    if found is not None:
        await repository.set_preference(session, found, informational=False)
    return found


async def preferences_of(
    session: WriteSession, *, account_id: int | None = None, organisation_id: int | None = None
) -> MailPreference:
    return await repository.ensure_preference(
        session, account_id=account_id, organisation_id=organisation_id
    )


async def set_preferences(
    session: WriteSession,
    *,
    account_id: int | None = None,
    organisation_id: int | None = None,
    language: Language,
    informational: bool | None,
) -> None:
    """Set the mail language (and, for a person, whether reminders come) of an account or
    of an organisation (the mails to its contact address)."""
    found = await repository.ensure_preference(
        session, account_id=account_id, organisation_id=organisation_id
    )
    await repository.set_preference(
        session, found, language=language.value, informational=informational
    )
