"""Rules of the operator's calorific values and gas zones.

An upload is judged whole: every line is checked before anything is stored, and one bad
line refuses all (422 naming the lines). A value for a gas day may be replaced: a
predictive one (``P``) by a newer predictive, a definitive (``D``) or a constant (``C``);
a definitive or constant one only by the same kind (a correction), never by a predictive
one. Every gas block whose energy a new or changed value alters is re-sent as a correction
(:func:`datahub_api.meter_data.service.resend_gas_blocks`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from datahub_api.access_points import repository as access_points_repository
from datahub_api.access_points.ean import InvalidEan, validated
from datahub_api.access_points.models import EnergyType
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import UnprocessableContent
from datahub_api.gas_calorific import repository
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.meter_data import service as meter_data_service
from datahub_api.meter_data.series import GasFactor

VALUE_COLUMNS = ("zone", "gas_day", "kwh_per_m3", "factor")
ZONE_COLUMNS = ("ean", "zone")
FACTORS = frozenset({"P", "D", "C"})
FINAL = frozenset({"D", "C"})
MAX_LINES = 100_000
_ZONE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_VALUE = re.compile(r"^\d{1,2}(\.\d{1,5})?$")
LOWEST, HIGHEST = Decimal("5"), Decimal("15")  # kWh per m3: natural gas is 9.5-12.5


class UploadRejected(UnprocessableContent):
    code, title = "upload-rejected", "Upload refused; nothing was stored"

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        first_line, first = problems[0]
        super().__init__(
            f"{len(problems)} problem(s); nothing was stored. First: line {first_line}: {first}",
            extra={"errors": [{"line": line, "detail": detail} for line, detail in problems[:50]]},
        )


def _rows(body: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        return _read_rows(body, columns)
    except csv.Error as error:
        raise UploadRejected([(1, f"not CSV: {error}")]) from None


def _read_rows(body: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    lines = body.lstrip("\ufeff").splitlines()
    if not lines:
        raise UploadRejected([(1, f"empty; the first line names the columns {','.join(columns)}")])
    reader = csv.reader(lines)
    header = [name.strip() for name in next(reader)]
    if sorted(header) != sorted(columns):
        raise UploadRejected([(1, f"the header must name the columns {','.join(columns)}")])
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not cells or cells == [""]:
            continue
        if len(cells) != len(header):
            raise UploadRejected([(line, f"{len(cells)} fields, not {len(header)}")])
        rows.append((line, {name: cell.strip() for name, cell in zip(header, cells, strict=True)}))
    if not rows:
        raise UploadRejected([(2, "no lines after the header")])
    if len(rows) > MAX_LINES:
        raise UploadRejected([(MAX_LINES + 2, f"more than {MAX_LINES} lines")])
    return rows


@dataclass(frozen=True)
class ValuesOutcome:
    received: int
    created: int
    updated: int
    unchanged: int
    blocks_resent: int


def _parse_value(cells: Mapping[str, str]) -> tuple[str, date, Decimal, str] | str:
    zone = cells["zone"]
    if not _ZONE.match(zone):
        return "zone: 1-40 letters, digits, '_', '.' or '-'"
    try:
        day = date.fromisoformat(cells["gas_day"])
    except ValueError:
        return f"gas_day: {cells['gas_day'][:20]!r} is not a date (2024-03-30)"
    if not _VALUE.match(cells["kwh_per_m3"]):
        return "kwh_per_m3: a decimal number with at most 5 decimals (11.48213)"
    try:
        value = Decimal(cells["kwh_per_m3"])
    except InvalidOperation:
        return "kwh_per_m3: not a number"
    if not LOWEST <= value <= HIGHEST:
        return f"kwh_per_m3: {value} is not between {LOWEST} and {HIGHEST} kWh per m3"
    factor = cells["factor"]
    if factor not in FACTORS:
        return "factor: P (predictive), D (definitive) or C (constant)"
    return zone, day, value, factor


async def store_values(session: WriteSession, body: str) -> ValuesOutcome:
    """Store the uploaded calorific values (all or nothing) and re-send the gas blocks whose
    energy they change."""
    rows = _rows(body, VALUE_COLUMNS)
    problems: list[tuple[int, str]] = []
    parsed: dict[tuple[str, date], tuple[int, Decimal, str]] = {}
    for line, cells in rows:
        found = _parse_value(cells)
        if isinstance(found, str):
            problems.append((line, found))
            continue
        zone, day, value, factor = found
        if (zone, day) in parsed:
            problems.append(
                (line, f"zone {zone}, gas day {day} is also on line {parsed[zone, day][0]}")
            )
            continue
        parsed[(zone, day)] = (line, value, factor)
    stored = await repository.stored_values(session, list(parsed))
    changed: list[tuple[str, date, Decimal, str]] = []
    created = updated = unchanged = 0
    for (zone, day), (line, value, factor) in parsed.items():
        old = stored.get((zone, day))
        if old is None:
            created += 1
        elif Decimal(str(old.kwh_per_m3)) == value and old.factor == factor:
            unchanged += 1
            continue
        elif old.factor in FINAL and factor != old.factor:
            problems.append(
                (line, f"zone {zone}, gas day {day} already has a {_NAMES[old.factor]} value; "
                 f"it can only be corrected by another {_NAMES[old.factor]} one")
            )  # fmt: skip
            continue
        else:
            updated += 1
        changed.append((zone, day, value, factor))
    if problems:
        raise UploadRejected(sorted(problems))
    now = await meter_data_repository.clock(session)
    await repository.upsert_values(session, changed, now)
    resent = 0
    by_zone: dict[str, list[date]] = {}
    for zone, day, _, _ in changed:
        by_zone.setdefault(zone, []).append(day)
    for zone, days in sorted(by_zone.items()):
        eans = await repository.gas_eans_of_zone(session, zone)
        resent += await meter_data_service.resend_gas_blocks(session, eans, days)
    await session.flush()
    return ValuesOutcome(len(rows), created, updated, unchanged, resent)


_NAMES = {"D": "definitive", "C": "constant", "P": "predictive"}


async def store_zones(session: WriteSession, body: str) -> int:
    """Put gas access points in zones (all or nothing); the number of lines stored. Their
    stored gas data is not re-sent: assign zones before the values of the days they read."""
    rows = _rows(body, ZONE_COLUMNS)
    problems: list[tuple[int, str]] = []
    members: dict[str, tuple[int, str]] = {}
    for line, cells in rows:
        try:
            ean = validated(cells["ean"])
        except InvalidEan as exc:
            problems.append((line, f"ean: {exc}"))
            continue
        if not _ZONE.match(cells["zone"]):
            problems.append((line, "zone: 1-40 letters, digits, '_', '.' or '-'"))
            continue
        if ean in members:
            problems.append((line, f"ean {ean} is also on line {members[ean][0]}"))
            continue
        members[ean] = (line, cells["zone"])
    kinds = await access_points_repository.energy_types(session, list(members))
    for ean, (line, _) in members.items():
        if kinds.get(ean) is not EnergyType.gas:
            problems.append((line, f"ean: {ean} is not a registered gas access point"))
    if problems:
        raise UploadRejected(sorted(problems))
    await repository.upsert_members(session, [(ean, zone) for ean, (_, zone) in members.items()])
    await session.flush()
    return len(members)


async def factors_of(
    session: ReadSession, ean: str, first: date, end: date
) -> dict[date, GasFactor]:
    """The calorific values of an access point's gas days [first, end)."""
    zone = await repository.zone_of(session, ean)
    return {
        value.gas_day: GasFactor(Decimal(str(value.kwh_per_m3)), value.factor)
        for value in await repository.values_between(session, zone, first, end)
    }
