"""Demo meter data: believable synthetic series for the demo access points, bulk-loaded.

For ``days`` Brussels days ending yesterday, for every communicating digital meter and every
GVM headpoint: households (night base load, morning and evening peaks, weekends, more
light in winter), PV injection where a household has panels (sun by season and hour,
weather by day and passing clouds), a few heat pumps (heating degree-hours), gas per hour in
m3, GVM businesses per quarter-hour (office hours, weekends). The deliveries are not
perfect: some days never arrive, some blocks have gaps, some days arrive late (insert time
days after the day), and some days were estimated first and corrected by reads later
(version 2, the estimate in the history). Complete days are validated later (a new version
with every value ``VAL``, the read one in the history): mostly 4-12 days after the day, some
16-35 days after (late for the NPS historical-data level of 15 days). Days whose delivery
lies in the future are left out, so the last day or two are partly missing, as they would
be, and the last days are not validated yet.

Vectorised with numpy per series and loaded with ``COPY``; deterministic for the seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from datahub_api.access_points.models import AccessPoint, EnergyType, MeterType
from datahub_api.access_points.repository import AccessPointFilter, list_page
from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.db import WriteSession
from datahub_api.demo.world import DemoWorldBuilder
from datahub_api.errors import DatahubError
from datahub_api.meter_data import repository
from datahub_api.meter_data.blocks import BlockRecord, expected_slots, pack_array
from datahub_api.meter_data.channels import NATIVE
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import (
    BLOCKS_TABLE,
    GRANULARITY_CODE,
    HISTORY_TABLE,
    Direction,
    Register,
    StoredUnit,
    ValidationState,
)
from datahub_api.meter_data.reads import authorize_and_record
from datahub_api.meter_data.series import ReadWindow
from datahub_api.meter_data.service import prepare_partitions
from datahub_api.organisations import repository as organisations_repository

Array = npt.NDArray[Any]
QUARTER = 900  # seconds
HOUR = 3600
PV_SHARE = 0.35  # households with solar panels
HEAT_PUMP_SHARE = 0.08
# Rates tuned so the demo's API service level is about 97-99% (SLA tracker), with one
# month (about 45 days back) that misses the 95% target.
MISSING_DAY = 0.003  # a day that never arrives
GAPPY_BLOCK = 0.005  # a block with a few slots missing
LATE_BLOCK = 0.012  # delivered 3-10 days after the day
BAD_MONTH_LATE_BLOCK = 0.05  # the same, in the demo's bad month
BAD_MONTH_DAYS_BACK = 45  # the bad month is the one holding this day before yesterday
CORRECTED_BLOCK = 0.025  # estimated first, read later
# Validation (the NPS historical-data level, 15 days): about 96-98% in time, and the bad
# month misses the 95% target there too.
LATE_VALIDATION = 0.025  # validated 16-35 days after the day
BAD_MONTH_LATE_VALIDATION = 0.08


@dataclass
class Timeline:
    """Every slot of the demo period at one granularity, with what the profiles need."""

    days: list[date]
    bounds: Array  # slot index at which each day starts (len(days) + 1 entries)
    utc_hours: Array  # hour of the UTC day, fractional, at the slot's middle
    local_hours: Array  # Brussels clock hour (what the households live by), fractional
    day_of_year: Array
    weekend: Array  # bool
    day_index: Array  # which of ``days``

    @classmethod
    def build(cls, first: date, last: date, step: int) -> Timeline:
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        granularity = Granularity.PT15M if step == QUARTER else Granularity.PT1H
        counts = np.array([expected_slots(day, granularity) for day in days])
        bounds = np.concatenate([[0], np.cumsum(counts)])
        start = day_start(first).timestamp()
        seconds = start + step * (np.arange(bounds[-1]) + 0.5)
        day_index = np.repeat(np.arange(len(days)), counts)
        summer = np.zeros(seconds.size, dtype=bool)
        for year in range(first.year, last.year + 1):
            begins, ends = _summer_time(year)
            summer |= (seconds >= begins) & (seconds < ends)
        clock = ((seconds + np.where(summer, 2 * HOUR, HOUR)) % 86400) / HOUR
        return cls(
            days=days,
            bounds=bounds,
            utc_hours=(seconds % 86400) / HOUR,
            local_hours=clock,
            day_of_year=np.array([day.timetuple().tm_yday for day in days])[day_index],
            weekend=np.array([day.weekday() >= 5 for day in days])[day_index],
            day_index=day_index,
        )


def _summer_time(year: int) -> tuple[float, float]:
    """The UTC instants (epoch seconds) at which summer time begins and ends: 01:00 UTC on
    the last Sundays of March and October."""
    march = max(date(year, 3, d) for d in range(25, 32) if date(year, 3, d).weekday() == 6)
    october = max(date(year, 10, d) for d in range(25, 32) if date(year, 10, d).weekday() == 6)
    return (
        datetime.combine(march, time(1), tzinfo=UTC).timestamp(),
        datetime.combine(october, time(1), tzinfo=UTC).timestamp(),
    )


def _whole(values: Array) -> Array:
    """Rounded to whole milli-units."""
    return np.asarray(np.rint(values), dtype=np.int64)


def _season(day_of_year: Array) -> Array:
    """1 at midwinter (late December), -1 at midsummer."""
    return np.cos(2 * math.pi * (day_of_year + 10) / 365.25)


class Profiles:
    """Synthetic series in the stored milli-units (Wh, litres), -1 for nothing measured."""

    def __init__(self, rng: np.random.Generator, quarter: Timeline, hour: Timeline) -> None:
        self.rng = rng
        self.quarter = quarter
        self.hour = hour
        days = len(quarter.days)
        # One weather for everyone: daily temperature and cloudiness with memory.
        season = _season(np.array([day.timetuple().tm_yday for day in quarter.days]))
        noise = np.zeros(days)
        for n in range(1, days):
            noise[n] = 0.7 * noise[n - 1] + rng.normal(0, 2.2)
        self.temperature = 11 - 7.5 * season + noise  # degrees C, daily mean
        clouds = np.zeros(days)
        for n in range(1, days):
            clouds[n] = 0.6 * clouds[n - 1] + rng.normal(0, 0.6)
        self.clearness = 1 / (1 + np.exp(-(clouds + 0.3 - 0.5 * season)))  # 0 dull - 1 clear

    def household(self, heat_pump: bool) -> Array:
        t, rng = self.quarter, self.rng
        hours = t.local_hours
        yearly_kwh = rng.uniform(2200, 5200)
        morning = np.exp(-(((hours - rng.uniform(6.8, 8.2)) / 1.0) ** 2))
        evening = np.exp(-(((hours - rng.uniform(18.5, 20.5)) / 1.8) ** 2))
        midday = np.exp(-(((hours - 13) / 2.5) ** 2)) * np.where(t.weekend, 1.0, 0.25)
        shape = 0.45 + 0.9 * morning + 1.6 * evening + 0.8 * midday
        shape *= 1 + 0.25 * _season(t.day_of_year) * (evening + morning)
        load = shape / shape.mean() * yearly_kwh * 1000 / (365.25 * 96)
        load *= rng.lognormal(0, 0.35, load.size)
        spikes = rng.random(load.size) < 0.02
        load[spikes] += rng.uniform(150, 600, spikes.sum())
        if heat_pump:
            degrees = np.maximum(0, 16 - self.temperature[t.day_index])
            load += degrees * rng.uniform(45, 80) * (0.7 + 0.3 * np.sin(hours / 24 * 2 * math.pi))
        return _whole(load)

    def solar(self) -> Array:
        """PV production per quarter-hour in Wh."""
        t, rng = self.quarter, self.rng
        kwp = rng.uniform(2.5, 8)
        season = _season(t.day_of_year)
        daylight = 12.2 - 4.3 * season  # hours of sun in Belgium
        noon = 11.75  # UTC solar noon at 4.5 degrees east
        phase = (t.utc_hours - (noon - daylight / 2)) / daylight
        sun = np.where((phase > 0) & (phase < 1), np.sin(np.pi * np.clip(phase, 0, 1)), 0) ** 1.4
        peak = 0.95 - 0.55 * (season + 1) / 2  # kW per kWp at noon: summer 0.95, winter 0.4
        clear = self.clearness[t.day_index] * rng.uniform(0.75, 1.0, t.utc_hours.size)
        production = kwp * 250 * peak * sun * (0.15 + 0.85 * clear)
        return _whole(production)

    def gas(self) -> Array:
        """Gas per hour in litres."""
        t, rng = self.hour, self.rng
        hours = t.local_hours
        degrees = np.maximum(0, 17 - self.temperature[t.day_index])
        heating = degrees * rng.uniform(9, 16) * np.where((hours > 6) & (hours < 23), 1.3, 0.45)
        water = 45 * (np.exp(-(((hours - 7.5) / 0.8) ** 2)) + np.exp(-(((hours - 21) / 1.2) ** 2)))
        litres = (heating + water + 6) * rng.lognormal(0, 0.25, hours.size)
        return _whole(litres)

    def business(self) -> Array:
        """A GVM headpoint: offices or a workshop, per quarter-hour in Wh."""
        t, rng = self.quarter, self.rng
        hours = t.local_hours
        base = rng.uniform(4_000, 25_000)
        open_hours = (hours > rng.uniform(6.5, 8)) & (hours < rng.uniform(17, 19.5)) & ~t.weekend
        load = base * (1 + np.where(open_hours, rng.uniform(2, 5), 0))
        load *= rng.lognormal(0, 0.08, load.size)
        return _whole(load)


# --- from series to stored rows ----------------------------------------------------------


@dataclass(frozen=True)
class DemoSeries:
    ean: str
    meter_id: str
    direction: Direction
    granularity: Granularity
    unit: StoredUnit
    values: Array  # the whole timeline of its granularity, -1 where nothing was measured
    days: list[bool]  # which days of the timeline are delivered


READ = bytes([ValidationState.READ])
EST = bytes([ValidationState.EST])
VAL = bytes([ValidationState.VAL])


def _delivery(day: date, late: bool, days_draw: float, minutes_draw: float) -> datetime:
    """When a day's data reached the hub: early next morning, or 3-10 days later."""
    after = timedelta(days=3 + int(days_draw * 8)) if late else timedelta(days=1)
    return day_start(day) + after + timedelta(minutes=60 + int(minutes_draw * 300))


