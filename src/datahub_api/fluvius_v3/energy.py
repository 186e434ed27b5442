"""``GET /v3/api/mandate/energy``: an access point's metering data as Fluvius's headpoint.

The data are the series of :mod:`datahub_api.meter_data.series` (the same numbers every face
serves), shaped the way the access point is metered (its registry ``metering``):

* ``metering-on-meter``: a ``physicalMeters`` entry per meter installed in the window, each
  with the series of its own readings;
* ``metering-on-headpoint``: the offtake and injection series on the headpoint itself (summed
  over the meters that measured it, e.g. across a meter exchange), and a ``subHeadpoints``
  entry per registered sub-headpoint;
* ``metering-on-headpoint-and-meter``: both.

A physical meter shows all its own readings. Beyond the meters, readings in direction
``production`` or ``auxiliary`` belong to the first sub-headpoint (by ``seqNumber``) of the
matching type (``submetering-production``, ``submetering-auxiliary``) when the access point
has one, and to the headpoint otherwise; ``submetering-offtake`` sub-headpoints are listed
without series (the head-end delivers no readings of their own).

With ``periodType=readTime`` every slot of the window appears for each meter (while it is
installed), the headpoint and each sub-headpoint: a gap is ``{"value": null, "unit": ...}``
in each register the entity has, and a slot of an entity without any series in the window has
``"measurements": []``. With ``periodType=insertTime`` the answer holds the whole days of the
blocks inserted or corrected in the period, and nothing else.

Values are the stored milli-units divided by 1000 (kWh, kVArh, m3 with three decimals), the
validation state the stored code's name (``READ``, ``EST``, ``VAL``, ``NVAL``). The body is
built as plain dicts and serialised with orjson: a month of quarter-hours is ~3000 slots a
meter, too many for a pydantic model per slot.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from datahub_api.access_points.models import AccessPoint, Metering, SubHeadpointType
from datahub_api.brussels_days import day_start
from datahub_api.db import WriteSession
from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.meter_data import reads
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction, Register, StoredUnit, ValidationState
from datahub_api.meter_data.reads import Piece, ReadGate
from datahub_api.meter_data.series import (
    UNIT_NAMES,
    ReadWindow,
    Series,
)
from datahub_api.meter_data.sums import add_readings

ENERGY_FIELDS: dict[Granularity, str] = {
    Granularity.P1D: "dailyEnergy",
    Granularity.PT1H: "hourlyEnergy",
    Granularity.PT15M: "quarterHourlyEnergy",
}
_FIELD_ORDER = tuple(ENERGY_FIELDS.values())
_STEPS: dict[Granularity, timedelta] = {
    Granularity.PT15M: timedelta(minutes=15),
    Granularity.PT1H: timedelta(hours=1),
}
_DIRECTION_NAMES = {direction: direction.name for direction in Direction}
_REGISTER_NAMES = {register: register.name for register in Register}
_STATE_NAMES: dict[int | None, str] = {state.value: state.name for state in ValidationState}
_ACTIVE_UNITS = frozenset({StoredUnit.Wh})
_REACTIVE_UNITS = frozenset({StoredUnit.varh})
_SUB_HEADPOINT_DIRECTIONS = {
    Direction.production: SubHeadpointType.production,
    Direction.auxiliary: SubHeadpointType.auxiliary,
}


def read_granularity(asked: v3.RequestedGranularity, energy_type: str) -> Granularity:
    """``hourly_quarterhourly`` is quarter-hours for electricity and hours for gas."""
    if asked is v3.RequestedGranularity.DAILY:
        return Granularity.P1D
    if energy_type == v3.EnergyType.GAS.value:
        return Granularity.PT1H
    return Granularity.PT15M


@dataclass(frozen=True)
class EnergyQuery:
    """A parsed and checked energy request (the mandates it may be read under are the
    gate's: :class:`~datahub_api.meter_data.reads.ReadGate`)."""

    period_type: v3.PeriodType
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    granularities: tuple[Granularity, ...]  # in the body's field order
    complex_energy_types: frozenset[v3.ComplexEnergyType]
    # ``readTime``: the window of each granularity, each on its own grid (Brussels days).
    read_windows: tuple[ReadWindow, ...] = ()

    def windows(self) -> list[ReadWindow]:
        """The read windows of a ``readTime`` query (checked when the query was made)."""
        if self.read_windows:
            return list(self.read_windows)
        return [ReadWindow(self.start, self.end, g) for g in self.granularities]


# --- reading ------------------------------------------------------------------------------


async def read_energy(
    session: WriteSession,
    gate: ReadGate,
    access_point: AccessPoint,
    query: EnergyQuery,
    *,
    fetch_time: datetime | None = None,
) -> bytes:
    """The JSON body for ``query`` (read through the service, each granularity's read
    recorded). ``access_point`` comes with its meters and sub-headpoints loaded."""
    gas = access_point.energy_type.value == v3.EnergyType.GAS.value
    if query.period_type is v3.PeriodType.INSERT_TIME:
        read = await reads.inserted_pieces(
            session, gate, query.start, query.end, query.granularities, gas=gas
        )
        fill_gaps = False
    else:
        read = await reads.read_time_pieces(session, gate, query.windows(), gas=gas)
        fill_gaps = True
    meters = meters_in(access_point, read.days)
    headpoint = HeadpointBuilder(
        access_point,
        meters,
        query.granularities,
        wanted_units(query.complex_energy_types, access_point.energy_type.value),
        fill_gaps=fill_gaps,
    )
    for piece in read.pieces:
        headpoint.add(piece)
    return energy_json(headpoint.body(), fetch_time=fetch_time)


@dataclass(frozen=True)
class MeterSpan:
    """A physical meter and when it was installed (UTC instants; None = open)."""

    seq_number: str | None
    meter_id: str
    installed_from: datetime | None
    installed_to: datetime | None


def meters_in(access_point: AccessPoint, span: tuple[date, date]) -> list[MeterSpan]:
    """The meters installed on a day of ``span`` (Brussels days, end exclusive), by sequence
    number and install date (the access point's meters must be loaded)."""
    if access_point.metering is Metering.on_headpoint:
        return []
    first, end = span
    installed = [
        meter
        for meter in access_point.physical_meters
        if meter.installed_from < end and (meter.installed_to is None or meter.installed_to > first)
    ]
    return [
        MeterSpan(
            meter.seq_number,
            meter.meter_id,
            day_start(meter.installed_from),
            day_start(meter.installed_to) if meter.installed_to else None,
        )
        for meter in sorted(installed, key=lambda m: (m.seq_number, m.installed_from))
    ]


def wanted_units(kinds: frozenset[v3.ComplexEnergyType], energy_type: str) -> frozenset[StoredUnit]:
    """The stored units ``complexEnergyTypes`` asks for (all of them for gas)."""
    if energy_type == v3.EnergyType.GAS.value:
        return frozenset(StoredUnit)
    units: set[StoredUnit] = {StoredUnit.litre}
    if v3.ComplexEnergyType.ACTIVE in kinds:
        units |= _ACTIVE_UNITS
    if v3.ComplexEnergyType.REACTIVE in kinds:
        units |= _REACTIVE_UNITS
    return frozenset(units)


# --- shaping ------------------------------------------------------------------------------


def bucket_edges(window: ReadWindow) -> list[datetime]:
    """The start of every bucket of ``window`` and the end of the last (UTC instants)."""
    step = _STEPS.get(window.granularity)
    if step is not None:
        start = window.start.astimezone(UTC)
        return [start + index * step for index in range(window.bucket_count() + 1)]
    if window.granularity is Granularity.P1D:
        bounds = list(window.bucket_bounds())
        return [start for start, _ in bounds] + [bounds[-1][1]] if bounds else [window.start]
    raise ValueError(f"Fluvius has no {window.granularity.value} energy")


@dataclass
class Column:
    """One register of one direction over a window's buckets (values in milli-units);
    ``conversion``: the gas conversion factor per bucket of gas energy (kWh from m3)."""

    direction: str
    register: str
    unit: str
    values: list[int | None]
    states: list[int | None]
    conversion: list[str | None] | None = None


def _columns(series: Sequence[Series]) -> list[Column]:
    """Series of one window as columns, those of the same direction, register and unit
    summed (several meters of one headpoint: a bucket holds the sum of the values present
    and the worst state)."""
    by_key: dict[tuple[Direction, Register, int, bool], Column] = {}
    for one in series:
        key = (one.key.direction, one.key.register, one.unit, one.conversion is not None)
        column = by_key.get(key)
        if column is None:
            by_key[key] = Column(
                _DIRECTION_NAMES[one.key.direction],
                _REGISTER_NAMES[one.key.register],
                UNIT_NAMES[one.unit],
                one.values,
                one.states,
                one.conversion,
            )
            continue
        values, states = list(column.values), list(column.states)
        add_readings(values, states, zip(itertools.count(), one.values, one.states))
        column.values, column.states = values, states
    return [by_key[key] for key in sorted(by_key)]


def time_slices(
    edges: Sequence[datetime],
    columns: Sequence[Column],
    indexes: Iterable[int],
    *,
    with_factor: bool = True,
) -> list[dict[str, Any]]:
    """``MeasurementTimeSlice`` dicts of the buckets ``indexes``: every register of
    ``columns`` in each (``"value": null`` for a gap), ``"measurements": []`` without
    columns. Gas has two measurements per slice, as Fluvius's: the m3, then the kWh with
    its ``gasConversionFactor`` (left out with ``with_factor=False``)."""
    gaps: list[dict[str, Any]] = [{"value": None, "unit": column.unit} for column in columns]
    plan = [
        (
            int(column.conversion is not None),
            column.direction,
            column.register,
            column.unit,
            column.values,
            column.states,
            column.conversion if with_factor else None,
            gap,
        )
        for column, gap in zip(columns, gaps, strict=True)
    ]
    entries = 1 + max((entry for entry, *_ in plan), default=0)
    states = _STATE_NAMES
    slices: list[dict[str, Any]] = []
    append = slices.append
    for index in indexes:
        measurements: list[dict[str, dict[str, Any]]] = [{} for _ in range(entries)]
        for entry, direction, register, unit, values, codes, conversion, gap in plan:
            value = values[index]
            cell: dict[str, Any]
            if value is None:
                cell = gap
            else:
                cell = {"value": value / 1000, "unit": unit}
                state = states.get(codes[index])
                if state is not None:
                    cell["validationState"] = state
                if conversion is not None and conversion[index] is not None:
                    cell["gasConversionFactor"] = conversion[index]
            directions = measurements[entry]
            registers = directions.get(direction)
            if registers is None:
                directions[direction] = {register: cell}
            else:
                registers[register] = cell
        append(
            {
                "start": edges[index],
                "end": edges[index + 1],
                "measurements": [one for one in measurements if one],
            }
        )
    return slices


@dataclass
class _Entity:
    """A physical meter, the headpoint or a sub-headpoint being filled."""

    head: dict[str, Any]
    installed_from: datetime | None = None
    installed_to: datetime | None = None
    energy: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    meter: bool = False

    def indexes(self, edges: Sequence[datetime]) -> Iterable[int]:
        count = len(edges) - 1
        if self.installed_from is None and self.installed_to is None:
            return range(count)
        low, high = self.installed_from, self.installed_to
        return [
            index
            for index in range(count)
            if (low is None or edges[index] >= low) and (high is None or edges[index] < high)
        ]

    def add(self, window: ReadWindow, edges: Sequence[datetime], columns: list[Column]) -> None:
        name = ENERGY_FIELDS[window.granularity]
        if not self.meter and any(column.conversion is not None for column in columns):
            # Gas on a headpoint: energy only, without the factor (it is for meters).
            columns = [column for column in columns if column.conversion is not None]
            slices = time_slices(edges, columns, self.indexes(edges), with_factor=False)
        else:
            slices = time_slices(edges, columns, self.indexes(edges))
        self.energy.setdefault(name, []).extend(slices)

    def as_dict(self) -> dict[str, Any]:
        body = dict(self.head)
        for name in _FIELD_ORDER:
            if name in self.energy:
                body[name] = self.energy[name]
        return body


class HeadpointBuilder:
    """Routes each series to the meter, headpoint or sub-headpoint it belongs to, and
    collects their time slices."""

    def __init__(
        self,
        access_point: AccessPoint,
        meters: Sequence[MeterSpan],
        granularities: Sequence[Granularity],
        units: frozenset[StoredUnit],
        *,
        fill_gaps: bool,
    ) -> None:
        self.access_point = access_point
        self.metering = access_point.metering
        self.units = units
        self.fill_gaps = fill_gaps
        self.meters: dict[str, _Entity] = {}
        for meter in meters:
            if meter.meter_id in self.meters:  # installed twice: the whole window
                entity = self.meters[meter.meter_id]
                entity.installed_from = entity.installed_to = None
                continue
            self.meters[meter.meter_id] = _Entity(
                {"seqNumber": meter.seq_number, "meterID": meter.meter_id},
                meter.installed_from,
                meter.installed_to,
                meter=True,
            )
        self.headpoint = _Entity({})
        self.sub_headpoints: list[_Entity] = []
        self.sub_by_direction: dict[Direction, _Entity] = {}
        if self.metering is not Metering.on_meter:
            for sub in sorted(access_point.sub_headpoints, key=lambda s: s.seq_number):
                head: dict[str, Any] = {"$type": sub.type.value}
                for name, value in (
                    ("ean", sub.ean),
                    ("seqNumber", sub.seq_number),
                    ("vregId", sub.vreg_id),
                    ("type", sub.installation_type),
                ):
                    if value is not None:
                        head[name] = value
                entity = _Entity(head)
                self.sub_headpoints.append(entity)
                for direction, kind in _SUB_HEADPOINT_DIRECTIONS.items():
                    if sub.type is kind and direction not in self.sub_by_direction:
                        self.sub_by_direction[direction] = entity
        self.granularities = tuple(granularities)
        for entity in self._entities():
            entity.energy = {ENERGY_FIELDS[g]: [] for g in self.granularities}

    def _entities(self) -> list[_Entity]:
        entities = list(self.meters.values()) if self.metering is not Metering.on_headpoint else []
        if self.metering is not Metering.on_meter:
            entities.append(self.headpoint)
            entities.extend(self.sub_headpoints)
        return entities

    def _meter(self, meter_id: str) -> _Entity:
        entity = self.meters.get(meter_id)
        if entity is None:  # readings of a meter no longer in the registry
            entity = self.meters[meter_id] = _Entity({"meterID": meter_id}, meter=True)
            entity.energy = {ENERGY_FIELDS[g]: [] for g in self.granularities}
        return entity

    def _targets(self, series: Series) -> list[_Entity]:
        sub = self.sub_by_direction.get(series.key.direction)
        if self.metering is Metering.on_meter:
            return [self._meter(series.key.meter_id)]
        if self.metering is Metering.on_headpoint:
            return [sub or self.headpoint]
        return [self._meter(series.key.meter_id), sub or self.headpoint]

    def add(self, piece: Piece) -> None:
        routed: dict[int, list[Series]] = {}
        for series in piece.series:
            if series.unit not in self.units:
                continue
            for entity in self._targets(series):
                routed.setdefault(id(entity), []).append(series)
        edges_of: dict[ReadWindow, list[datetime]] = {}

        def edges(window: ReadWindow) -> list[datetime]:
            found = edges_of.get(window)
            if found is None:
                found = edges_of[window] = bucket_edges(window)
            return found

        for entity in self._entities():
            own = routed.get(id(entity), [])
            if not own:
                if self.fill_gaps:
                    entity.add(piece.window, edges(piece.window), [])
                continue
            groups: dict[ReadWindow, list[Series]] = {}
            for one in own:  # a series stored only coarser than asked has its own window
                groups.setdefault(one.window, []).append(one)
            for window, members in groups.items():
                entity.add(window, edges(window), _columns(members))

    def body(self) -> dict[str, Any]:
        """The ``headpoint`` object, ``$type`` first."""
        access_point = self.access_point
        body: dict[str, Any] = {
            "$type": self.metering.value,
            "ean": access_point.ean,
            "energyType": access_point.energy_type.value,
        }
        if self.metering is not Metering.on_headpoint:
            body["physicalMeters"] = [
                {k: v for k, v in meter.as_dict().items() if v is not None}
                for meter in self.meters.values()
            ]
        if self.metering is not Metering.on_meter:
            body.update(self.headpoint.as_dict())
            body["subHeadpoints"] = [sub.as_dict() for sub in self.sub_headpoints]
        return body


def energy_json(headpoint: dict[str, Any], *, fetch_time: datetime | None = None) -> bytes:
    """``GetEnergyResponseApiDataResponse`` as JSON: instants in UTC with ``Z``, whole
    seconds."""
    fetched = (fetch_time or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return orjson.dumps(
        {"data": {"headpoint": headpoint}, "_meta": {"fetchTime": fetched}},
        option=orjson.OPT_UTC_Z,
    )
