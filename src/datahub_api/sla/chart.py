"""The SLA chart file of ``datahub-api sla report --chart`` and of ``GET /api/v1/sla/chart``
(daily share on time against the target line) and the command's text table.

matplotlib with its Agg backend (no display needed) draws the files: it writes both PNG and
SVG from the same figure. The portal draws its SLA charts with its own SVG module
(``portal/sla_charts.py``), in the page's language and with tooltips.
"""

from __future__ import annotations

import io
import re
from datetime import date

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from datahub_api import iso_dates
from datahub_api.errors import UnprocessableContent
from datahub_api.sla.figures import Figures
from datahub_api.sla.service import Report

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the month's first day."""
    try:
        return iso_dates.parse_month(text.strip())
    except ValueError as exc:
        raise UnprocessableContent(f"month: {exc}, not {text[:20]!r}") from None


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.2f}%"


def _hours(hours: int | None) -> str:
    return "-" if hours is None else f"{hours} h"


def table(report: Report) -> str:
    """One line per group and a total line, for a terminal."""
    target = report.target
    head = (
        f"SLA {report.channel.value} ({report.channel.data} data)  "
        f"{report.start}..{report.end} (exclusive)  target: "
        f"{target.days} days"
        + ("" if target.share is None else f", {target.share * 100:.0f}% on time")
    )
    columns = f"{'period':12} {'expected':>9} {'on time':>9} {'late':>7} {'missing':>8} " \
        f"{'pending':>8} {'share':>8} {'median':>7} {'p95':>7}  met"  # fmt: skip
    lines = [head, columns, "-" * len(columns)]

    def line(label: str, figures: Figures) -> str:
        met = figures.met(target)
        return (
            f"{label:12} {figures.expected:>9} {figures.on_time:>9} {figures.late:>7} "
            f"{figures.missing:>8} {figures.pending:>8} {_percent(figures.share_on_time):>8} "
            f"{_hours(figures.percentile(0.5)):>7} {_hours(figures.percentile(0.95)):>7}  "
            f"{'-' if met is None else 'yes' if met else 'NO'}"
        )

    for group in report.groups:
        lines.append(line(group.start.isoformat(), group.figures))
    lines.append("-" * len(columns))
    lines.append(line("total", report.total))
    if report.note:
        lines.append(report.note)
    return "\n".join(lines)


def render(report: Report, image_format: str = "svg") -> bytes:
    """The daily share on time of the report's groups against the target line."""
    buffer = io.BytesIO()
    figure_of(report).savefig(buffer, format=image_format, bbox_inches="tight")
    return buffer.getvalue()


def figure_of(report: Report) -> Figure:
    figure = Figure(figsize=(9, 4), dpi=100)
    axes = figure.add_subplot()
    days = [group.start for group in report.groups]
    shares = [
        None if group.figures.share_on_time is None else group.figures.share_on_time * 100
        for group in report.groups
    ]
    plotted = [(day, share) for day, share in zip(days, shares, strict=True) if share is not None]
    if plotted:
        axes.bar(
            [day.day for day, _ in plotted],
            [share for _, share in plotted],
            color=[
                "#2e7d32" if report.target.share is None or share >= report.target.share * 100
                else "#c62828"
                for _, share in plotted
            ],
            width=0.8,
        )  # fmt: skip
    if report.target.share is not None:
        axes.axhline(
            report.target.share * 100,
            color="#1565c0",
            linestyle="--",
            label=f"target {report.target.share * 100:.0f}%",
        )
        axes.legend(loc="lower left")
    # Whole days only: a tick per day of the month (every other one from 16 days on), the
    # x range the month's days (not matplotlib's automatic 0.5 steps or -5..35).
    month_days = (report.end - report.start).days
    axes.set_xlim(0.4, month_days + 0.6)
    every = 1 if month_days <= 15 else 2
    axes.set_xticks(range(1, month_days + 1, every))
    low = min([share for _, share in plotted] + [90.0])
    axes.set_ylim(max(0.0, low - 2), 100.5)
    axes.set_ylabel(f"on time within {report.target.days} days (%)")
    total = report.total.share_on_time
    axes.set_title(
        f"{report.channel.value} ({report.channel.data} data): {report.start:%Y-%m}, "
        f"{_percent(total)} on time"
        + ("" if report.organisation_id is None else f" (ESP {report.organisation_id})")
    )
    axes.set_xlabel(f"day of {report.start:%B %Y}")
    return figure
