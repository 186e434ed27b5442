"""The portal's words: Dutch first, English available (a language switch link).

A word that is not there fails loudly rather than rendering as nothing: templates read
``t.key`` and ``t[key]`` from a :class:`Words` table, whose missing key raises
:class:`MissingText` when :data:`STRICT` is on (the test suite turns it on, so a typo fails
the test that renders it) and otherwise logs an error and shows the key itself in brackets,
so a production page stays usable and the gap is visible and findable.
"""

from __future__ import annotations

import logging
import string

from starlette.requests import Request

from datahub_api.portal.esp_texts import ESP_TEXTS
from datahub_api.portal.i18n_capacity import CAPACITY_TEXTS
from datahub_api.portal.i18n_charts import CHART_TEXTS
from datahub_api.portal.i18n_mail import MAIL_TEXTS
from datahub_api.portal.i18n_my_data import MY_DATA_TEXTS
from datahub_api.portal.i18n_organisations import ORGANISATION_TEXTS
from datahub_api.portal.i18n_paper import PAPER_TEXTS
from datahub_api.portal.i18n_people import PEOPLE_TEXTS

log = logging.getLogger(__name__)

# Missing words raise (tests) instead of being logged and shown as ``[key]`` (production).
STRICT = False


class MissingText(Exception):
    """A text key the page asked for is in no text table (never a LookupError, which
    Jinja would turn into an empty string)."""


class Words(dict[str, str]):
    """One language's words; a missing key raises or shows itself, never nothing."""

    def __init__(self, language: str, words: dict[str, str]) -> None:
        super().__init__(words)
        self.language = language

    def __missing__(self, key: str) -> str:
        if STRICT:
            raise MissingText(f"no {self.language!r} text for key {key!r}")
        log.error("portal text missing", extra={"language": self.language, "key": key})
        return f"[{key}]"


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a text (what ``.format`` fills in)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


LANGUAGES = ("nl", "en")
LANGUAGE_COOKIE = "datahub_lang"

BASE_TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Datahub: toegang tot meetgegevens",
        "login": "Aanmelden",
        "logout": "Afmelden",
        "username": "Gebruikersnaam",
        "password": "Wachtwoord",
        "wrong_credentials": "Verkeerde gebruikersnaam of wachtwoord.",
        "too_many": "Te veel mislukte pogingen. Probeer het later opnieuw.",
        "session_expired": "Uw sessie is verlopen. Meld u opnieuw aan.",
        "csrf": "Het formulier is verlopen. Probeer het opnieuw.",
        "consent_title": "Toestemming voor uw meetgegevens",
        "asks": "vraagt toestemming om uw meetgegevens te ontvangen.",
        "reference": "Referentie",
        "channel": "Kanaal",
        "channel_api": "via API (geautomatiseerd)",
        "channel_portal": "via deze website",
        "data_service": "Gegevens",
        "period": "Periode",
        "valid_to": "Deze vraag is geldig tot",
        "pick": "Kies maximaal {n} van uw toegangspunten met een digitale meter:",
        "not_grid_user": "u bent niet de netgebruiker: de netgebruiker moet ook toestemming geven",
        "none_eligible": (
            "U hebt geen toegangspunt met een digitale meter waarvoor u toestemming kunt geven."
        ),
        "approve": "Toestemming geven",
        "reject": "Weigeren",
        "answered": "Deze vraag is al beantwoord.",
        "expired": "Deze vraag is verlopen. Vraag de dienstverlener om een nieuwe link.",
        "unknown": "Deze link bestaat niet.",
        "done_approved": "Bedankt. U gaf toestemming.",
        "done_rejected": "U weigerde de toestemming.",
        "waiting_grid_user": "wacht op de toestemming van de netgebruiker",
        "back_to_esp": "Terug naar de dienstverlener",
        "not_customer": "Deze pagina is voor klanten. Meld u aan met uw klantenaccount.",
        "VH_kwartier_uur": "kwartier- en uurwaarden",
        "VH_dag": "dagwaarden",
        "VH_onbepaald": "historiek (granulariteit onbepaald)",
        "IG": "installatiegegevens",
        "language": "English",
    },
    "en": {
        "title": "Datahub: access to metering data",
        "login": "Log in",
        "logout": "Log out",
        "username": "Username",
        "password": "Password",
        "wrong_credentials": "Wrong username or password.",
        "too_many": "Too many failed attempts. Try again later.",
        "session_expired": "Your session has ended. Please log in again.",
        "csrf": "The form has expired. Please try again.",
        "consent_title": "Consent for your metering data",
        "asks": "asks for your consent to receive your metering data.",
        "reference": "Reference",
        "channel": "Channel",
        "channel_api": "via API (automated)",
        "channel_portal": "via this website",
        "data_service": "Data",
        "period": "Period",
        "valid_to": "This request is valid until",
        "pick": "Pick up to {n} of your access points with a digital meter:",
        "not_grid_user": "you are not the grid user: the grid user must consent too",
        "none_eligible": "You have no access point with a digital meter you can consent for.",
        "approve": "Give consent",
        "reject": "Refuse",
        "answered": "This request was already answered.",
        "expired": "This request has expired. Ask the service provider for a new link.",
        "unknown": "This link does not exist.",
        "done_approved": "Thank you. You gave your consent.",
        "done_rejected": "You refused your consent.",
        "waiting_grid_user": "waiting for the grid user's consent",
        "back_to_esp": "Back to the service provider",
        "not_customer": "This page is for customers. Log in with your customer account.",
        "VH_kwartier_uur": "quarter-hour and hourly values",
        "VH_dag": "daily values",
        "VH_onbepaald": "history (granularity undetermined)",
        "IG": "installation data",
        "language": "Nederlands",
    },
}


def language_of(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE) or "nl"
    return wanted if wanted in LANGUAGES else "nl"


def texts(language: str) -> Words:
    return WORDS[language]


def text_tables() -> dict[str, dict[str, dict[str, str]]]:
    """Every table of words by module: the base one here and one per group of pages.
    A test holds them to the same keys and placeholders in every language."""
    return {
        "i18n": BASE_TEXTS,
        "i18n_people": PEOPLE_TEXTS,
        "esp_texts": ESP_TEXTS,
        "i18n_paper": PAPER_TEXTS,
        "i18n_charts": CHART_TEXTS,
        "i18n_organisations": ORGANISATION_TEXTS,
        "i18n_mail": MAIL_TEXTS,
        "i18n_my_data": MY_DATA_TEXTS,
        "i18n_capacity": CAPACITY_TEXTS,
    }


def _merged() -> dict[str, Words]:
    merged: dict[str, dict[str, str]] = {language: {} for language in LANGUAGES}
    for table in text_tables().values():
        for language, words in table.items():
            merged[language].update(words)
    return {language: Words(language, words) for language, words in merged.items()}


WORDS = _merged()
