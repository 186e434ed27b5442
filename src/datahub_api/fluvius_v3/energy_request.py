"""The query of ``GET /v3/api/mandate/energy``, checked: its parameters as Fluvius reads
them (:mod:`datahub_api.fluvius_v3.windows` for ``from`` and ``to``), or a 400 listing
everything wrong with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from datahub_api.brussels_days import today_in_brussels
from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.fluvius_v3.energy import ENERGY_FIELDS, EnergyQuery, read_granularity
from datahub_api.fluvius_v3.errors import V3ValidationFailed
from datahub_api.fluvius_v3.windows import Bound, UnreadableBound, default_bounds, parse_bound
from datahub_api.iso_dates import OutOfRange
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.reads import ReadGate, finest_granularity
from datahub_api.meter_data.series import ReadWindow

MAX_READ_DAYS = 366
"""Longest ``readTime`` period of one energy request."""
_GRANULARITY_ORDER = {granularity: index for index, granularity in enumerate(ENERGY_FIELDS)}


def _multi(raw: str | None, name: str, kind: type[v3.EnumT], messages: list[str]) -> list[v3.EnumT]:
    if not raw:
        return []
    try:
        return v3.parse_multi_value(raw, kind)
    except ValueError as exc:
        messages.append(f"Parameter '{name}': {exc}.")
        return []


def parse_data_service_types(raw: str | None, name: str) -> tuple[DataServiceType, ...]:
    """The data services a ``DataServiceType`` parameter names (none when absent), or a
    400 naming an unknown one."""
    messages: list[str] = []
    services = _multi(raw, name, v3.DataServiceType, messages)
    if messages:
        raise V3ValidationFailed(*messages)
    return tuple(DataServiceType(s.value) for s in services)


def _bound(raw: str | None, name: str, messages: list[str], *, end: bool) -> Bound | None:
    if not raw:
        return None
    try:
        return parse_bound(raw, inclusive_end=end)
    except UnreadableBound:
        messages.append(f"Parameter '{name}' must be a date-time, e.g. 2024-07-02T22:00:00Z.")
        return None
    except OutOfRange as exc:
        messages.append(f"Parameter '{name}' must be {exc}.")
        return None


def _default_granularity(gate: ReadGate) -> v3.RequestedGranularity:
    """Without ``granularity``: the finest one the caller's mandates allow."""
    if finest_granularity(gate) is Granularity.PT15M:
        return v3.RequestedGranularity.HOURLY_QUARTER_HOURLY
    return v3.RequestedGranularity.DAILY


def energy_query(
    *,
    gate: ReadGate,
    energy_type: str,
    period_type: str | None,
    granularity: str | None,
    complex_energy_types: str | None,
    start: str | None,
    end: str | None,
) -> EnergyQuery:
    """The checked query, or a 400 listing everything wrong with it. ``gate``: the caller's
    pass (its mandates give the default granularity)."""
    messages: list[str] = []
    kinds = _multi(period_type, "periodType", v3.PeriodType, messages)
    kind = kinds[0] if len(kinds) == 1 else None
    if not period_type:
        messages.append("Parameter 'periodType' is mandatory.")
    elif len(kinds) > 1:
        messages.append("Parameter 'periodType' takes one value: 'readTime' or 'insertTime'.")
    asked = _multi(granularity, "granularity", v3.RequestedGranularity, messages)
    complex_types = _multi(
        complex_energy_types, "complexEnergyTypes", v3.ComplexEnergyType, messages
    )
    first = _bound(start, "from", messages, end=False)
    last = _bound(end, "to", messages, end=kind is v3.PeriodType.READ_TIME)
    if messages or kind is None:
        raise V3ValidationFailed(*messages)
    granularities = sorted(
        {read_granularity(g, energy_type) for g in asked or [_default_granularity(gate)]},
        key=_GRANULARITY_ORDER.__getitem__,
    )
    windows: tuple[ReadWindow, ...] = ()
    if kind is v3.PeriodType.INSERT_TIME:
        start_at = first.instant if first else None
        end_at = last.instant if last else datetime.now(UTC)
        start_at = start_at or end_at - timedelta(days=1)
        if end_at <= start_at:
            raise V3ValidationFailed("Parameter 'to' must be later than 'from'.")
    else:
        bounds = default_bounds(first, last, today_in_brussels())
        if bounds.last.instant <= bounds.first.instant:
            raise V3ValidationFailed("Parameter 'to' must be later than 'from'.")
        gas = energy_type == v3.EnergyType.GAS.value
        windows = tuple(bounds.window(g, gas=gas) for g in granularities)
        if any(window.end <= window.start for window in windows):
            raise V3ValidationFailed("Parameter 'to' must be later than 'from'.")
        start_at = min(window.start for window in windows)
        end_at = max(window.end for window in windows)
        if end_at - start_at > timedelta(days=MAX_READ_DAYS):
            raise V3ValidationFailed(
                f"The period from 'from' to 'to' may last at most {MAX_READ_DAYS} days."
            )
    return EnergyQuery(
        period_type=kind,
        start=start_at,
        end=end_at,
        granularities=tuple(granularities),
        complex_energy_types=frozenset(complex_types or v3.ComplexEnergyType),
        read_windows=windows,
    )
