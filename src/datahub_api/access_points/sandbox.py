"""Fluvius's sandbox test EANs, which ESPs' sandbox tests use unchanged.

Fluvius's sandbox holds synthetic access points whose EAN says what they are, and its own
documentation and real clients use them:

* the *family scheme*: ``5414`` + ``4`` or ``5`` + energy type (``0`` electricity, ``1``
  gas) + injection (``0`` offtake only, ``1`` or ``2`` offtake and injection) + granularity
  (``0`` a meter read per day, ``1`` or ``2`` quarter-hours) + one digit ``0``-``2`` +
  ``000000`` + a running number of three digits. The PyPI client ``fluvius-energy-api``
  documents the pattern and tests with ``541450000000000001``; EDDIE's Fluvius connector
  makes ``541440110000000001`` (electricity, injection, quarter-hours) and its gas and
  daily siblings;
* Fluvius's own sandbox example ``541448860000000016`` (its Postman collection and the
  client's README): ``5414488600000000`` + two digits, electricity with injection, read
  per quarter-hour.

None of them needs a valid GS1 check digit (most have none). In sandbox mode only, a mock
mandate on such an EAN that the registry does not hold registers a synthetic access point
of that kind, without parties, with demo-world data (:func:`make_sandbox_point`). In
production mode the registry stays strict: these EANs are unknown and a wrong check digit is
refused wherever an EAN enters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from datahub_api.access_points import repository, service
from datahub_api.access_points.models import AccessPoint, EnergyType
from datahub_api.access_points.schemas import AccessPointFields
from datahub_api.brussels_days import today_in_brussels
from datahub_api.db import WriteSession
from datahub_api.meter_data.demo_data import seed_sandbox_point

_FAMILY = re.compile(
    r"5414[45](?P<energy>[01])(?P<injection>[0-2])(?P<granularity>[0-2])[0-2]000000\d{3}"
)
_FLUVIUS_EXAMPLES = re.compile(r"5414488600000000\d{2}")
SANDBOX_METER_ID = "SANDBOX0000001"
SANDBOX_DATA_DAYS = 3 * 366
"""How far back (from yesterday) a synthetic access point has data."""


@dataclass(frozen=True)
class SandboxKind:
    """What a sandbox EAN stands for."""

    energy_type: EnergyType
    injection: bool  # electricity only
    quarter_hours: bool  # False: one reading a day (gas is always read per hour)


def sandbox_kind(ean: str) -> SandboxKind | None:
    """The kind a sandbox test EAN names, or None for any other EAN."""
    if _FLUVIUS_EXAMPLES.fullmatch(ean):
        return SandboxKind(EnergyType.electricity, injection=True, quarter_hours=True)
    found = _FAMILY.fullmatch(ean)
    if found is None:
        return None
    gas = found["energy"] == "1"
    return SandboxKind(
        EnergyType.gas if gas else EnergyType.electricity,
        injection=not gas and found["injection"] != "0",
        quarter_hours=gas or found["granularity"] != "0",
    )


async def make_sandbox_point(session: WriteSession, ean: str) -> AccessPoint | None:
    """Sandbox mode only: register the synthetic access point a sandbox test EAN names,
    with data for :data:`SANDBOX_DATA_DAYS` days up to yesterday; None for an EAN of no
    sandbox family."""
    kind = sandbox_kind(ean)
    if kind is None:
        return None
    await repository.lock_new_ean(session, ean)
    made = await repository.get_by_ean(session, ean, refresh=True)
    if made is not None:  # registered by a mock mandate that committed while we waited
        return made
    first, last = data_days(today_in_brussels())
    fields = AccessPointFields.model_validate(
        {
            "energy_type": kind.energy_type.value,
            "meter_type": "DM",
            # Series on the headpoint (the PyPI client's sandbox example reads the
            # headpoint's `dailyEnergy`) and on the meter (m3 for gas).
            "metering": "metering-on-headpoint-and-meter",
            "physical_meters": [
                {"seq_number": "1", "meter_id": SANDBOX_METER_ID, "installed_from": str(first)}
            ],
            "communication_periods": [{"valid_from": str(first)}],
        }
    )
    point = await service.put_unchecked_access_point(session, ean, fields)
    await seed_sandbox_point(
        session,
        point,
        first=first,
        last=last,
        injection=kind.injection,
        daily=not kind.quarter_hours,
        seed=int(ean),
    )
    return point


def data_days(today: date) -> tuple[date, date]:
    """The first and last day a synthetic access point made ``today`` has data for."""
    last = today - timedelta(days=1)
    return last - timedelta(days=SANDBOX_DATA_DAYS - 1), last