def _validation(day: date, late: bool, days_draw: float, minutes_draw: float) -> datetime:
    """When a day's values were validated: 4-12 days after the day, or 16-35 when late."""
    after = 16 + int(days_draw * 20) if late else 4 + int(days_draw * 9)
    return day_start(day) + timedelta(days=after, minutes=int(minutes_draw * 12 * 60))


# Random draws per day, all made before anything is decided: a day that is skipped (not yet
# delivered at ``now``, say) takes as many draws as one that is not, so the world depends on
# the seed alone and not on the time of day it is built.
DRAWS_PER_DAY = 13


def block_rows(
    series: DemoSeries,
    timeline: Timeline,
    rng: np.random.Generator,
    now: datetime,
    bad_month: tuple[int, int] | None = None,
) -> Iterator[tuple[BlockRecord, list[tuple[BlockRecord, datetime]]]]:
    """(block, its superseded versions with when each was superseded, oldest first) per
    delivered day; days of ``bad_month`` (year, month) arrive and are validated late more
    often."""
    all_draws = rng.random((len(timeline.days), DRAWS_PER_DAY))
    for index, day in enumerate(timeline.days):
        u = all_draws[index]
        if not series.days[index] or u[0] < MISSING_DAY:
            continue
        values = series.values[timeline.bounds[index] : timeline.bounds[index + 1]].copy()
        if u[1] < GAPPY_BLOCK:
            start = int(u[2] * len(values))
            values[start : start + 1 + int(u[3] * 8)] = -1
        present = values >= 0
        if not present.any():
            continue
        bad = (day.year, day.month) == bad_month
        late_share = BAD_MONTH_LATE_BLOCK if bad else LATE_BLOCK
        inserted = _delivery(day, u[4] < late_share, u[5], u[6])
        if inserted > now:
            continue
        expected, filled = len(values), int(present.sum())
        completed = inserted if filled == expected else None
        # Versions as (written at, packed values, packed states), oldest first.
        versions: list[tuple[datetime, bytes, bytes]] = []
        corrected_at = inserted + timedelta(days=2 + int(u[8] * 4))
        if u[7] < CORRECTED_BLOCK and corrected_at <= now:
            estimate = np.where(present, np.rint(values * (0.8 + 0.4 * u[9])), -1)
            versions.append((inserted, pack_array(estimate.astype(np.int64)), EST))
            versions.append((corrected_at, pack_array(values), READ))
        else:
            versions.append((inserted, pack_array(values), READ))
        late_validation = BAD_MONTH_LATE_VALIDATION if bad else LATE_VALIDATION
        validated_at = max(
            _validation(day, u[10] < late_validation, u[11], u[12]),
            versions[-1][0] + timedelta(hours=6),
        )
        validated = completed is not None and validated_at <= now
        if validated:
            versions.append((validated_at, versions[-1][1], VAL))
        written, packed_values, states = versions[-1]
        record = BlockRecord(
            series.ean, series.meter_id, int(series.direction), int(Register.total),
            GRANULARITY_CODE[series.granularity], day, int(series.unit), expected, filled,
            len(versions), inserted, written, completed, validated_at if validated else None,
            packed_values, states,
        )  # fmt: skip
        history = [
            (
                record._replace(
                    version=number,
                    last_inserted_at=written,
                    validated_at=None,
                    packed_values=packed_values,
                    packed_states=states,
                ),
                versions[number][0],
            )
            for number, (written, packed_values, states) in enumerate(versions[:-1], start=1)
        ]
        yield record, history


