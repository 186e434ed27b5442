"""Meter data in the layout of Mijn Fluvius's CSV export, so tools that read Fluvius
exports read ours.

Columns ``Van (datum);Van (tijdstip);Tot (datum);Tot (tijdstip);EAN-code;Meter;Metertype;
Register;Volume;Eenheid;Validatiestatus;Omschrijving``: local Brussels dates and times
(``dd-mm-yyyy``, ``HH:MM:SS``), the EAN cell written bare as ``="541..."`` (a spreadsheet
formula that keeps its digits; not CSV-quoted, as Fluvius writes it, so readers that split on
``;`` and strip ``="`` get the EAN), ``;``-separated with a decimal comma and three decimals,
CRLF line ends, UTF-8 with a BOM. Rows are in clock order: on the October clock change the
repeated hour is interleaved, each slot of the first pass followed by the same slot of the
second (``02:45-02:00`` then ``02:45-03:00``), as in Fluvius's exports. An
electricity quarter-hour has one ``Afname`` and one ``Injectie`` row named ``Dag`` or
``Nacht`` by the tariff period it falls in (:class:`TariffCalendar`); AMR meters say
``Actief``. A gap has an empty Volume and the status ``Geen verbruik``; a summed bucket that
misses parts says ``Onvolledig`` in Omschrijving.

Days and months are split by tariff too: their rows are summed from the hours, one ``Dag``
and one ``Nacht`` row per bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO

import xlsxwriter

from datahub_api.access_points.models import AccessPoint, EnergyType, MeterType
from datahub_api.brussels_days import BRUSSELS, brussels_date, gas_date
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, StoredUnit, ValidationState
from datahub_api.meter_data.series import (
    UNIT_NAMES,
    ReadWindow,
    Series,
    SeriesKey,
)
from datahub_api.meter_data.sums import add_reading, worse_conversion
from datahub_api.settings import Settings
from datahub_api.spreadsheet_cells import formula_safe

COLUMNS = (
    "Van (datum)",
    "Van (tijdstip)",
    "Tot (datum)",
    "Tot (tijdstip)",
    "EAN-code",
    "Meter",
    "Metertype",
    "Register",
    "Volume",
    "Eenheid",
    "Validatiestatus",
    "Omschrijving",
)
GAS_COLUMNS = (*COLUMNS[:11], "Calorische bovenwaarde", COLUMNS[11])
"""Gas exports have one more column: ``Definitief`` or ``Voorlopig`` on each kWh row (the
calorific value it was converted with), empty on the m³ rows."""
CSV_UNITS: dict[int, str] = {
    StoredUnit.Wh: "kWh",
    StoredUnit.varh: "kVArh",
    StoredUnit.litre: "m³",
}
CONVERSION_LABELS = {"D": "Definitief", "C": "Definitief", "P": "Voorlopig"}
STATE_LABELS: dict[int, str] = {
    ValidationState.READ: "Uitgelezen",
    ValidationState.EST: "Geschat",
    ValidationState.VAL: "Gevalideerd",
    ValidationState.NVAL: "Uitgelezen",  # read, validation failed: Fluvius has no own label
}
GAP_LABEL = "Geen verbruik"
INCOMPLETE_LABEL = "Onvolledig"
DIRECTION_LABELS = {
    Direction.offtake: "Afname",
    Direction.injection: "Injectie",
    Direction.production: "Productie",
    Direction.auxiliary: "Hulpverbruik",
}
REGISTER_LABELS = {
    Register.day: "Dag",
    Register.night: "Nacht",
    Register.reactive: "Reactief",
    Register.inductive: "Inductief",
    Register.capacitive: "Capacitief",
}
DAY, NIGHT = "Dag", "Nacht"
_QUARTER = timedelta(minutes=15)
_ORDER = list(Granularity)  # finest first
BOM = "\ufeff"
EAN_COLUMN = COLUMNS.index("EAN-code")


@dataclass(frozen=True)
class TariffCalendar:
    """When the day (high) tariff applies: ``day_hours`` [start, end) in Brussels on
    ``weekdays`` (ISO numbers), except ``night_dates``."""

    day_hours: tuple[int, int] = (7, 22)
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    night_dates: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> TariffCalendar:
        return cls(
            day_hours=settings.tariff_day_hours,
            weekdays=frozenset(settings.tariff_day_weekdays),
            night_dates=frozenset(settings.tariff_night_dates),
        )

    def period(self, local: datetime) -> str:
        """``Dag`` or ``Nacht`` for the slot starting at Brussels time ``local``."""
        day = local.date()
        if day.isoweekday() not in self.weekdays or day in self.night_dates:
            return NIGHT
        start, end = self.day_hours
        return DAY if start <= local.hour < end else NIGHT


@dataclass(frozen=True)
class ExportedAccessPoint:
    ean: str
    digital: bool  # a digital meter (else AMR)
    electricity: bool

    @property
    def meter_type_label(self) -> str:
        return "Digitale meter" if self.digital else "AMR-meter"

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS if self.electricity else GAS_COLUMNS


ENERGY_NAMES = {True: "elektriciteit", False: "gas"}
TOTALS_NAMES = {
    Granularity.PT15M: "kwartiertotalen",
    Granularity.PT1H: "uurtotalen",
    Granularity.P1D: "dagtotalen",
    Granularity.P1M: "maandtotalen",
}


def export_file_name(point: ExportedAccessPoint, window: ReadWindow, suffix: str = ".csv") -> str:
    """The file name Fluvius gives an export of ``window``:
    ``Verbruikshistoriek_elektriciteit_<EAN>_<first day>_<last day>_kwartiertotalen.csv``
    (``gas``; ``uurtotalen``, ``dagtotalen``, ``maandtotalen``), both days included (gas
    days for gas)."""
    day_of = brussels_date if point.electricity else gas_date
    first = day_of(window.start)
    last = day_of(window.end - timedelta(microseconds=1))
    return (
        f"Verbruikshistoriek_{ENERGY_NAMES[point.electricity]}_{point.ean}_"
        f"{first:%Y%m%d}_{last:%Y%m%d}_{TOTALS_NAMES[window.granularity]}{suffix}"
    )


def content_disposition(file_name: str) -> str:
    return f'attachment; filename="{file_name}"'


def exported_access_point(point: AccessPoint) -> ExportedAccessPoint:
    return ExportedAccessPoint(
        ean=point.ean,
        digital=point.meter_type is MeterType.digital,
        electricity=point.energy_type is EnergyType.electricity,
    )


@dataclass(frozen=True)
class WholeWindow(ReadWindow):
    """One bucket spanning the whole window (a year's total): a target for
    :func:`export_rows`, which sums the finer series into it (split by tariff)."""

    def bucket_count(self) -> int:
        return 1

    def bucket_bounds(self) -> Iterator[tuple[datetime, datetime]]:
        yield self.start, self.end


@dataclass(frozen=True)
class _Row:
    start: datetime
    end: datetime
    meter: str
    register: str
    unit: StoredUnit
    value: int | None
    state: int | None
    complete: bool
    conversion: str | None = None  # gas energy: the worst factor (P, C, D)


def _volume(value: int | None) -> str:
    if value is None:
        return ""
    return f"{value // 1000},{value % 1000:03d}"


def _uses_tariffs(point: ExportedAccessPoint, series: Series) -> bool:
    return (
        point.digital
        and point.electricity
        and series.key.register is Register.total
        and series.unit is StoredUnit.Wh
    )


def _register_label(point: ExportedAccessPoint, key: SeriesKey, unit: StoredUnit) -> str:
    direction = DIRECTION_LABELS[key.direction]
    if not point.electricity:
        return direction  # gas: "Afname", in m³ and in kWh
    if key.register is Register.total:
        return f"{direction} {'Actief' if unit is StoredUnit.Wh else 'Totaal'}"
    return f"{direction} {REGISTER_LABELS[key.register]}"


def with_both_directions(point: ExportedAccessPoint, series: list[Series]) -> list[Series]:
    """Every electricity meter gets an Afname and an Injectie series, as in Fluvius's
    export (the missing one all gaps), ordered by meter, direction and register."""
    if not point.electricity:
        return series
    present = {s.key for s in series}
    added = []
    for s in series:
        if s.key.register is not Register.total or s.unit is not StoredUnit.Wh:
            continue
        for direction in (Direction.offtake, Direction.injection):
            key = SeriesKey(s.key.meter_id, direction, Register.total)
            if key not in present:
                present.add(key)
                count = len(s.values)
                added.append(
                    Series(
                        key=key,
                        granularity=s.granularity,
                        unit=s.unit,
                        window=s.window,
                        values=[None] * count,
                        states=[None] * count,
                        complete=[False] * count,
                    )
                )
    return sorted(series + added, key=lambda s: (s.key.meter_id, s.key.direction, s.key.register))


def _fine_rows(point: ExportedAccessPoint, series: Series, calendar: TariffCalendar) -> list[_Row]:
    tariffs = _uses_tariffs(point, series)
    fixed = _register_label(point, series.key, series.unit)
    direction = DIRECTION_LABELS[series.key.direction]
    rows = []
    conversion = series.conversion or [None] * len(series.values)
    for (start, end), value, state, complete, factor in zip(
        series.bucket_bounds(),
        series.values,
        series.states,
        series.complete,
        conversion,
        strict=True,
    ):
        label = f"{direction} {calendar.period(start.astimezone(BRUSSELS))}" if tariffs else fixed
        rows.append(
            _Row(
                start, end, series.key.meter_id, label, series.unit, value, state, complete, factor
            )
        )
    return rows


def _summed_rows(
    point: ExportedAccessPoint, series: Series, target: ReadWindow, calendar: TariffCalendar
) -> list[_Row]:
    """Rows of the ``target`` buckets (days or months) summed from a finer series, split by
    tariff period when the register has tariffs."""
    tariffs = _uses_tariffs(point, series)
    direction = DIRECTION_LABELS[series.key.direction]
    labels = [f"{direction} {DAY}", f"{direction} {NIGHT}"] if tariffs else []
    labels = labels or [_register_label(point, series.key, series.unit)]
    bounds = list(target.bucket_bounds())
    # Per (bucket, label): an index into the sums, their states, parts and complete parts.
    index_of: dict[tuple[int, str], int] = {}
    values: list[int | None] = []
    states: list[int | None] = []
    parts: list[int] = []
    whole: list[int] = []
    factors: dict[int, str] = {}
    conversion = series.conversion or [None] * len(series.values)
    bucket = 0
    for (start, _), value, state, complete, factor in zip(
        series.bucket_bounds(),
        series.values,
        series.states,
        series.complete,
        conversion,
        strict=True,
    ):
        while bucket < len(bounds) - 1 and start >= bounds[bucket][1]:
            bucket += 1
        if factor is not None:
            factors[bucket] = worse_conversion(factor, factors.get(bucket))
        label = (
            f"{direction} {calendar.period(start.astimezone(BRUSSELS))}" if tariffs else labels[0]
        )
        index = index_of.setdefault((bucket, label), len(values))
        if index == len(values):
            values.append(None)
            states.append(None)
            parts.append(0)
            whole.append(0)
        if value is not None:
            add_reading(values, states, index, value, state)
        parts[index] += 1
        whole[index] += 1 if complete else 0
    rows = []
    for bucket, (start, end) in enumerate(bounds):
        for label in labels:
            index = index_of.get((bucket, label), -1)
            found = index >= 0
            rows.append(
                _Row(
                    start,
                    end,
                    series.key.meter_id,
                    label,
                    series.unit,
                    values[index] if found else None,
                    states[index] if found else None,
                    found and parts[index] == whole[index],
                    factors.get(bucket),
                )
            )
    return rows


def export_rows(
    point: ExportedAccessPoint,
    series: Sequence[Series],
    calendar: TariffCalendar,
    target: ReadWindow,
) -> Iterator[tuple[str, ...]]:
    """The export's rows (without the header) for ``series`` over ``target`` (see
    :func:`with_both_directions` for Fluvius's full layout): bucket by
    bucket, the series' rows of each bucket together. Series finer than ``target`` (hours for
    a daily export) are summed into its buckets."""
    per_series = [
        _summed_rows(point, s, target, calendar)
        if _ORDER.index(s.granularity) < _ORDER.index(target.granularity)
        else _fine_rows(point, s, calendar)
        for s in series
    ]
    rows = sorted(
        (row for rows in per_series for row in rows),
        key=lambda row: clock_order(row.start),
    )  # stable: within a bucket the series order stays
    ean = ean_cell(point.ean)
    gas = not point.electricity
    for row in rows:
        start, end = row.start.astimezone(BRUSSELS), row.end.astimezone(BRUSSELS)
        if row.value is None:
            status, description = GAP_LABEL, ""
        else:
            status = STATE_LABELS[row.state] if row.state is not None else ""
            description = "" if row.complete else INCOMPLETE_LABEL
        cells = (
            start.strftime("%d-%m-%Y"),
            start.strftime("%H:%M:%S"),
            end.strftime("%d-%m-%Y"),
            end.strftime("%H:%M:%S"),
            ean,
            row.meter,
            point.meter_type_label,
            row.register,
            _volume(row.value),
            CSV_UNITS[row.unit],
            status,
        )
        if gas:
            calorific = CONVERSION_LABELS[row.conversion] if row.conversion else ""
            if row.value is None:
                calorific = ""
            yield (*cells, calorific, description)
        else:
            yield (*cells, description)


def clock_order(start: datetime) -> tuple[datetime, datetime]:
    """The sort key of a row starting at ``start`` (UTC): Brussels wall-clock time, then the
    instant, so the October repeated hour interleaves (02:00 first pass, 02:00 second pass,
    02:15, 02:15, ...) as in Fluvius's exports."""
    return start.astimezone(BRUSSELS).replace(tzinfo=None), start


