"""The portal's words: Dutch first, English available (a language switch link)."""

from __future__ import annotations

from starlette.requests import Request

LANGUAGES = ("nl", "en")
LANGUAGE_COOKIE = "datahub_lang"

TEXTS: dict[str, dict[str, str]] = {
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


def texts(language: str) -> dict[str, str]:
    return TEXTS[language]


def _merge_page_texts() -> None:
    """The words of the pages of other modules, one dict per module."""
    from datahub_api.portal.esp_texts import ESP_TEXTS
    from datahub_api.portal.i18n_organisations import ORGANISATION_TEXTS
    from datahub_api.portal.i18n_paper import PAPER_TEXTS
    from datahub_api.portal.i18n_people import PEOPLE_TEXTS

    for module_texts in (PEOPLE_TEXTS, ESP_TEXTS, PAPER_TEXTS, ORGANISATION_TEXTS):
        for language, words in module_texts.items():
            TEXTS[language].update(words)


_merge_page_texts()