# --- the seeder --------------------------------------------------------------------------


def _delivered_days(point: AccessPoint, meter_id: str, timeline: Timeline) -> list[bool]:
    meter = next(m for m in point.physical_meters if m.meter_id == meter_id)
    periods = [(p.valid_from, p.valid_to) for p in point.communication_periods]
    needs_communication = point.meter_type is MeterType.digital
    days = []
    for day in timeline.days:
        installed = meter.installed_from <= day and (
            meter.installed_to is None or day < meter.installed_to
        )
        talking = not needs_communication or any(
            start <= day and (end is None or day < end) for start, end in periods
        )
        days.append(installed and talking)
    return days


def _current_meter(point: AccessPoint) -> str | None:
    meters = sorted(point.physical_meters, key=lambda m: m.installed_from)
    return meters[-1].meter_id if meters else None


def plan_series(
    points: Sequence[AccessPoint], profiles: Profiles, rng: np.random.Generator
) -> Iterator[DemoSeries]:
    """The demo series: digital meters that communicate (some time in the period) and GVM
    headpoints; analogue household meters have no interval data."""
    quarter, hour = profiles.quarter, profiles.hour
    for point in points:
        meter_id = _current_meter(point)
        if meter_id is None:
            continue
        if point.gvm and point.energy_type is EnergyType.electricity:
            days = _delivered_days(point, meter_id, quarter)
            yield DemoSeries(
                point.ean, meter_id, Direction.offtake, Granularity.PT15M, StoredUnit.Wh,
                profiles.business(), days,
            )  # fmt: skip
            continue
        if point.meter_type is not MeterType.digital or not point.communication_periods:
            continue
        if point.energy_type is EnergyType.gas:
            days = _delivered_days(point, meter_id, hour)
            yield DemoSeries(
                point.ean, meter_id, Direction.offtake, Granularity.PT1H, StoredUnit.litre,
                profiles.gas(), days,
            )  # fmt: skip
            continue
        days = _delivered_days(point, meter_id, quarter)
        load = profiles.household(heat_pump=rng.random() < HEAT_PUMP_SHARE)
        if rng.random() < PV_SHARE:
            solar = profiles.solar()
            offtake, injection = np.maximum(load - solar, 0), np.maximum(solar - load, 0)
            yield DemoSeries(
                point.ean, meter_id, Direction.injection, Granularity.PT15M, StoredUnit.Wh,
                injection, days,
            )  # fmt: skip
        else:
            offtake = load
        yield DemoSeries(
            point.ean, meter_id, Direction.offtake, Granularity.PT15M, StoredUnit.Wh,
            offtake, days,
        )  # fmt: skip


