"""The SLA charts (portal/sla_charts.py, and sla/chart.py's file): whole days on the x axis
however few days have data, the page's language everywhere, the labelled target line, a
value per day."""

from __future__ import annotations

from datetime import date, timedelta
from xml.etree import ElementTree

from datahub_api.portal.i18n import texts
from datahub_api.portal.sla_charts import month_chart, svg_file, trend_chart
from datahub_api.settings import SlaTarget
from datahub_api.sla.chart import figure_of, render
from datahub_api.sla.figures import Figures
from datahub_api.sla.service import Group, Report, SlaChannel, next_month


def _report(start: date, end: date, figures: dict[date, Figures], step_months: bool) -> Report:
    groups, cursor = [], start
    while cursor < end:
        stop = next_month(cursor) if step_months else cursor + timedelta(days=1)
        groups.append(Group(cursor, stop, figures.get(cursor, Figures())))
        cursor = stop
    total = Figures()
    for f in figures.values():
        total.expected += f.expected
        total.on_time += f.on_time
        total.late += f.late
    return Report(
        channel=SlaChannel.api,
        start=start,
        end=end,
        target=SlaTarget(days=3, share=0.95),
        organisation_id=None,
        total=total,
        groups=groups,
        per_organisation={},
        exclusions=None,
        note=None,
    )


def test_two_days_of_data_still_tick_every_whole_day_of_the_month() -> None:
    """matplotlib drew 0.50, 0.75, ... for a day or two of data."""
    first = date(2026, 12, 1)
    data = {
        date(2026, 12, 1): Figures(expected=10, on_time=10),
        date(2026, 12, 2): Figures(expected=10, on_time=9, late=1),
    }
    drawn = month_chart(_report(first, date(2027, 1, 1), data, False), texts("nl"), "nl")
    assert [tick.label for tick in drawn.chart.x_ticks] == [str(d) for d in range(1, 32)]
    assert len(drawn.chart.columns) == 31
    assert [len(c.bars) for c in drawn.chart.columns[:3]] == [1, 1, 0]
    assert [b.kind for c in drawn.chart.columns[:2] for b in c.bars] == ["met", "missed"]
    assert drawn.chart.columns[1].tip[:2] == ("wo 02-12-2026", "90,00% op tijd")
    assert drawn.chart.columns[2].tip == ("do 03-12-2026", "geen gegevens verwacht")
    assert drawn.x_title == "Dag van december 2026"
    assert drawn.y_title == "Op tijd binnen 3 dagen (%)"
    assert [rule.label for rule in drawn.chart.rules] == ["doel 95%"]
    assert drawn.chart.y_ticks[-1].label == "100%"
    english = month_chart(_report(first, date(2027, 1, 1), data, False), texts("en"), "en")
    assert english.x_title == "Day of December 2026"
    assert [rule.label for rule in english.chart.rules] == ["target 95%"]
    assert english.chart.columns[1].tip[:2] == ("Wed 02-12-2026", "90.00% on time")


def test_the_trend_has_a_column_per_month_and_marks_the_shown_one() -> None:
    start, shown = date(2026, 1, 1), date(2026, 12, 1)
    data = {date(2026, 11, 1): Figures(expected=30, on_time=29, late=1)}
    drawn = trend_chart(_report(start, date(2027, 1, 1), data, True), shown, texts("nl"), "nl")
    labels = [tick.label for tick in drawn.chart.x_ticks]
    assert labels[:3] == ["jan", "feb", "mrt"]
    assert labels[-1] == "dec"
    assert [c.current for c in drawn.chart.columns].index(True) == 11
    assert drawn.chart.columns[10].tip[:2] == ("november 2026", "96,67% op tijd")
    assert drawn.x_title == "Maand (januari 2026 tot december 2026)"


def test_the_chart_file_ticks_whole_days_of_the_month() -> None:
    """``sla report --chart`` (matplotlib) ticked 0.50, 0.75, ... with two days of data."""
    first = date(2026, 12, 1)
    data = {
        date(2026, 12, 1): Figures(expected=10, on_time=10),
        date(2026, 12, 2): Figures(expected=10, on_time=9, late=1),
    }
    axes = figure_of(_report(first, date(2027, 1, 1), data, False)).axes[0]
    ticks = list(axes.get_xticks())
    assert ticks == list(range(1, 32, 2))
    low, high = axes.get_xlim()
    assert 0 < low < 1
    assert 31 < high < 32
    assert render(_report(first, date(2027, 1, 1), data, False), "svg").startswith(b"<?xml")


def test_the_api_chart_file_is_the_shared_chart_as_a_standalone_svg() -> None:
    """``GET /api/v1/sla/chart`` draws with the portal's module, not matplotlib."""
    first = date(2026, 2, 1)
    data = {date(2026, 2, 3): Figures(expected=4, on_time=3, late=1)}
    report = _report(first, date(2026, 3, 1), data, False)
    report = Report(**{**report.__dict__, "channel": SlaChannel.nps_historical})
    document = svg_file(report)
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
    root = ElementTree.fromstring(document)
    found = root.findall(".//{http://www.w3.org/2000/svg}text[@class='x-label']")
    assert [t.text for t in found] == [str(day) for day in range(1, 29)]
    assert root.get("aria-label") == (
        "Share on time per day, NPS channel (validated data), February 2026, with the target line"
    )
    assert b"75.00% on time" in document
    assert b">target 95%</text>" in document
