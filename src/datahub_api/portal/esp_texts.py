"""The words of the ESP pages (Dutch first, English); merged into the portal's texts."""

from __future__ import annotations

ESP_TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "esp_menu": "Menu van de dienstverlener",
        "esp_register_link": "Energiedienstverlener zonder account? Registreer uw organisatie.",
        "esp_nav_access_points": "Toegangspunten",
        "esp_nav_contracts": "Contracten",
        "esp_nav_clients": "API-clients",
        "esp_nav_webhooks": "Webhooks",
        "esp_nav_nps_audits": "NPS-audits",
        "esp_nav_history_exports": "Historiek-exports",
        "esp_nav_access_points_hint": (
            "Uw mandaten per toegangspunt; per toegangspunt een grafiek en een CSV-rapport."
        ),
        "esp_nav_contracts_hint": "Uw contracten; een contract aanvragen en de kanalen kiezen.",
        "esp_nav_clients_hint": "API-clients aanmaken, een nieuw geheim geven of intrekken.",
        "esp_nav_webhooks_hint": "Uw webhooks en hun afleverlog.",
        "esp_nav_nps_audits_hint": "Controles van uw ondertekende NPS-mandaten.",
        "esp_nav_history_exports_hint": "Uw jaarlijkse historiek-exports: status en download.",
        "esp_channel_api": "via API",
        "esp_channel_portal": "deze website",
        "esp_org_pending": (
            "Uw organisatie wacht op goedkeuring door de netbeheerder. Daarna kunt u een "
            "contract aanvragen."
        ),
        "esp_suspended_title": "Geen toegang",
        "esp_org_suspended": (
            "De netbeheerder heeft uw organisatie geschorst. Tot de schorsing wordt opgeheven, "
            "kunt u hier niets bekijken of wijzigen."
        ),
        "esp_org_closed": "Uw organisatie is afgesloten: u kunt hier niets bekijken of wijzigen.",
        "esp_no_contract_title": "Geen contract",
        "esp_no_contract": (
            "Geen goedgekeurd contract van uw organisatie dekt deze pagina vandaag "
            "(bijvoorbeeld omdat het contract beëindigd of opgeschort is)."
        ),
        "esp_only_title": "Alleen voor dienstverleners",
        "esp_only": "Deze pagina is voor medewerkers van een energiedienstverlener.",
        "esp_not_found_title": "Niet gevonden",
        "esp_not_found": "Deze pagina bestaat niet, of u hebt er geen toegang toe.",
        "esp_csrf_title": "Formulier verlopen",
        "esp_access_points_title": "Mandaten en toegangspunten",
        "esp_access_points_intro": (
            "De toegangspunten waarvoor klanten u toestemming gaven. Kies 'Gegevens bekijken' "
            "voor een grafiek en een CSV-rapport."
        ),
        "esp_status": "Status",
        "esp_last_data": "Laatste gegevens",
        "esp_data_up_to": "tot en met",
        "esp_received": "ontvangen",
        "esp_no_data_yet": "nog geen gegevens",
        "esp_view_data": "Gegevens bekijken",
        "esp_rotate_key": "Nieuwe subscription key",
        "esp_key_rotated": (
            "Contract {number} heeft een nieuwe subscription key; de vorige werkt niet meer."
        ),
        "esp_narrowed": (
            "Uw mandaat dekt een deel van deze periode: getoond van {start} tot {end} "
            "(ook in de CSV)."
        ),
        "esp_via_nps_files": "gegevens via de NPS-dagbestanden",
        "esp_no_mandates": "U hebt nog geen mandaten.",
        "esp_list_limited": "Alleen de eerste {n} mandaten worden getoond.",
        "esp_data_delay": (
            "Meetgegevens verschijnen hier tussen één en drie dagen na de dag zelf (D+1 tot D+3)."
        ),
        "esp_mandate_requested": "aangevraagd",
        "esp_mandate_approved": "goedgekeurd",
        "esp_mandate_rejected": "geweigerd",
        "esp_mandate_finished": "beëindigd",
        "esp_channel_nps": "NPS",
        "esp_channel_annual_history": "jaarlijkse historiek",
        "esp_contracts_title": "Contracten en aanvragen",
        "esp_contract_number": "Contractnummer",
        "esp_channels": "Kanalen",
        "esp_valid": "Geldig",
        "esp_open_ended": "onbepaalde duur",
        "esp_contract_channel_portal": "deze website",
        "esp_contract_channel_api": "via API",
        "esp_contract_channel_nps": "NPS (Netuser Paid Services)",
        "esp_contract_channel_annual_history": "jaarlijkse historiek",
        "esp_contract_requested": "aangevraagd",
        "esp_contract_approved": "goedgekeurd",
        "esp_contract_rejected": "geweigerd",
        "esp_contract_withdrawn": "ingetrokken",
        "esp_contract_suspended": "opgeschort",
        "esp_contract_terminated": "beëindigd",
        "esp_withdraw": "Aanvraag intrekken",
        "esp_subscription_key": "Subscription key",
        "esp_no_contracts": "U hebt nog geen contract.",
        "esp_apply_title": "Een contract aanvragen",
        "esp_choose_channels": "Kies de kanalen",
        "esp_valid_from": "Geldig vanaf (optioneel)",
        "esp_valid_from_note": "Leeg: vanaf de dag van goedkeuring.",
        "esp_apply": "Aanvragen",
        "esp_applied": "Uw aanvraag {number} is ingediend; de netbeheerder beslist erover.",
        "esp_apply_invalid": "Kies minstens één kanaal (en een geldige datum).",
        "esp_clients_title": "API-clients en sleutels",
        "esp_client_name": "Naam",
        "esp_created": "Aangemaakt",
        "esp_secrets": "Geheimen",
        "esp_active": "actief",
        "esp_revoked": "ingetrokken",
        "esp_disabled": "uitgeschakeld",
        "esp_rotate": "Nieuw geheim",
        "esp_revoke": "Intrekken",
        "esp_no_clients": "U hebt nog geen API-client.",
        "esp_new_client": "Nieuwe API-client",
        "esp_create_client": "Aanmaken",
        "esp_client_name_needed": "Geef de client een naam.",
        "esp_secret_once": (
            "Bewaar dit geheim nu: het wordt maar één keer getoond. Wij bewaren alleen een "
            "vingerafdruk."
        ),
        "esp_old_secret_until": "Het vorige geheim blijft geldig tot",
        "esp_clients_note": (
            "Een client vraagt een token met client_id en client_secret (OAuth2 client "
            "credentials). Wat hij mag, volgt uit uw goedgekeurde contracten."
        ),
        "esp_webhooks_title": "Webhooks",
        "esp_events": "Gebeurtenissen",
        "esp_delivery_log": "Afleverlog",
        "esp_no_webhooks": "U hebt geen webhooks.",
        "esp_webhooks_note": "Webhooks beheert u via de API (/api/v1/webhooks).",
        "esp_back": "terug",
        "esp_event": "Gebeurtenis",
        "esp_attempts": "Pogingen",
        "esp_no_deliveries": "Nog geen afleveringen.",
        "esp_nps_audits_title": "NPS-audits",
        "esp_audit": "Audit",
        "esp_opened": "Geopend",
        "esp_due": "Uiterlijk",
        "esp_decision": "Beslissing",
        "esp_sampled": "steekproef",
        "esp_no_audits": "Er zijn geen audits van uw organisatie.",
        "esp_nps_note": "Bewijsstukken laadt u op via de API (/api/v1/nps/audits).",
        "esp_history_exports_title": "Historiek-exports",
        "esp_export_request": "Aanvraag",
        "esp_export_period": "Jaar of periode",
        "esp_export_format": "Formaat",
        "esp_export_eans": "EAN's",
        "esp_export_requested": "Aangevraagd",
        "esp_export_started": "Gestart",
        "esp_export_finished": "Klaar",
        "esp_export_file": "Bestand",
        "esp_export_checksum": "SHA-256",
        "esp_export_kept_until": "bewaard tot",
        "esp_export_download": "Download",
        "esp_export_queued": "in de wachtrij",
        "esp_export_running": "bezig",
        "esp_export_ready": "klaar",
        "esp_export_failed": "mislukt",
        "esp_export_expired": "verlopen",
        "esp_export_withdrawn": "ingetrokken (een mandaat is beëindigd)",
        "esp_no_exports": "Uw organisatie heeft nog geen historiek-exports aangevraagd.",
        "esp_exports_limit": "De {n} recentste aanvragen, de nieuwste eerst.",
        "esp_exports_note": (
            "Een historiek-export vraagt u aan via de API (POST /api/v1/history-exports), "
            "één keer per kalenderjaar en gratis, met een goedgekeurd contract voor de "
            "jaarlijkse historiek. De download volgt het bestand met zijn SHA-256."
        ),
        "esp_chart_title": "Meetgegevens van",
        "esp_energy_E": "elektriciteit",
        "esp_energy_G": "gas",
        "esp_meter_DM": "digitale meter",
        "esp_meter_KM": "klassieke meter",
        "esp_span": "Periode",
        "esp_span_day": "Dag",
        "esp_span_week": "Week",
        "esp_span_month": "Maand",
        "esp_span_year": "Jaar",
        "esp_date": "Datum",
        "esp_show": "Tonen",
        "esp_previous": "vorige",
        "esp_next": "volgende",
        "esp_step_quarter_hour": "kwartieren",
        "esp_step_hour": "uren",
        "esp_step_day": "dagen",
        "esp_step_month": "maanden",
        "esp_per_quarter_hour": "per kwartier",
        "esp_per_hour": "per uur",
        "esp_per_day": "per dag",
        "esp_per_month": "per maand",
        "esp_offtake": "Afname",
        "esp_injection": "Injectie",
        "esp_offtake_up": "afname boven, injectie onder",
        "esp_gaps_count": "{n} zonder gegevens",
        "esp_estimates_count": "{n} geschat",
        "esp_legend_estimated": "geschat",
        "esp_legend_gap": "geen gegevens",
        "esp_legend_incomplete": "onvolledig",
        "esp_chart_gap": "geen gegevens",
        "esp_chart_estimated": "geschat",
        "esp_chart_incomplete": "onvolledig",
        "esp_time_axis": "Tijd (Brussel)",
        "esp_times_brussels": "Alle tijden in Belgische tijd (Europe/Brussels).",
        "esp_download_csv": "Download CSV",
        "esp_csv_note": "Precies deze selectie, in de opmaak van de Fluvius-export.",
        "esp_values_table": "Waarden als tabel",
        "esp_bad_span": "Kies dag, week, maand of jaar.",
        "esp_bad_date": "Deze datum begrijpen we niet. Gebruik de vorm JJJJ-MM-DD, bv. 2026-03-29.",
        "esp_bad_year": "Kies een datum tussen 2000 en 2100.",
        "esp_outside_mandate": (
            "Deze periode valt (deels) buiten uw mandaat: u mag gegevens zien van {start} "
            "tot {end}."
        ),
        "esp_step_not_allowed": (
            "Uw mandaat laat deze detaillering niet toe (alleen dagwaarden): kies maand of jaar."
        ),
        "esp_register_title": "Uw organisatie registreren",
        "esp_register_intro": (
            "Registreer uw energiedienstverlener. De netbeheerder keurt de organisatie goed; "
            "daarna vraagt u een contract aan."
        ),
        "esp_field_name": "Naam van de organisatie",
        "esp_field_enterprise_number": "Ondernemingsnummer",
        "esp_field_contact_email": "E-mailadres voor contact",
        "esp_field_display_name": "Uw naam",
        "esp_field_username": "Gebruikersnaam",
        "esp_field_password": "Wachtwoord (minstens 12 tekens)",
        "esp_register": "Registreren",
        "esp_have_account": "Al een account? Meld u aan.",
        "esp_register_invalid": "Kijk deze velden na:",
        "esp_registered": (
            "Bedankt. Als de gebruikersnaam en het ondernemingsnummer nog vrij waren, is uw "
            "organisatie nu geregistreerd en wacht ze op goedkeuring door de netbeheerder; u "
            "kunt zich dan al aanmelden met de gekozen gebruikersnaam en het wachtwoord. Lukt "
            "dat niet, dan was een van beide al in gebruik: registreer opnieuw met een andere "
            "gebruikersnaam, of neem contact op met de netbeheerder."
        ),
    },
    "en": {
        "esp_menu": "Service provider menu",
        "esp_register_link": (
            "An energy service provider without an account? Register your organisation."
        ),
        "esp_nav_access_points": "Access points",
        "esp_nav_contracts": "Contracts",
        "esp_nav_clients": "API clients",
        "esp_nav_webhooks": "Webhooks",
        "esp_nav_nps_audits": "NPS audits",
        "esp_nav_history_exports": "History exports",
        "esp_nav_access_points_hint": (
            "Your mandates per access point; per access point a chart and a CSV report."
        ),
        "esp_nav_contracts_hint": "Your contracts; apply for one and choose the channels.",
        "esp_nav_clients_hint": "Create API clients, give them a new secret or revoke them.",
        "esp_nav_webhooks_hint": "Your webhooks and their delivery log.",
        "esp_nav_nps_audits_hint": "Audits of your signed NPS mandates.",
        "esp_nav_history_exports_hint": "Your yearly history exports: status and download.",
        "esp_channel_api": "via API",
        "esp_channel_portal": "this website",
        "esp_org_pending": (
            "Your organisation is waiting for the grid operator's approval. Then you can apply "
            "for a contract."
        ),
        "esp_suspended_title": "No access",
        "esp_org_suspended": (
            "The grid operator has suspended your organisation. Until the suspension is lifted "
            "you can neither see nor change anything here."
        ),
        "esp_org_closed": "Your organisation is closed: you can neither see nor change anything.",
        "esp_no_contract_title": "No contract",
        "esp_no_contract": (
            "No approved contract of your organisation covers this page today (for example "
            "because the contract was terminated or suspended)."
        ),
        "esp_only_title": "For service providers only",
        "esp_only": "This page is for staff of an energy service provider.",
        "esp_not_found_title": "Not found",
        "esp_not_found": "This page does not exist, or you have no access to it.",
        "esp_csrf_title": "Form expired",
        "esp_access_points_title": "Mandates and access points",
        "esp_access_points_intro": (
            "The access points customers gave you consent for. Choose 'View data' for a chart "
            "and a CSV report."
        ),
        "esp_status": "Status",
        "esp_last_data": "Latest data",
        "esp_data_up_to": "up to",
        "esp_received": "received",
        "esp_no_data_yet": "no data yet",
        "esp_view_data": "View data",
        "esp_rotate_key": "New subscription key",
        "esp_key_rotated": (
            "Contract {number} has a new subscription key; the old one stopped working."
        ),
        "esp_narrowed": (
            "Your mandate covers part of this period: shown from {start} until {end} (the CSV too)."
        ),
        "esp_via_nps_files": "data through the NPS daily files",
        "esp_no_mandates": "You have no mandates yet.",
        "esp_list_limited": "Only the first {n} mandates are shown.",
        "esp_data_delay": "Metering data shows here one to three days after the day (D+1 to D+3).",
        "esp_mandate_requested": "requested",
        "esp_mandate_approved": "approved",
        "esp_mandate_rejected": "rejected",
        "esp_mandate_finished": "finished",
        "esp_channel_nps": "NPS",
        "esp_channel_annual_history": "yearly history",
        "esp_contracts_title": "Contracts and applications",
        "esp_contract_number": "Contract number",
        "esp_channels": "Channels",
        "esp_valid": "Valid",
        "esp_open_ended": "open-ended",
        "esp_contract_channel_portal": "this website",
        "esp_contract_channel_api": "via API",
        "esp_contract_channel_nps": "NPS (Netuser Paid Services)",
        "esp_contract_channel_annual_history": "yearly history",
        "esp_contract_requested": "requested",
        "esp_contract_approved": "approved",
        "esp_contract_rejected": "rejected",
        "esp_contract_withdrawn": "withdrawn",
        "esp_contract_suspended": "suspended",
        "esp_contract_terminated": "terminated",
        "esp_withdraw": "Withdraw application",
        "esp_subscription_key": "Subscription key",
        "esp_no_contracts": "You have no contract yet.",
        "esp_apply_title": "Apply for a contract",
        "esp_choose_channels": "Choose the channels",
        "esp_valid_from": "Valid from (optional)",
        "esp_valid_from_note": "Empty: from the day of approval.",
        "esp_apply": "Apply",
        "esp_applied": "Your application {number} was sent; the grid operator decides on it.",
        "esp_apply_invalid": "Choose at least one channel (and a valid date).",
        "esp_clients_title": "API clients and keys",
        "esp_client_name": "Name",
        "esp_created": "Created",
        "esp_secrets": "Secrets",
        "esp_active": "active",
        "esp_revoked": "revoked",
        "esp_disabled": "disabled",
        "esp_rotate": "New secret",
        "esp_revoke": "Revoke",
        "esp_no_clients": "You have no API client yet.",
        "esp_new_client": "New API client",
        "esp_create_client": "Create",
        "esp_client_name_needed": "Give the client a name.",
        "esp_secret_once": (
            "Keep this secret now: it is shown only once. We keep only a fingerprint of it."
        ),
        "esp_old_secret_until": "The previous secret keeps working until",
        "esp_clients_note": (
            "A client asks for a token with its client_id and client_secret (OAuth2 client "
            "credentials). What it may do follows from your approved contracts."
        ),
        "esp_webhooks_title": "Webhooks",
        "esp_events": "Events",
        "esp_delivery_log": "Delivery log",
        "esp_no_webhooks": "You have no webhooks.",
        "esp_webhooks_note": "Manage webhooks through the API (/api/v1/webhooks).",
        "esp_back": "back",
        "esp_event": "Event",
        "esp_attempts": "Attempts",
        "esp_no_deliveries": "No deliveries yet.",
        "esp_nps_audits_title": "NPS audits",
        "esp_audit": "Audit",
        "esp_opened": "Opened",
        "esp_due": "Due",
        "esp_decision": "Decision",
        "esp_sampled": "sample",
        "esp_no_audits": "There are no audits of your organisation.",
        "esp_nps_note": "Upload evidence through the API (/api/v1/nps/audits).",
        "esp_history_exports_title": "History exports",
        "esp_export_request": "Request",
        "esp_export_period": "Year or period",
        "esp_export_format": "Format",
        "esp_export_eans": "EANs",
        "esp_export_requested": "Requested",
        "esp_export_started": "Started",
        "esp_export_finished": "Finished",
        "esp_export_file": "File",
        "esp_export_checksum": "SHA-256",
        "esp_export_kept_until": "kept until",
        "esp_export_download": "Download",
        "esp_export_queued": "queued",
        "esp_export_running": "running",
        "esp_export_ready": "ready",
        "esp_export_failed": "failed",
        "esp_export_expired": "expired",
        "esp_export_withdrawn": "withdrawn (a mandate has ended)",
        "esp_no_exports": "Your organisation has not asked for any history exports yet.",
        "esp_exports_limit": "The {n} most recent requests, newest first.",
        "esp_exports_note": (
            "Ask for a history export through the API (POST /api/v1/history-exports), once "
            "a calendar year and free of charge, with an approved yearly history contract. "
            "Check the download against its SHA-256."
        ),
        "esp_chart_title": "Metering data of",
        "esp_energy_E": "electricity",
        "esp_energy_G": "gas",
        "esp_meter_DM": "digital meter",
        "esp_meter_KM": "classic meter",
        "esp_span": "Period",
        "esp_span_day": "Day",
        "esp_span_week": "Week",
        "esp_span_month": "Month",
        "esp_span_year": "Year",
        "esp_date": "Date",
        "esp_show": "Show",
        "esp_previous": "previous",
        "esp_next": "next",
        "esp_step_quarter_hour": "quarter-hours",
        "esp_step_hour": "hours",
        "esp_step_day": "days",
        "esp_step_month": "months",
        "esp_per_quarter_hour": "per quarter-hour",
        "esp_per_hour": "per hour",
        "esp_per_day": "per day",
        "esp_per_month": "per month",
        "esp_offtake": "Offtake",
        "esp_injection": "Injection",
        "esp_offtake_up": "offtake up, injection down",
        "esp_gaps_count": "{n} without data",
        "esp_estimates_count": "{n} estimated",
        "esp_legend_estimated": "estimated",
        "esp_legend_gap": "no data",
        "esp_legend_incomplete": "incomplete",
        "esp_chart_gap": "no data",
        "esp_chart_estimated": "estimated",
        "esp_chart_incomplete": "incomplete",
        "esp_time_axis": "Time (Brussels)",
        "esp_times_brussels": "All times are Belgian time (Europe/Brussels).",
        "esp_download_csv": "Download CSV",
        "esp_csv_note": "Exactly this selection, in the Fluvius export layout.",
        "esp_values_table": "Values as a table",
        "esp_bad_span": "Choose day, week, month or year.",
        "esp_bad_date": "We do not understand this date. Use YYYY-MM-DD, e.g. 2026-03-29.",
        "esp_bad_year": "Choose a date between 2000 and 2100.",
        "esp_outside_mandate": (
            "This period lies (partly) outside your mandate: you may see data from {start} "
            "until {end}."
        ),
        "esp_step_not_allowed": (
            "Your mandate does not allow this detail (daily values only): choose month or year."
        ),
        "esp_register_title": "Register your organisation",
        "esp_register_intro": (
            "Register your energy service provider. The grid operator approves the "
            "organisation; then you apply for a contract."
        ),
        "esp_field_name": "Organisation name",
        "esp_field_enterprise_number": "Enterprise number",
        "esp_field_contact_email": "Contact e-mail address",
        "esp_field_display_name": "Your name",
        "esp_field_username": "Username",
        "esp_field_password": "Password (at least 12 characters)",
        "esp_register": "Register",
        "esp_have_account": "Already have an account? Log in.",
        "esp_register_invalid": "Please check these fields:",
        "esp_registered": (
            "Thank you. If the username and the enterprise number were free, your organisation "
            "is now registered and waits for the grid operator's approval; you can then log in "
            "already with the username and password you chose. If that fails, one of them was "
            "in use: register again with another username, or contact the grid operator."
        ),
    },
}
