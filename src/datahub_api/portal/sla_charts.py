"""The operator's SLA charts, drawn with the portal's shared SVG module: a month's share on
time per day (one column per calendar day, so the axis only ever shows whole days) and the
12 months up to it, each against the labelled target line, in the page's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from datahub_api.portal.i18n import texts
from datahub_api.portal.svg_chart import (
    MONTH_NAMES,
    MONTHS,
    WEEKDAYS,
    Axis,
    Chart,
    Frame,
    Slot,
    bars,
    percent,
)
from datahub_api.sla.figures import Figures
from datahub_api.sla.service import Report

# The chart file of GET /api/v1/sla/chart: the same macro as the pages, outside a page.
_FILES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)

MISSED_STUB = 3.0  # a day at 0% on time still shows (red), unlike a day with nothing expected
MONTH_FRAME = Frame(width=760, height=340, left=64, bottom=54)
TREND_FRAME = Frame(width=420, height=340, left=64, bottom=54)


def month_name(day: date, language: str) -> str:
    """``december 2026`` / ``December 2026``."""
    return f"{MONTH_NAMES[language][day.month - 1]} {day.year}"


def _kind(share: float, target: float | None) -> str:
    if target is None:
        return "share"
    return "met" if share >= target else "missed"


def _tip(head: str, figures: Figures, words: Mapping[str, str], language: str) -> list[str]:
    share = figures.share_on_time
    if not figures.expected:
        return [head, words["sla_tip_none"]]
    lines = [head]
    if share is not None:
        lines.append(words["sla_tip_share"].format(share=percent(share, language)))
    lines.append(
        f"{words['sla_expected']}: {figures.expected} · {words['sla_on_time']}: "
        f"{figures.on_time} · {words['sla_late']}: {figures.late}"
    )
    lines.append(
        f"{words['sla_missing']}: {figures.missing} · {words['sla_pending']}: {figures.pending}"
    )
    return lines


def _axis(reports: list[Figures], target: float | None) -> Axis:
    """From a little under the lowest share (and the target) up to 100%."""
    shares = [f.share_on_time * 100 for f in reports if f.share_on_time is not None]
    floor = min([*shares, 90.0] + ([target * 100] if target is not None else []))
    return Axis.between(max(0.0, floor - 2), 100.0)


def _rules(report: Report, words: Mapping[str, str], language: str) -> list[tuple[float, str, str]]:
    share = report.target.share
    if share is None:
        return []
    label = words["sla_target_line"].format(share=percent(share, language, 0))
    return [(share * 100, label, "target")]


@dataclass(frozen=True)
class SlaChart:
    chart: Chart
    label: str  # the accessible name: what the chart shows
    x_title: str
    y_title: str


def month_chart(report: Report, words: Mapping[str, str], language: str) -> SlaChart:
    """One column per day of the report's month; a day without expected data is empty."""
    target = report.target.share
    slots = []
    for group in report.groups:
        day, figures = group.start, group.figures
        share = figures.share_on_time
        head = f"{WEEKDAYS[language][day.weekday()]} {day:%d-%m-%Y}"
        slots.append(
            Slot(
                start=day.isoformat(),
                label=str(day.day),
                values=[] if share is None else [(_kind(share, target), share * 100)],
                tip=_tip(head, figures, words, language),
            )
        )
    chart = bars(
        slots,
        _axis([g.figures for g in report.groups], target),
        language,
        frame=MONTH_FRAME,
        rules=_rules(report, words, language),
        tick_decimals=1,
        tick_suffix="%",
        min_height=MISSED_STUB,
    )
    name = month_name(report.start, language)
    return SlaChart(
        chart=chart,
        label=words["sla_chart_alt"].format(
            channel=words[f"sla_{report.channel.value}"], month=name
        ),
        x_title=words["sla_x_days"].format(month=name),
        y_title=words["sla_y_share"].format(days=report.target.days),
    )


def trend_chart(report: Report, shown: date, words: Mapping[str, str], language: str) -> SlaChart:
    """One column per month of a month-grouped report; ``shown`` is highlighted."""
    target = report.target.share
    slots = []
    for group in report.groups:
        month, figures = group.start, group.figures
        share = figures.share_on_time
        slots.append(
            Slot(
                start=month.isoformat()[:7],
                label=MONTHS[language][month.month - 1],
                values=[] if share is None else [(_kind(share, target), share * 100)],
                tip=_tip(month_name(month, language), figures, words, language),
                current=month == shown,
            )
        )
    chart = bars(
        slots,
        _axis([g.figures for g in report.groups], target),
        language,
        frame=TREND_FRAME,
        rules=_rules(report, words, language),
        tick_decimals=1,
        tick_suffix="%",
        min_height=MISSED_STUB,
    )
    return SlaChart(
        chart=chart,
        label=words["sla_trend_alt"].format(
            channel=words[f"sla_{report.channel.value}"], month=month_name(shown, language)
        ),
        x_title=words["sla_x_months"].format(
            first=month_name(report.start, language), last=month_name(shown, language)
        ),
        y_title=words["sla_y_share"].format(days=report.target.days),
    )


def svg_file(report: Report, language: str = "en") -> bytes:
    """The month chart as a standalone SVG document (``GET /api/v1/sla/chart``)."""
    drawn = month_chart(report, texts(language), language)
    return _FILES.get_template("sla_chart.svg").render(drawn=drawn, report=report).encode()
