"""The words of the monthly capacity peaks on the portal's access-point pages; merged into
the portal's texts."""

from __future__ import annotations

CAPACITY_TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "peaks_title": "Maandpieken (capaciteitstarief)",
        "peaks_intro": (
            "Per maand de hoogste kwartierpiek van de afname: het verbruik van een kwartier "
            "in kWh x 4, in kW. Gefactureerd wordt minstens {minimum} kW per maand; het "
            "gemiddelde van de laatste 12 maanden is de basis van het capaciteitstarief."
        ),
        "peaks_chart_alt": "Maandpieken van {ean}, de maanden {first} tot {last}",
        "peaks_x_months": "Maand ({first} tot {last})",
        "peaks_y_kw": "Kwartierpiek (kW)",
        "peaks_minimum_line": "minimum {kw} kW",
        "peaks_average_line": "gemiddelde 12 maanden {kw} kW",
        "peaks_tip_peak": "piek {kw} kW op {at}",
        "peaks_tip_billed": "gefactureerd {kw} kW",
        "peaks_tip_none": "geen kwartierwaarden: geen piek",
        "peaks_tip_quarter_hours": "{n} van {expected} kwartieren",
        "peaks_state_READ": "gemeten, nog niet gevalideerd",
        "peaks_state_EST": "geschat",
        "peaks_state_VAL": "gevalideerd",
        "peaks_state_NVAL": "validatie mislukt",
        "peaks_col_month": "Maand",
        "peaks_col_peak": "Piek (kW)",
        "peaks_col_at": "Tijdstip",
        "peaks_col_state": "Status",
        "peaks_col_billed": "Gefactureerd (kW)",
        "peaks_col_average": "Gemiddelde 12 maanden (kW)",
        "peaks_col_quarter_hours": "Kwartieren",
        "peaks_average": (
            "Gemiddelde van de gefactureerde pieken van de 12 maanden tot {month}: {kw} kW"
        ),
        "peaks_no_average": "Geen maand met een piek in de 12 maanden tot {month}.",
        "peaks_legend_peak": "maandpiek",
        "peaks_legend_lines": "minimum en gemiddelde",
        "peaks_download_csv": "Maandpieken downloaden (CSV)",
        "peaks_not_allowed": "Maandpieken vragen een mandaat voor kwartierwaarden.",
        "peaks_outside": "Geen van deze maanden ligt in de periode van uw mandaat.",
        "peaks_values_table": "Maandpieken als tabel",
    },
    "en": {
        "peaks_title": "Monthly peaks (capacity tariff)",
        "peaks_intro": (
            "Per month the highest quarter-hour peak of offtake: a quarter-hour's energy in "
            "kWh x 4, in kW. At least {minimum} kW a month is billed; the average of the last "
            "12 months is what the capacity tariff bills."
        ),
        "peaks_chart_alt": "Monthly peaks of {ean}, the months {first} to {last}",
        "peaks_x_months": "Month ({first} to {last})",
        "peaks_y_kw": "Quarter-hour peak (kW)",
        "peaks_minimum_line": "minimum {kw} kW",
        "peaks_average_line": "12-month average {kw} kW",
        "peaks_tip_peak": "peak {kw} kW at {at}",
        "peaks_tip_billed": "billed {kw} kW",
        "peaks_tip_none": "no quarter-hour values: no peak",
        "peaks_tip_quarter_hours": "{n} of {expected} quarter-hours",
        "peaks_state_READ": "read, not yet validated",
        "peaks_state_EST": "estimated",
        "peaks_state_VAL": "validated",
        "peaks_state_NVAL": "validation failed",
        "peaks_col_month": "Month",
        "peaks_col_peak": "Peak (kW)",
        "peaks_col_at": "When",
        "peaks_col_state": "State",
        "peaks_col_billed": "Billed (kW)",
        "peaks_col_average": "12-month average (kW)",
        "peaks_col_quarter_hours": "Quarter-hours",
        "peaks_average": "Average of the billed peaks of the 12 months up to {month}: {kw} kW",
        "peaks_no_average": "No month with a peak in the 12 months up to {month}.",
        "peaks_legend_peak": "monthly peak",
        "peaks_legend_lines": "minimum and average",
        "peaks_download_csv": "Download the monthly peaks (CSV)",
        "peaks_not_allowed": "Monthly peaks need a mandate for quarter-hour values.",
        "peaks_outside": "None of these months lies in your mandate's period.",
        "peaks_values_table": "Monthly peaks as a table",
    },
}
