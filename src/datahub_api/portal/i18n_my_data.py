# ruff: noqa: E501  (one sentence per line reads better than split strings)
"""The words of the customer's "my data" pages (Dutch first, English)."""

from __future__ import annotations

MY_DATA_TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "nav_my_data": "Mijn meetgegevens",
        "nav_my_data_hint": "Uw verbruik en injectie per kwartier, uur, dag of maand; downloaden als CSV of JSON.",
        "my_data_title": "Mijn meetgegevens",
        "my_data_intro": "De toegangspunten waarvan u klant bent of was. U ziet alleen de dagen waarop u er klant was: gegevens van een vorige of volgende bewoner tonen we niet.",
        "my_data_none": "U bent van geen enkel toegangspunt klant.",
        "my_data_col_ean": "Toegangspunt (EAN)",
        "my_data_col_kind": "Soort",
        "my_data_col_tenure": "Uw periode als klant",
        "my_data_col_last": "Laatste dag met gegevens",
        "my_data_open": "Bekijken",
        "my_data_since": "sinds {start}",
        "my_data_span": "{start} tot {end}",
        "my_data_chart_title": "Mijn meetgegevens van",
        "my_data_own_days": "Alleen uw eigen dagen als klant: dagen voor u er kwam of nadat u vertrok, tonen als 'geen gegevens'.",
        "my_data_download_json": "Download JSON",
        "my_data_json_note": "Dezelfde selectie als JSON (machineleesbaar).",
        "my_data_not_yours": "Dit toegangspunt bestaat niet of u bent er geen klant van.",
    },
    "en": {
        "nav_my_data": "My metering data",
        "nav_my_data_hint": "Your offtake and injection per quarter-hour, hour, day or month; download as CSV or JSON.",
        "my_data_title": "My metering data",
        "my_data_intro": "The access points you are or were the customer of. You see only the days you were the customer there: we never show a previous or next occupant's data.",
        "my_data_none": "You are not the customer of any access point.",
        "my_data_col_ean": "Access point (EAN)",
        "my_data_col_kind": "Kind",
        "my_data_col_tenure": "Your period as customer",
        "my_data_col_last": "Last day with data",
        "my_data_open": "View",
        "my_data_since": "since {start}",
        "my_data_span": "{start} to {end}",
        "my_data_chart_title": "My metering data of",
        "my_data_own_days": "Only your own days as customer: days before you moved in or after you left show as 'no data'.",
        "my_data_download_json": "Download JSON",
        "my_data_json_note": "The same selection as JSON (machine-readable).",
        "my_data_not_yours": "This access point does not exist or you are not its customer.",
    },
}
