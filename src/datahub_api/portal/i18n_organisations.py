"""The words of the operator's organisations page (Dutch first, English)."""

from __future__ import annotations

ORGANISATION_TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "nav_organisations": "Organisaties",
        "nav_organisations_hint": "Dienstverleners schorsen of de schorsing opheffen.",
        "organisations_title": "Organisaties",
        "organisations_intro": (
            "Een geschorste organisatie (haar API-clients en medewerkers) kan niets bekijken of "
            "wijzigen, op geen enkel kanaal, tot de schorsing wordt opgeheven. Mandaten, "
            "contracten en clients blijven bewaard."
        ),
        "org_status_pending": "wacht op goedkeuring",
        "org_status_active": "actief",
        "org_status_suspended": "geschorst",
        "org_status_closed": "afgesloten",
        "org_last_change": "Laatste beslissing",
        "org_suspend": "Schorsen",
        "org_suspend_reason": "Reden van de schorsing",
        "org_resume": "Schorsing opheffen",
        "org_resume_reason": "Opmerking (niet verplicht)",
        "org_suspended_done": "Organisatie {number} is geschorst.",
        "org_resumed_done": "De schorsing van organisatie {number} is opgeheven.",
        "org_reason_needed": "Geef een reden om een organisatie te schorsen.",
        "org_not_found": "Die organisatie bestaat niet.",
        "org_conflict": "Dat kan niet in de huidige status van de organisatie.",
        "org_bad_action": "Onbekende actie.",
    },
    "en": {
        "nav_organisations": "Organisations",
        "nav_organisations_hint": "Suspend service providers or lift their suspension.",
        "organisations_title": "Organisations",
        "organisations_intro": (
            "A suspended organisation (its API clients and staff) can neither see nor change "
            "anything, on any channel, until the suspension is lifted. Mandates, contracts and "
            "clients are kept."
        ),
        "org_status_pending": "waiting for approval",
        "org_status_active": "active",
        "org_status_suspended": "suspended",
        "org_status_closed": "closed",
        "org_last_change": "Last decision",
        "org_suspend": "Suspend",
        "org_suspend_reason": "Reason for the suspension",
        "org_resume": "Lift the suspension",
        "org_resume_reason": "Note (optional)",
        "org_suspended_done": "Organisation {number} is suspended.",
        "org_resumed_done": "The suspension of organisation {number} is lifted.",
        "org_reason_needed": "Give a reason to suspend an organisation.",
        "org_not_found": "That organisation does not exist.",
        "org_conflict": "Not possible in the organisation's current status.",
        "org_bad_action": "Unknown action.",
    },
}
