"""The mail pages: the operator's list of mails (and each mail's ``.eml`` file when no SMTP
server is set), a person's mail settings (language, reminders), and the unsubscribe link
of informational mails (RFC 8058 one-click: a POST with no login and no form token; the
GET only shows a button, so a link scanner unsubscribes nobody)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from datahub_api.auth.principal import Principal, Role
from datahub_api.db import WriteSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.mail import service as mail_service
from datahub_api.mail.models import Language
from datahub_api.portal.i18n import language_of, texts
from datahub_api.portal.pages import checked_form, form_person_of, message, page, person_of
from datahub_api.portal.router import render

router = APIRouter(include_in_schema=False)

OPERATORS = (Role.operator,)
SETTINGS_FOR = (Role.customer, Role.grid_user, Role.esp, Role.operator)
SHOWN = 200
# Each language named in itself: the mail language is chosen by someone who reads it.
MAIL_LANGUAGES = (
    (Language.nl.value, "Nederlands"),
    (Language.fr.value, "Français"),
    (Language.en.value, "English"),
    (Language.de.value, "Deutsch"),
)


# --- the operator's list -----------------------------------------------------------------


@router.get("/portal/operator/mail")
async def mail_list(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(OPERATORS))],
) -> Response:
    settings = app_state(request).settings
    mails = await mail_service.recent(session, SHOWN)
    counts = await mail_service.counts(session)
    smtp_server = None
    if settings.smtp_url is not None:  # host and port only, never the credentials
        parts = urlsplit(settings.smtp_url.get_secret_value())
        smtp_server = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":")
    return page(
        request,
        person,
        "operator_mail.html",
        mails=mails,
        counts=counts,
        smtp_server=smtp_server,
        mail_dir=str(settings.mail_path),
    )


@router.get("/portal/operator/mail/{message_id}")
async def mail_file(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(OPERATORS, back_to="/portal/operator/mail"))],
    message_id: int,
) -> Response:
    """A written mail as its ``.eml`` text (shown in the browser, not downloaded)."""
    back = "/portal/operator/mail"
    found = await mail_service.get(session, message_id)
    directory = app_state(request).settings.mail_path
    if found is None or found.eml_file is None:
        return message(request, person, "mail_title", "mail_no_file", 404, link=back)
    path = directory / found.eml_file
    if path.parent != directory or not path.is_file():
        return message(request, person, "mail_title", "mail_no_file", 404, link=back)
    return PlainTextResponse(readable(path.read_bytes()))


def readable(eml: bytes) -> str:
    """An ``.eml`` file as a person reads it: its headers as written, then its text
    decoded (the file itself carries it quoted-printable, as SMTP does)."""
    parsed = message_from_bytes(eml, policy=policy.default)
    if not isinstance(parsed, EmailMessage) or parsed.is_multipart():
        return eml.decode("utf-8", errors="replace")
    headers = "".join(f"{name}: {value}\n" for name, value in parsed.items())
    return f"{headers}\n{parsed.get_content()}"


# --- a person's settings -----------------------------------------------------------------


@router.get("/portal/mail-settings")
async def mail_settings(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[Principal, Depends(person_of(SETTINGS_FOR))],
) -> Response:
    saved = bool(request.query_params.get("saved"))
    return await _settings_page(request, session, person, saved=saved)


def _owner(person: Principal) -> dict[str, int | None]:
    """Whose preferences the page sets: ESP staff set their organisation's (the ESP's mails
    go to its contact address), everyone else their own."""
    if person.role is Role.esp and person.organisation_id is not None:
        return {"organisation_id": person.organisation_id}
    assert person.user_id is not None
    return {"account_id": person.user_id}


async def _settings_page(
    request: Request,
    session: WriteSession,
    person: Principal,
    *,
    saved: bool = False,
    error: str | None = None,
) -> Response:
    owner = _owner(person)
    preference = await mail_service.preferences_of(session, **owner)
    address = await mail_service.address_of(session, **owner)
    return page(
        request,
        person,
        "mail_settings.html",
        400 if error else 200,
        address=address,
        for_organisation="organisation_id" in owner,
        language=preference.language or language_of(request),
        reminders=preference.informational,
        mail_languages=MAIL_LANGUAGES,
        saved=saved,
        error=error,
    )


@router.post("/portal/mail-settings")
async def save_mail_settings(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[
        Principal, Depends(form_person_of(SETTINGS_FOR, back_to="/portal/mail-settings"))
    ],
) -> Response:
    back = "/portal/mail-settings"
    form = await checked_form(request, person, back_to=back)
    try:
        language = Language(str(form.get("language", "")))
    except ValueError:
        return await _settings_page(request, session, person, error="mail_bad_language")
    owner = _owner(person)
    await mail_service.set_preferences(
        session,
        **owner,
        language=language,
        # The ESP's mails are all ones it must read: no reminders to switch off.
        informational=None if "organisation_id" in owner else form.get("reminders") == "yes",
    )
    return RedirectResponse(f"{back}?saved=1", status_code=303)


# --- the unsubscribe link ----------------------------------------------------------------


@router.get(mail_service.UNSUBSCRIBE_PATH + "{token}")
async def unsubscribe_page(request: Request, session: ReadSessionDep, token: str) -> Response:
    known = await mail_service.token_is_known(session, token)
    if not known:
        return _unknown(request)
    return render(request, "mail_unsubscribe.html", action=request.url.path, done=False)


@router.post(mail_service.UNSUBSCRIBE_PATH + "{token}")
async def unsubscribe(request: Request, session: WriteSessionDep, token: str) -> Response:
    found = await mail_service.unsubscribe(session, token)
    if found is None:
        return _unknown(request)
    return render(request, "mail_unsubscribe.html", action=request.url.path, done=True)


def _unknown(request: Request) -> Response:
    t = texts(language_of(request))
    heading, text = t["unsubscribe_title"], t["unsubscribe_unknown"]
    return render(request, "message.html", 404, heading=heading, message=text)
