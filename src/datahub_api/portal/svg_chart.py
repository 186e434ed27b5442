"""The portal's charts, drawn on the server as SVG: one bar (or two, up and down) per
column on a value axis, ticks, labelled reference lines, and per column the lines its
tooltip shows.

The meter-data charts (``esp_chart``) and the operator's SLA charts (``sla_charts``) both
build a :class:`Chart` here and render it with the ``svg_chart.html`` macro. Each column is
a focusable group whose ``<title>`` holds its tooltip lines: the static ``chart.js`` turns
them into a tooltip on hover, touch and keyboard focus (arrow keys move between columns);
without script the browser shows the ``<title>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 920, 380
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 16, 58

MONTHS = {
    "nl": ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
}
MONTH_NAMES = {
    "nl": [
        "januari", "februari", "maart", "april", "mei", "juni",
        "juli", "augustus", "september", "oktober", "november", "december",
    ],
    "en": [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ],
}  # fmt: skip
WEEKDAYS = {
    "nl": ["ma", "di", "wo", "do", "vr", "za", "zo"],
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
}


def nice_step(span: float, wanted: int = 5) -> float:
    """A 1, 2 or 5 times a power of ten step giving about ``wanted`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / wanted
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def number(value: float, language: str, decimals: int = 3) -> str:
    """A number as the page's language writes it (Dutch decimal comma, space thousands)."""
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    text = text.replace(",", " ")
    return text.replace(".", ",") if language == "nl" else text


def percent(share: float, language: str, decimals: int = 2) -> str:
    """A share (0..1) as a percentage with fixed decimals, e.g. ``98,50%``."""
    text = f"{share * 100:.{decimals}f}%"
    return text.replace(".", ",") if language == "nl" else text


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    y: float
    height: float
    kind: str  # a CSS class: "offtake", "injection", "met", "missed", ...
    estimated: bool = False
    incomplete: bool = False


@dataclass(frozen=True)
class Column:
    """One x position: where it is drawn, its bars and the lines of its tooltip."""

    x: float
    width: float
    start: str  # the column's key (an ISO instant or day), ``data-start``
    gap: bool
    incomplete: bool
    tip: tuple[str, ...]
    bars: list[Bar]
    current: bool = False  # drawn highlighted (the month the page shows, in a trend)

    @property
    def title(self) -> str:
        """The ``<title>``: the tooltip's lines, what a browser without script shows."""
        return "\n".join(self.tip)


@dataclass(frozen=True)
class Rule:
    """A labelled horizontal line, such as the SLA target."""

    y: float
    label: str
    kind: str


@dataclass(frozen=True)
class Axis:
    """A value axis from ``low`` to ``high`` with a tick every ``step``."""

    low: float
    high: float
    step: float

    @classmethod
    def around(cls, top: float, bottom: float = 0.0) -> Axis:
        """Zero-based: ``top`` above zero and ``bottom`` below it, rounded out to steps."""
        step = nice_step(max(top + bottom, 0.001))
        high = math.ceil(top / step) * step if top > 0 else step
        low = -math.ceil(bottom / step) * step if bottom > 0 else 0.0
        return cls(low, high, step)

    @classmethod
    def between(cls, low: float, high: float, wanted: int = 5) -> Axis:
        """From ``low`` rounded down to a step, up to ``high``."""
        step = nice_step(max(high - low, 0.001), wanted)
        return cls(math.floor(low / step) * step, high, step)

    def values(self) -> list[float]:
        ticks, tick = [], self.low
        while tick <= self.high + self.step / 2:
            ticks.append(round(tick, 9))
            tick += self.step
        return ticks


@dataclass(frozen=True)
class Slot:
    """What a caller gives per column: its key, its x label (None: no tick), its values
    (positive up, negative down) and tooltip lines."""

    start: str
    label: str | None
    values: Sequence[tuple[str, float]]
    tip: Sequence[str]
    gap: bool = False
    incomplete: bool = False
    estimated: bool = False
    current: bool = False


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    zero_y: float
    columns: list[Column]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    rules: list[Rule] = field(default_factory=list)
    bar_share: float = 0.8


@dataclass(frozen=True)
class Frame:
    """The canvas: its size and the margins around the plot."""

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM

    @property
    def plot_width(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_height(self) -> float:
        return float(self.height - self.top - self.bottom)


def bars(
    slots: Sequence[Slot],
    axis: Axis,
    language: str,
    *,
    frame: Frame | None = None,
    rules: Sequence[tuple[float, str, str]] = (),
    tick_decimals: int = 3,
    tick_suffix: str = "",
    labels_centred: bool = True,
    min_height: float = 0.5,
) -> Chart:
    """The geometry of one column per slot on ``axis``; bars rise from zero (or from the
    axis's low end when it is above zero), at least ``min_height`` high so a value at the
    base still shows, and ``rules`` are ``(value, label, kind)``."""
    frame = frame or Frame()
    plot_width, plot_height = frame.plot_width, frame.plot_height
    span = axis.high - axis.low

    def y_of(value: float) -> float:
        clamped = min(max(value, axis.low), axis.high)
        return frame.top + (axis.high - clamped) / span * plot_height

    base = min(max(0.0, axis.low), axis.high)
    count = max(len(slots), 1)
    column_width = plot_width / count
    bar_width = max(column_width * 0.8, 0.6)
    columns = []
    x_ticks = []
    for index, slot in enumerate(slots):
        x = frame.left + index * column_width
        drawn = []
        for kind, value in slot.values:
            y1, y2 = y_of(max(value, base)), y_of(min(value, base))
            if y2 - y1 < min_height and value >= base:
                y1 = y2 - min_height  # a stub standing on the base, not hanging below it
            drawn.append(
                Bar(
                    x + (column_width - bar_width) / 2,
                    bar_width,
                    y1,
                    max(y2 - y1, min_height),
                    kind,
                    slot.estimated,
                    slot.incomplete,
                )
            )
        columns.append(
            Column(
                x,
                column_width,
                slot.start,
                slot.gap,
                slot.incomplete,
                tuple(slot.tip),
                drawn,
                slot.current,
            )
        )
        if slot.label is not None:
            x_ticks.append(Tick(x + (column_width / 2 if labels_centred else 0), slot.label))
    y_ticks = [
        Tick(y_of(value), number(abs(value), language, tick_decimals) + tick_suffix)
        for value in axis.values()
    ]
    return Chart(
        width=frame.width,
        height=frame.height,
        left=frame.left,
        top=frame.top,
        plot_width=plot_width,
        plot_height=plot_height,
        zero_y=y_of(base),
        columns=columns,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        rules=[Rule(y_of(value), label, kind) for value, label, kind in rules],
    )