async def _copy_blocks(
    session: WriteSession,
    blocks: list[BlockRecord],
    history: list[tuple[int, tuple[BlockRecord, datetime]]],
) -> None:
    """Write generated day blocks and their superseded versions (``history``: the index of
    the block in ``blocks``, then the old version and when it was superseded) with COPY,
    under fresh block ids."""
    ids = await repository.reserve_block_ids(session, len(blocks))
    await repository.copy_rows(
        session,
        BLOCKS_TABLE,
        repository.BULK_BLOCK_COLUMNS,
        ((block_id, *row) for block_id, row in zip(ids, blocks, strict=True)),
    )
    await repository.copy_rows(
        session,
        HISTORY_TABLE,
        repository.HISTORY_COLUMNS,
        ((ids[index], *old, superseded) for index, (old, superseded) in history),
    )


POINTS_PER_COPY = 2_000
"""Access points whose day blocks are generated and copied at a time: the builder's memory
stays flat however many access points the demo world has."""


@dataclass
class DemoDaysTally:
    """What :func:`write_demo_days` stored."""

    day_blocks: int = 0
    corrected_blocks: int = 0
    validated_blocks: int = 0


def page_blocks(
    points: Sequence[AccessPoint],
    profiles: Profiles,
    rng: np.random.Generator,
    now: datetime,
    bad_month: tuple[int, int],
) -> tuple[list[BlockRecord], list[tuple[int, tuple[BlockRecord, datetime]]]]:
    """The day blocks of ``points`` and their superseded versions (as :func:`_copy_blocks`
    takes them). The random draws follow the points in order, so consecutive pages draw
    what one page of them all would."""
    blocks: list[BlockRecord] = []
    history: list[tuple[int, tuple[BlockRecord, datetime]]] = []
    for series in plan_series(points, profiles, rng):
        timeline = profiles.hour if series.granularity is Granularity.PT1H else profiles.quarter
        for row, superseded in block_rows(series, timeline, rng, now, bad_month):
            blocks.append(row)
            history.extend((len(blocks) - 1, version) for version in superseded)
    return blocks, history


