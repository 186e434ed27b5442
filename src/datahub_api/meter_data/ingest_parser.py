"""Reading head-end deliveries (CSV or NDJSON) into day blocks in memory, streamed.

The parser never keeps a Python object per reading: each reading goes straight into the
slot array of its day block, so a batch of a million quarter-hour values is ~10k blocks.
Everything that can be checked without the registry is checked here, once per distinct
series (EAN, meter, direction, register, granularity, unit) or distinct start time, not once
per row: the per-row work is a few dictionary look-ups and a float conversion. What needs
the registry (unknown EAN or meter, installation periods, units per energy type) is checked
per block by the service.

Input: UTF-8, one reading per line, fields ``ean,meter_id,direction,register,start,
granularity,value,unit,validation_state`` (see :data:`LAYOUT_DOC`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import math
import re
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import repeat
from operator import contains, itemgetter
from typing import Any, NamedTuple, cast

from datahub_api.access_points.ean import InvalidEan, validated
from datahub_api.brussels_days import BRUSSELS, GAS_DAY_HOUR, day_start, gas_day_start
from datahub_api.meter_data.blocks import GAP, SLOT_LENGTH, empty_slots, expected_slots
from datahub_api.meter_data.granularity import STORED_GRANULARITIES, Granularity
from datahub_api.meter_data.models import (
    Direction,
    Register,
    StoredUnit,
    ValidationState,
)

FIELDS = (
    "ean",
    "meter_id",
    "direction",
    "register",
    "start",
    "granularity",
    "value",
    "unit",
    "validation_state",
)
MAX_PROBLEMS_KEPT = 1_000
MILLI = 1000

LAYOUT_DOC = """\
One reading per line, UTF-8. **CSV** (`text/csv`): comma-separated with a header line
naming the nine fields (any order). **NDJSON** (`application/x-ndjson`): one JSON object per
line with the same names.

- `ean`: the access point, 18 digits with a GS1 check digit.
- `meter_id`: the physical meter; may be empty when one meter is installed on that day.
- `direction`: `offtake`, `injection`, `production` or `auxiliary`.
- `register`: `total`, `day`, `night` (active energy), `reactive`, `inductive`,
  `capacitive`.
- `start`: ISO 8601 instant **with** offset, on the granularity's grid in Europe/Brussels;
  the offset must be Brussels's at that instant (`+01:00` in winter, `+02:00` in summer) or
  `Z`.
- `granularity`: `PT15M` (quarter-hour), `PT1H` (hour, on the hour) or `P1D` (day, from
  Brussels midnight; for gas (`m3`) the gas day, from 06:00 Brussels).
- `value`: decimal, not negative, in `unit`; stored as integer milli-units (Wh, varh,
  litres), finer digits rounded.
- `unit`: electricity: `kWh` for `total`/`day`/`night`, `kVArh` for the reactive
  registers; gas: `m3` (the volume as metered; direction `offtake`, register `total`).
- `validation_state`: `READ`, `EST`, `VAL` or `NVAL`.
"""

UNITS = {"kWh": StoredUnit.Wh, "kVArh": StoredUnit.varh, "m3": StoredUnit.litre}
ACTIVE_REGISTERS = frozenset({Register.total, Register.day, Register.night})
STATE_CODES = {state.name: int(state) for state in ValidationState}
_METER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")  # as the registry stores them
_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


class InputFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"


@dataclass(frozen=True, order=True)
class Problem:
    """Why one line (or the block it starts) cannot be stored."""

    line: int
    detail: str


class SlotTime(NamedTuple):
    """Where a start time puts its reading: the Brussels day and the slot in it."""

    day: date
    slot: int


@dataclass(eq=False)
class Series:
    """A distinct (EAN, meter, direction, register, granularity, unit) of the batch."""

    ean: str
    meter_id: str  # as given: may be empty
    direction: Direction
    register: Register
    granularity: Granularity
    unit: StoredUnit
    first_line: int
    # start -> slot, and start -> why it cannot be stored: shared by the series of a granularity
    times: dict[str, SlotTime]
    time_problems: dict[str, str]
    max_milli: int  # the plausibility bound of one reading


@dataclass(eq=False)
class PendingBlock:
    """The readings of one series for one Brussels day: slots and their state codes."""

    series: Series
    day: date
    first_line: int
    slots: array[int]
    states: bytearray


class InputError(ValueError):
    """The input cannot be read on at all (no header, not UTF-8, broken gzip, ...)."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.problem = Problem(line, detail)