def csv_cell(text: str) -> str:
    """One cell: bare, or in double quotes (quotes doubled) when it holds ``;``, ``"`` or a
    line break; never a formula (:func:`formula_safe`). Every cell but the EAN's goes
    through here."""
    text = formula_safe(text)
    if ";" in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def ean_cell(ean: str) -> str:
    """The EAN cell, written bare as Fluvius does: ``="541448820050357909"`` (a formula that
    keeps a spreadsheet from turning the 18 digits into a rounded number)."""
    if not ean.isdigit():
        raise ValueError(f"not an EAN: {ean!r}")
    return f'="{ean}"'


def csv_line(row: Sequence[str]) -> str:
    """A data row as one CSV line (CRLF); the cell in the EAN column is already
    :func:`ean_cell`'s and is written as it is."""
    return (
        ";".join(cell if index == EAN_COLUMN else csv_cell(cell) for index, cell in enumerate(row))
        + "\r\n"
    )


class QuarterHourCsv:
    """The CSV lines of quarter-hour series, byte for byte what :func:`export_rows` and
    :func:`csv_text` give for a quarter-hour target, built for throughput: the local
    date/time columns and the tariff period of each slot are computed once per window (a
    month) and shared by every series and every EAN (the cache holds the slots of the
    windows seen, about 35 000 a year), and the constant columns of a series are joined
    once. For series that are not all quarter-hours, use :func:`export_rows`."""

    def __init__(self, calendar: TariffCalendar) -> None:
        self.calendar = calendar
        # (window start, slots) -> in clock order, per slot its index, the "van;tot" columns
        # and the tariff period.
        self._windows: dict[tuple[datetime, int], list[tuple[int, str, str]]] = {}

    def _slots(self, start: datetime, count: int) -> list[tuple[int, str, str]]:
        found = self._windows.get((start, count))
        if found is None:
            found = []
            local = start.astimezone(BRUSSELS)
            van = f"{local.strftime('%d-%m-%Y')};{local.strftime('%H:%M:%S')};"
            for index in range(count):
                end = (start + (index + 1) * _QUARTER).astimezone(BRUSSELS)
                tot = f"{end.strftime('%d-%m-%Y')};{end.strftime('%H:%M:%S')};"
                found.append((index, van + tot, self.calendar.period(local)))
                local, van = end, tot
            found.sort(key=lambda slot: clock_order(start + slot[0] * _QUARTER))
            self._windows[(start, count)] = found
        return found

    @staticmethod
    def fits(series: Sequence[Series]) -> bool:
        return all(s.granularity is Granularity.PT15M for s in series)

    def lines(self, point: ExportedAccessPoint, series: Sequence[Series]) -> str:
        """Every line of ``series`` (all over the same quarter-hour window), slot by slot,
        the series in the order given within a slot."""
        if not series:
            return ""
        ean = ean_cell(point.ean)
        meter_type = csv_cell(point.meter_type_label)
        plans = []
        for one in series:
            direction = DIRECTION_LABELS[one.key.direction]
            fixed = _register_label(point, one.key, one.unit)
            labels = (
                {
                    DAY: csv_cell(f"{direction} {DAY}"),
                    NIGHT: csv_cell(f"{direction} {NIGHT}"),
                }
                if _uses_tariffs(point, one)
                else {DAY: csv_cell(fixed), NIGHT: csv_cell(fixed)}
            )
            head = f"{ean};{csv_cell(one.key.meter_id)};{meter_type};"
            unit = csv_cell(UNIT_NAMES[one.unit])
            states = {code: csv_cell(label) for code, label in STATE_LABELS.items()}
            plans.append((one, head, labels, unit, states))
        out: list[str] = []
        append = out.append
        slots = self._slots(series[0].window.start, len(series[0].values))
        for index, columns, period in slots:
            for one, head, labels, unit, states in plans:
                value = one.values[index]
                if value is None:
                    append(f"{columns}{head}{labels[period]};;{unit};{GAP_LABEL};\r\n")
                    continue
                state = one.states[index]
                status = states[state] if state is not None else ""
                description = "" if one.complete[index] else INCOMPLETE_LABEL
                append(
                    f"{columns}{head}{labels[period]};{value // 1000},{value % 1000:03d};"
                    f"{unit};{status};{description}\r\n"
                )
        return "".join(out)