async def write_demo_days(
    session: WriteSession,
    rng: np.random.Generator,
    first: date,
    last: date,
    now: datetime,
    *,
    points_per_copy: int = POINTS_PER_COPY,
) -> DemoDaysTally:
    """Day blocks for every access point, days ``first`` to ``last`` as delivered by
    ``now``: generated and copied one page of ``points_per_copy`` access points (by EAN) at
    a time. The same ``rng`` state gives the same blocks, in the same order and under
    consecutive ids, whatever the page size."""
    profiles = Profiles(
        rng, Timeline.build(first, last, QUARTER), Timeline.build(first, last, HOUR)
    )
    bad = last - timedelta(days=BAD_MONTH_DAYS_BACK)
    connection = await session.connection()
    await repository.create_partitions(connection, range(first.year, last.year + 1))
    tally = DemoDaysTally()
    after: str | None = None
    while True:
        points = await list_page(
            session, after_ean=after, limit=points_per_copy, where=AccessPointFilter()
        )
        if not points:
            break
        after = points[-1].ean
        blocks, history = page_blocks(points, profiles, rng, now, (bad.year, bad.month))
        if blocks:
            await _copy_blocks(session, blocks, history)
        tally.day_blocks += len(blocks)
        tally.corrected_blocks += sum(1 for _, (old, _) in history if old.packed_states == EST)
        tally.validated_blocks += sum(1 for block in blocks if block.validated_at is not None)
        if len(points) < points_per_copy:
            break
    return tally


async def seed_meter_data(session: WriteSession, world: DemoWorldBuilder) -> None:
    """Day blocks (and a few superseded versions) for the demo access points."""
    last = today_in_brussels() - timedelta(days=1)
    first = last - timedelta(days=world.parameters.days - 1)
    rng = np.random.default_rng(world.rng.getrandbits(64))
    tally = await write_demo_days(session, rng, first, last, datetime.now(UTC))
    world.credentials["meter_data"] = {
        "days": f"{first}..{last}",
        "day_blocks": tally.day_blocks,
        "corrected_blocks": tally.corrected_blocks,
        "validated_blocks": tally.validated_blocks,
    }