class TooLarge(ValueError):
    """More than the allowed bytes or day blocks in one batch."""


@dataclass
class ParsedBatch:
    """What a batch holds once read: its blocks (by series and day) and its problems."""

    blocks: dict[tuple[Series, date], PendingBlock] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    rows: int = 0

    def problem(self, line: int, detail: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(Problem(line, detail))


_STORED_BY_NAME = {granularity.name: granularity for granularity in STORED_GRANULARITIES}


def max_milli_values(max_per_hour: float) -> dict[Granularity, int]:
    """The largest plausible value of one slot per granularity, in milli-units, from the
    per-hour bound (a day counts 25 hours, the longest)."""
    return {
        Granularity.PT15M: int(max_per_hour * MILLI / 4),
        Granularity.PT1H: int(max_per_hour * MILLI),
        Granularity.P1D: int(max_per_hour * MILLI * 25),
    }


class BatchBuilder:
    """Collects readings into day blocks. Feed it CSV or NDJSON lines, then take
    :attr:`batch`. Not thread-safe; one builder per batch."""

    def __init__(
        self,
        *,
        now: datetime,
        max_value_per_hour: float,
        max_blocks: int,
    ) -> None:
        self.now = now
        self.max_milli = max_milli_values(max_value_per_hour)
        self.max_blocks = max_blocks
        self.batch = ParsedBatch()
        # What a distinct series, start or value resolves to; why not, apart, so the
        # per-reading path tells a known good one by a single look-up.
        self._series: dict[tuple[str, ...], Series] = {}
        self._series_problems: dict[tuple[str, ...], str] = {}
        self._times: dict[Granularity, tuple[dict[str, SlotTime], dict[str, str]]] = {
            g: ({}, {}) for g in STORED_GRANULARITIES
        }
        # P1D gas: gas days from 06:00
        self._gas_day_times: tuple[dict[str, SlotTime], dict[str, str]] = ({}, {})
        self._values: dict[str, int] = {}
        self._value_problems: dict[str, str] = {}
        # One date object per day, so consecutive readings of a block find it by identity.
        self._days: dict[date, date] = {}

    # --- per distinct series, start and value --------------------------------------------

    def _resolve_series(self, key: tuple[str, ...], line: int) -> Series | str:
        ean_raw, meter_id, direction, register, granularity, unit = key
        try:
            ean = validated(ean_raw)
        except InvalidEan as exc:
            return f"ean: {exc}"
        if len(meter_id) > 50:
            return "meter_id: at most 50 characters"
        if meter_id.strip() and not _METER_ID.fullmatch(meter_id.strip()):
            return "meter_id: letters, digits and . _ / - only, starting with a letter or digit"
        try:
            direction_code = Direction[direction]
        except KeyError:
            return f"direction: {direction!r} is not one of {', '.join(d.name for d in Direction)}"
        try:
            register_code = Register[register]
        except KeyError:
            return f"register: {register!r} is not one of {', '.join(r.name for r in Register)}"
        granularity_code = _STORED_BY_NAME.get(granularity)
        if granularity_code is None:
            return f"granularity: {granularity!r} is not one of PT15M, PT1H, P1D"
        stored_unit = UNITS.get(unit)
        if stored_unit is None:
            return f"unit: {unit!r} is not one of {', '.join(UNITS)}"
        if stored_unit is StoredUnit.varh and register_code in ACTIVE_REGISTERS:
            return f"unit: register {register} counts active energy in kWh, not kVArh"
        if stored_unit is StoredUnit.Wh and register_code not in ACTIVE_REGISTERS:
            return f"unit: register {register} counts reactive energy in kVArh, not kWh"
        if stored_unit is StoredUnit.litre and (
            register_code is not Register.total or direction_code is not Direction.offtake
        ):
            return "unit: m3 (gas) readings are offtake on register total"
        gas_days = stored_unit is StoredUnit.litre and granularity_code is Granularity.P1D
        times, time_problems = self._gas_day_times if gas_days else self._times[granularity_code]
        return Series(
            ean,
            meter_id.strip(),
            direction_code,
            register_code,
            granularity_code,
            stored_unit,
            line,
            times,
            time_problems,
            self.max_milli[granularity_code],
        )

    def _series_of(self, key: tuple[str, ...], line: int) -> Series | str:
        """:meth:`_resolve_series`, remembered (a problem apart)."""
        known = self._series_problems.get(key)
        if known is not None:
            return known
        found = self._resolve_series(key, line)
        if isinstance(found, str):
            self._series_problems[key] = found
        else:
            self._series[key] = found
        return found

    def _time_of(self, series: Series, start: str) -> SlotTime | str:
        """:meth:`_resolve_time` of a series' start, remembered (a problem apart)."""
        known = series.time_problems.get(start)
        if known is not None:
            return known
        found = self._resolve_time(
            start, series.granularity, gas_day=series.times is self._gas_day_times[0]
        )
        if isinstance(found, str):
            series.time_problems[start] = found
        else:
            series.times[start] = found
        return found

    def _value_of(self, raw: str) -> int | str:
        """:meth:`_resolve_value`, remembered (a problem apart; at most 100,000 of each)."""
        known = self._value_problems.get(raw)
        if known is not None:
            return known
        found = self._resolve_value(raw)
        remembered: dict[str, Any] = (
            self._value_problems if isinstance(found, str) else self._values
        )
        if len(remembered) > 100_000:
            remembered.clear()
        remembered[raw] = found
        return found

    def _resolve_time(
        self, start: str, granularity: Granularity, *, gas_day: bool = False
    ) -> SlotTime | str:
        """The day and slot of a start time, or why it cannot be stored (a start whose
        slot has not ended yet included)."""
        try:
            return self._slot_time(start, granularity, gas_day=gas_day)
        except OverflowError:  # a Brussels day or slot end beyond year 1 or 9999
            return f"start: {start!r} is outside the years a reading can have"

    def _slot_time(self, start: str, granularity: Granularity, *, gas_day: bool) -> SlotTime | str:
        try:
            instant = datetime.fromisoformat(start)
        except ValueError:
            return f"start: {start!r} is not an ISO 8601 date-time"
        offset = instant.utcoffset()
        if offset is None:
            return (
                f"start: {start!r} is a local time without offset; give the UTC offset "
                "(+01:00 in winter, +02:00 in summer) or Z"
            )
        local = instant.astimezone(BRUSSELS)
        if offset and offset != local.utcoffset():
            return (
                f"start: the offset of {start!r} is not Europe/Brussels's at that instant "
                f"({local.isoformat()}); a DST-ambiguous or non-existent local time"
            )
        if local.second or local.microsecond:
            return f"start: {start!r} is not on the {granularity.name} grid"
        if granularity is Granularity.PT15M and local.minute % 15:
            return f"start: {start!r} is not on the quarter-hour grid (:00, :15, :30, :45)"
        if granularity is Granularity.PT1H and local.minute:
            return f"start: {start!r} is not on the hour"
        day = local.date()
        if gas_day:
            if local.hour != GAS_DAY_HOUR or local.minute:
                return f"start: {start!r} is not 06:00 in Brussels (a P1D gas reading is a gas day)"
            slot, end = 0, gas_day_start(day + timedelta(days=1))
        elif granularity is Granularity.P1D:
            if local.hour or local.minute:
                return f"start: {start!r} is not Brussels midnight (a P1D reading starts a day)"
            slot, end = 0, day_start(day + timedelta(days=1))
        else:
            length = SLOT_LENGTH[granularity]
            slot = (instant - day_start(day)) // length
            end = instant + length
        if end > self.now:
            return f"start: {start} is in the future (the reading has not ended)"
        day = self._days.setdefault(day, day)
        return SlotTime(day, slot)

    def _resolve_value(self, raw: str) -> int | str:
        text = raw.strip()
        if not _DECIMAL.fullmatch(text):
            try:
                number = float(text)
            except ValueError:
                return f"value: {raw!r} is not a decimal number"
            if not math.isfinite(number):
                return f"value: {raw!r} is not a finite number"
            return f"value: {raw!r} is not a plain decimal number"
        number = float(text)
        if not math.isfinite(number):
            return f"value: {raw!r} is too large"
        if number < 0:
            return f"value: {raw!r} is negative"
        return round(number * MILLI)

    # --- the hot path ----------------------------------------------------------------------

    def add_rows(
        self,
        rows: Iterable[Sequence[str]],
        first_line: int,
        *,
        width: int = len(FIELDS),
        pick: Callable[[Sequence[str]], Sequence[str]] | None = None,
    ) -> None:
        """Readings, one a line from ``first_line`` on, each ``width`` fields that ``pick``
        puts in :data:`FIELDS` order (already so without ``pick``); an empty sequence is a
        blank line. Kept in one loop with local names: it runs per reading."""
        batch = self.batch
        problem = batch.problem
        blocks = batch.blocks
        series_cache = self._series
        values = self._values
        states = STATE_CODES
        last_series: Series | None = None
        last_day: date | None = None
        block: PendingBlock | None = None
        slots, codes = empty_slots(0), bytearray()  # the block's, kept in local names
        line = first_line - 1
        blank = 0
        for line, fields in enumerate(rows, first_line):
            if len(fields) != width:
                if fields and fields != [""]:
                    problem(line, f"malformed reading: {len(fields)} fields, not {width}")
                else:
                    blank += 1
                continue
            if pick is not None:
                fields = pick(fields)
            ean, meter_id, direction, register, start, granularity, value, unit, state = fields
            key = (ean, meter_id, direction, register, granularity, unit)
            series = series_cache.get(key)
            if series is None:
                found_series = self._series_of(key, line)
                if isinstance(found_series, str):
                    problem(line, found_series)
                    continue
                series = found_series
            slot_time = series.times.get(start)
            if slot_time is None:
                found_time = self._time_of(series, start)
                if isinstance(found_time, str):
                    problem(line, found_time)
                    continue
                slot_time = found_time
            milli = values.get(value)
            if milli is None:
                found_value = self._value_of(value)
                if isinstance(found_value, str):
                    problem(line, found_value)
                    continue
                milli = found_value
            if milli > series.max_milli:
                problem(
                    line,
                    f"value: {value} {unit} is implausibly large for one "
                    f"{series.granularity.name} reading",
                )
                continue
            code = states.get(state)
            if code is None:
                problem(line, f"validation_state: {state!r} is not one of READ, EST, VAL, NVAL")
                continue
            day, slot = slot_time
            if series is not last_series or day is not last_day or block is None:
                block = blocks.get((series, day))
                if block is None:
                    block = self._new_block(series, day, line)
                last_series, last_day = series, day
                slots, codes = block.slots, block.states
            if slots[slot] != GAP:
                problem(
                    line,
                    f"the reading for {start} ({series.granularity.name}) is given twice in "
                    f"this batch (the day's readings start on line {block.first_line})",
                )
                continue
            slots[slot] = milli
            codes[slot] = code
        batch.rows += line - first_line + 1 - blank

    def _new_block(self, series: Series, day: date, line: int) -> PendingBlock:
        if len(self.batch.blocks) >= self.max_blocks:
            raise TooLarge(f"more than {self.max_blocks} day blocks in one batch; split it")
        slots = expected_slots(day, series.granularity)
        block = PendingBlock(series, day, line, empty_slots(slots), bytearray(slots))
        self.batch.blocks[series, day] = block
        return block


# --- formats -----------------------------------------------------------------------------


class CsvReader:
    """CSV lines to readings: the header (first line) fixes the column order."""

    def __init__(self, builder: BatchBuilder) -> None:
        self.builder = builder
        self._pick: Callable[[Sequence[str]], Sequence[str]] | None = None
        self._width = 0
        self._canonical = True
        self.line = 0  # lines consumed so far

    def header(self, line: str) -> None:
        names = [name.strip().lower() for name in next(csv.reader([line]), [])]
        missing = [name for name in FIELDS if name not in names]
        if missing:
            raise InputError(
                1,
                f"the CSV header must name the fields {','.join(FIELDS)} "
                f"(missing: {', '.join(missing)})",
            )
        self._pick = cast(
            "Callable[[Sequence[str]], Sequence[str]]",
            itemgetter(*[names.index(name) for name in FIELDS]),
        )
        self._width = len(names)
        self._canonical = names == list(FIELDS)

    def feed(self, lines: list[str]) -> None:
        """Complete lines (without their line breaks) following those fed before."""
        if not lines:
            return
        if self._pick is None:
            self.line += 1
            self.header(lines[0].lstrip("\ufeff"))
            lines = lines[1:]
        first = self.line + 1
        self.line += len(lines)
        if any(map(contains, lines, repeat('"'))):
            rows: Iterable[Sequence[str]] = _quoted_rows(lines, first)
        else:  # no quoting anywhere: a comma always separates fields
            rows = map(str.split, lines, repeat(","))
        self.builder.add_rows(
            rows, first, width=self._width, pick=None if self._canonical else self._pick
        )

    @property
    def started(self) -> bool:
        return self._pick is not None


def _quoted_rows(lines: list[str], first: int) -> Iterator[list[str]]:
    """Rows of lines with quoted fields; a quoted field may not span lines."""
    reader = csv.reader(lines, strict=True)
    expected = 0
    try:
        for row in reader:
            expected += 1
            if reader.line_num != expected:
                raise InputError(first + expected - 1, "malformed CSV: a field spans lines")
            yield row
    except csv.Error as exc:
        raise InputError(first - 1 + reader.line_num, f"malformed CSV: {exc}") from None


class NdjsonReader:
    """NDJSON lines to readings."""

    def __init__(self, builder: BatchBuilder) -> None:
        self.builder = builder
        self.line = 0
        self.started = True

    def feed(self, lines: list[str]) -> None:
        first = self.line + 1
        self.line += len(lines)
        self.builder.add_rows(self._rows(lines, first), first)

    def _rows(self, lines: list[str], first: int) -> Iterator[Sequence[str]]:
        batch = self.builder.batch
        for line, text in enumerate(lines, start=first):
            if not text.strip():
                yield ()
                continue
            try:
                item = json.loads(text, parse_constant=_refuse_constant)
            except ValueError as exc:
                fields: tuple[str, ...] | str = f"malformed JSON: {exc}"
            except RecursionError:  # arrays or objects nested thousands deep
                fields = "malformed JSON: nested too deeply"
            else:
                fields = _ndjson_fields(item)
            if isinstance(fields, str):
                batch.rows += 1
                batch.problem(line, fields)
                yield ()
            else:
                yield fields


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _ndjson_fields(item: Any) -> tuple[str, ...] | str:
    if not isinstance(item, dict):
        return "malformed JSON: each line must be one JSON object"
    missing = [name for name in FIELDS if name not in item and name != "meter_id"]
    if missing:
        return f"missing field(s): {', '.join(missing)}"
    values: list[str] = []
    for name in FIELDS:
        value = item.get(name)
        if value is None:
            values.append("")
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            return f"{name}: must be a string or a number"
        else:
            values.append(value if isinstance(value, str) else repr(value))
    return tuple(values)


# --- bytes to lines ----------------------------------------------------------------------


class LineSplitter:
    """Bytes in (optionally gzip), complete text lines out; bounds the decoded size."""

    def __init__(self, *, gzip: bool, max_bytes: int, fingerprint: bool = False) -> None:
        self._inflate = zlib.decompressobj(wbits=31) if gzip else None
        self._decode = codecs.getincrementaldecoder("utf-8")()
        self._pending = ""
        self.max_bytes = max_bytes
        self.decoded_bytes = 0
        # SHA-256 of the uncompressed body (the batch's fingerprint), when asked for.
        self.digest = hashlib.sha256() if fingerprint else None

    def _text(self, data: bytes, final: bool) -> str:
        if self._inflate is not None:
            try:
                raw = self._inflate.decompress(data, self.max_bytes - self.decoded_bytes + 1)
                if self._inflate.unconsumed_tail:
                    raise TooLarge(f"the uncompressed body exceeds {self.max_bytes} bytes")
                if final:
                    if not self._inflate.eof:
                        raise InputError(0, "the gzip body is truncated")
                    raw += self._inflate.flush()
            except zlib.error as exc:
                raise InputError(0, f"the body is not valid gzip ({exc})") from None
        else:
            raw = data
        self.decoded_bytes += len(raw)
        if self.decoded_bytes > self.max_bytes:
            raise TooLarge(f"the uncompressed body exceeds {self.max_bytes} bytes")
        if self.digest is not None:
            self.digest.update(raw)
        try:
            return self._decode.decode(raw, final)
        except UnicodeDecodeError as exc:
            raise InputError(0, f"the body is not UTF-8 ({exc.reason})") from None

    def feed(self, data: bytes, *, final: bool = False) -> list[str]:
        text = self._pending + self._text(data, final)
        if "\r" in text:  # CRLF line ends (a CR alone at a chunk's end waits for its LF)
            text = text.replace("\r\n", "\n")
        if final:
            self._pending = ""
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            return lines
        cut = text.rfind("\n")
        if cut < 0:
            self._pending = text
            return []
        self._pending = text[cut + 1 :]
        return text[:cut].split("\n")


def read_lines(chunks: Iterable[bytes], *, gzip: bool, max_bytes: int) -> Iterator[list[str]]:
    """Complete lines of a chunked body, a list per chunk."""
    splitter = LineSplitter(gzip=gzip, max_bytes=max_bytes)
    for chunk in chunks:
        lines = splitter.feed(chunk)
        if lines:
            yield lines
    lines = splitter.feed(b"", final=True)
    if lines:
        yield lines