def header_line(columns: Sequence[str] = COLUMNS) -> str:
    """The BOM and the header line."""
    return BOM + ";".join(csv_cell(name) for name in columns) + "\r\n"


def csv_text(
    rows: Iterable[Sequence[str]], *, header: bool, columns: Sequence[str] = COLUMNS
) -> str:
    """Rows as ``;``-separated CSV lines (the BOM and header first when ``header``)."""
    lines = [csv_line(row) for row in rows]
    if header:
        lines.insert(0, header_line(columns))
    return "".join(lines)


XLSX_LAST_ROW = 1_048_575  # zero-based: a sheet holds 1,048,576 rows


class SheetFull(ValueError):
    """More rows than one XLSX sheet holds."""


class XlsxExport:
    """The same columns as an XLSX sheet, written row by row (XlsxWriter's constant-memory
    mode keeps one row in memory, the rest in temporary files); Volume is a number cell, the
    EAN a text cell."""

    def __init__(self, target: IO[bytes], columns: Sequence[str] = COLUMNS) -> None:
        self._workbook = xlsxwriter.Workbook(target, {"constant_memory": True})
        self._sheet = self._workbook.add_worksheet("Meetgegevens")
        self._volume = self._workbook.add_format({"num_format": "0.000"})
        self._sheet.write_row(0, 0, columns, self._workbook.add_format({"bold": True}))
        self._line = 1

    def add_rows(self, rows: Iterable[Sequence[str]]) -> None:
        # write_string/write_number rather than write_row: no type guess per cell (about a
        # quarter faster on a year of quarter-hours); an empty string stays a blank cell.
        write_string, write_number = self._sheet.write_string, self._sheet.write_number
        volume_format = self._volume
        line = self._line
        for row in rows:
            if line > XLSX_LAST_ROW:
                raise SheetFull(f"more rows than one XLSX sheet holds ({XLSX_LAST_ROW + 1})")
            for column, cell in enumerate(row):
                if column == 8:
                    if cell:
                        write_number(line, 8, float(cell.replace(",", ".")), volume_format)
                elif column == 4:
                    write_string(line, 4, cell[2:-1])  # the ="..." guard is a CSV device
                elif cell:
                    write_string(line, column, formula_safe(cell))
            line += 1
        self._line = line

    def close(self) -> None:
        """Finish the file (zips the sheet; run it off the event loop)."""
        self._workbook.close()