# --- a sandbox test EAN's synthetic access point ----------------------------------------


def _per_day(values: Array, timeline: Timeline) -> tuple[Array, Timeline]:
    """Quarter-hour values summed per Brussels day, with the timeline of those days."""
    daily = np.add.reduceat(values, timeline.bounds[:-1])
    count = len(timeline.days)
    days = Timeline(
        days=timeline.days,
        bounds=np.arange(count + 1),
        utc_hours=np.zeros(count),
        local_hours=np.zeros(count),
        day_of_year=timeline.day_of_year[timeline.bounds[:-1]],
        weekend=timeline.weekend[timeline.bounds[:-1]],
        day_index=np.arange(count),
    )
    return daily, days


async def seed_sandbox_point(
    session: WriteSession,
    point: AccessPoint,
    *,
    first: date,
    last: date,
    injection: bool,
    daily: bool,
    seed: int,
) -> int:
    """Demo-world data for the synthetic access point of a sandbox test EAN (see
    :mod:`datahub_api.access_points.sandbox`), days ``first`` to ``last``: a household
    (with solar panels when ``injection``) per quarter-hour, or per day when ``daily``;
    gas per hour. Deterministic for ``seed``; the imperfections of the demo world
    included. Returns the number of day blocks stored."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    profiles = Profiles(
        rng, Timeline.build(first, last, QUARTER), Timeline.build(first, last, HOUR)
    )
    meter_id = point.physical_meters[0].meter_id
    every_day = [True] * len(profiles.quarter.days)
    planned: list[tuple[DemoSeries, Timeline]] = []
    if point.energy_type is EnergyType.gas:
        planned.append((
            DemoSeries(point.ean, meter_id, Direction.offtake, Granularity.PT1H, StoredUnit.litre,
                       profiles.gas(), every_day),
            profiles.hour,
        ))  # fmt: skip
    else:
        load = profiles.household(heat_pump=False)
        flows = {Direction.offtake: load}
        if injection:
            solar = profiles.solar()
            flows = {
                Direction.offtake: np.maximum(load - solar, 0),
                Direction.injection: np.maximum(solar - load, 0),
            }
        for direction, values in flows.items():
            timeline, granularity = profiles.quarter, Granularity.PT15M
            if daily:
                values, timeline = _per_day(values, timeline)
                granularity = Granularity.P1D
            planned.append((
                DemoSeries(point.ean, meter_id, direction, granularity, StoredUnit.Wh, values,
                           every_day),
                timeline,
            ))  # fmt: skip
    blocks: list[BlockRecord] = []
    history: list[tuple[int, tuple[BlockRecord, datetime]]] = []
    for series, timeline in planned:
        for row, superseded in block_rows(series, timeline, rng, now):
            blocks.append(row)
            history.extend((len(blocks) - 1, version) for version in superseded)
    if not blocks:
        return 0
    await prepare_partitions(session, set(range(first.year, last.year + 1)))
    await _copy_blocks(session, blocks, history)
    return len(blocks)


async def seed_featured_reads(session: WriteSession, world: DemoWorldBuilder) -> None:
    """The welcome's customer finds reads in "who read my data": each demo ESP with a
    mandate on their access point reads each of the last week's days through the read gate
    (quarter-hours where its mandate allows them, else days), as its backend would."""
    featured = world.credentials.get("featured_customer")
    if featured is None:
        return
    yesterday = today_in_brussels() - timedelta(days=1)
    for esp in world.credentials.get("esps", []):
        organisation = await organisations_repository.get_by_enterprise_number(
            session, esp["enterprise_number"]
        )
        if organisation is None:
            continue
        reader = Principal(
            subject=f"demo:{esp['name']}",
            role=Role.esp,
            scopes=ESP_SCOPES,
            organisation_id=organisation.id,
        )
        for back in range(7, 0, -1):
            day = yesterday - timedelta(days=back - 1)
            for step in (Granularity.PT15M, Granularity.P1D):
                window = ReadWindow(day_start(day), day_start(day + timedelta(days=1)), step)
                try:
                    await authorize_and_record(session, reader, featured["ean"], window, NATIVE)
                    break
                except DatahubError:
                    continue
    await session.flush()
