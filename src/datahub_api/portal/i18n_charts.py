"""The words of the portal's charts (the operator's SLA charts, the tooltip hint); merged
into the portal's texts."""

from __future__ import annotations

CHART_TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "sla_nps_historical": "Kanaal NPS (gevalideerde gegevens)",
        "sla_annual_history": "Jaarlijkse historiek",
        "sla_x_days": "Dag van {month}",
        "sla_x_months": "Maand ({first} tot {last})",
        "sla_y_share": "Op tijd binnen {days} dagen (%)",
        "sla_target_line": "doel {share}",
        "sla_tip_share": "{share} op tijd",
        "sla_tip_none": "geen gegevens verwacht",
        "sla_trend_alt": "Aandeel op tijd per maand, {channel}, de 12 maanden tot {month}",
        "sla_month_caption": "Per dag",
        "sla_trend_caption": "De laatste 12 maanden",
        "sla_legend_met": "doel gehaald",
        "sla_legend_missed": "doel niet gehaald",
        "sla_legend_target": "doellijn",
        "chart_hint": (
            "Wijs een staaf aan, tik erop of gebruik Tab en de pijltjestoetsen om de waarden "
            "te zien."
        ),
    },
    "en": {
        "sla_nps_historical": "NPS channel (validated data)",
        "sla_annual_history": "Yearly history",
        "sla_x_days": "Day of {month}",
        "sla_x_months": "Month ({first} to {last})",
        "sla_y_share": "On time within {days} days (%)",
        "sla_target_line": "target {share}",
        "sla_tip_share": "{share} on time",
        "sla_tip_none": "no data expected",
        "sla_trend_alt": "Share on time per month, {channel}, the 12 months up to {month}",
        "sla_month_caption": "Per day",
        "sla_trend_caption": "The last 12 months",
        "sla_legend_met": "target met",
        "sla_legend_missed": "target missed",
        "sla_legend_target": "target line",
        "chart_hint": "Point at a bar, tap it, or use Tab and the arrow keys to see its values.",
    },
}
