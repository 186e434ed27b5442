"""The words of the mail pages: the operator's list of sent mails, a person's mail
settings, and the unsubscribe page a mail links to (Dutch first, English)."""

from __future__ import annotations

MAIL_TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "nav_mail": "Mails",
        "nav_mail_hint": "Welke mails de datahub stuurde, of nog probeert te sturen.",
        "mail_title": "Mails",
        "mail_intro_smtp": "Mails gaan via de SMTP-server {server}.",
        "mail_intro_files": (
            "Er is geen SMTP-server ingesteld (DATAHUB_SMTP_URL): elke mail is als .eml-bestand "
            "geschreven in {directory}. Open er een hieronder."
        ),
        "mail_counts": (
            "Wachtend: {pending} · verstuurd: {sent} · mislukt: {failed} · "
            "niet verstuurd: {skipped}"
        ),
        "mail_none": "Nog geen mails.",
        "col_mail_created": "Aangemaakt",
        "col_mail_kind": "Soort",
        "col_mail_to": "Aan",
        "col_mail_subject": "Onderwerp",
        "col_mail_status": "Status",
        "mail_status_pending": "wacht",
        "mail_status_sent": "verstuurd",
        "mail_status_failed": "mislukt",
        "mail_status_skipped": "niet verstuurd",
        "mail_attempts": "{attempts} poging(en)",
        "mail_next_attempt": "volgende poging {at}",
        "mail_open_eml": "Open .eml",
        "mail_no_file": "Die mail is niet als bestand geschreven.",
        "nav_mail_settings": "Mails",
        "nav_mail_settings_hint": "In welke taal u mails krijgt, en of u herinneringen wilt.",
        "mail_settings_title": "Uw mails",
        "mail_settings_intro": (
            "De datahub mailt u wat u moet doen of moet weten: een gevraagde toestemming, een "
            "papieren mandaat op uw toegangspunt. Die mails kunt u niet uitschakelen. "
            "Herinneringen (een mandaat dat afloopt) wel."
        ),
        "mail_settings_intro_esp": (
            "De datahub mailt uw organisatie op haar contactadres: een beslissing over een "
            "contract, een audit die een ondertekend mandaat vraagt, een historiek-export die "
            "klaar is. Kies hier de taal van die mails."
        ),
        "mail_address": "Mailadres: {address}",
        "mail_no_address": "Er staat geen mailadres op uw account: u krijgt geen mails.",
        "mail_language": "Taal van uw mails",
        "mail_reminders": "Stuur mij herinneringen (een mandaat dat binnenkort afloopt)",
        "mail_save": "Bewaren",
        "mail_saved": "Uw keuze is bewaard.",
        "mail_bad_language": "Kies een taal uit de lijst.",
        "unsubscribe_title": "Afmelden voor herinneringen",
        "unsubscribe_intro": (
            "U krijgt dan geen herinneringen meer dat een mandaat afloopt. Mails over wat u "
            "moet doen (een gevraagde toestemming, een papieren mandaat) blijven komen."
        ),
        "unsubscribe_button": "Afmelden",
        "unsubscribe_done": "U bent afgemeld: u krijgt geen herinneringen meer.",
        "unsubscribe_unknown": "Deze afmeldlink is niet (meer) geldig.",
    },
    "en": {
        "nav_mail": "Mails",
        "nav_mail_hint": "Which mails the datahub sent, or is still trying to send.",
        "mail_title": "Mails",
        "mail_intro_smtp": "Mails go through the SMTP server {server}.",
        "mail_intro_files": (
            "No SMTP server is set (DATAHUB_SMTP_URL): each mail was written as an .eml file in "
            "{directory}. Open one below."
        ),
        "mail_counts": (
            "Waiting: {pending} · sent: {sent} · failed: {failed} · not sent: {skipped}"
        ),
        "mail_none": "No mails yet.",
        "col_mail_created": "Created",
        "col_mail_kind": "Kind",
        "col_mail_to": "To",
        "col_mail_subject": "Subject",
        "col_mail_status": "Status",
        "mail_status_pending": "waiting",
        "mail_status_sent": "sent",
        "mail_status_failed": "failed",
        "mail_status_skipped": "not sent",
        "mail_attempts": "{attempts} attempt(s)",
        "mail_next_attempt": "next attempt {at}",
        "mail_open_eml": "Open .eml",
        "mail_no_file": "That mail was not written as a file.",
        "nav_mail_settings": "Mails",
        "nav_mail_settings_hint": "The language of your mails, and whether you want reminders.",
        "mail_settings_title": "Your mails",
        "mail_settings_intro": (
            "The datahub mails you what you must do or know: a consent asked of you, a paper "
            "mandate on your access point. You cannot switch those off. Reminders (a mandate "
            "that expires) you can."
        ),
        "mail_settings_intro_esp": (
            "The datahub mails your organisation at its contact address: a decision on a "
            "contract, an audit asking for a signed mandate, a history export that is ready. "
            "Choose the language of those mails here."
        ),
        "mail_address": "Mail address: {address}",
        "mail_no_address": "Your account has no mail address: you receive no mails.",
        "mail_language": "Language of your mails",
        "mail_reminders": "Send me reminders (a mandate that expires soon)",
        "mail_save": "Save",
        "mail_saved": "Your choice is saved.",
        "mail_bad_language": "Choose a language from the list.",
        "unsubscribe_title": "Unsubscribe from reminders",
        "unsubscribe_intro": (
            "You will no longer get reminders that a mandate expires. Mails about what you must "
            "do (a consent asked of you, a paper mandate) keep coming."
        ),
        "unsubscribe_button": "Unsubscribe",
        "unsubscribe_done": "You are unsubscribed: you get no more reminders.",
        "unsubscribe_unknown": "This unsubscribe link is not valid (any more).",
    },
}
