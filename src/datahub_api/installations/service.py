"""Reading installation facts: an ESP under an ``IG`` mandate (the gate of
:func:`~datahub_api.mandates.access.authorize_installation_read` on the face's channels, its
:class:`~datahub_api.meter_data.channels.ReadFace` as every read's, with an access record the
customer sees), or an operator (the registry as it is). Not through
:mod:`datahub_api.meter_data.reads`: that reads series (and gas calorific values, a domain
independent of this one); here the gate is the whole read.

Installation facts describe the installation *now*, so there is no period to ask: an ESP
gets them while its mandate runs and the customer who gave it still holds the access point,
and of the estimated annual volumes only those whose consumption period overlaps the
mandate's window (never a previous occupant's years).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from datahub_api.access_log.service import record_read
from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import (
    AccessPoint,
    EnergyType,
    EstimatedAnnualVolume,
    LocalProductionInstallation,
    MeterType,
)
from datahub_api.auth.principal import Principal
from datahub_api.brussels_days import day_start
from datahub_api.db import ReadSession, WriteSession
from datahub_api.mandates.access import UnknownOrNotYours, authorize_installation_read
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data.channels import ReadFace

ACCESS_LOG_GRANULARITY = DataServiceType.installation.value
"""What the access log says was read (``IG``)."""


@dataclass(frozen=True)
class InstallationFacts:
    ean: str
    energy_type: EnergyType
    meter_type: MeterType
    smr3: bool
    local_production_installations: Sequence[LocalProductionInstallation]
    estimated_annual_volumes: Sequence[EstimatedAnnualVolume]
    updated_at: datetime | None  # None: no facts registered


def facts_of(
    access_point: AccessPoint, *, window: tuple[datetime, datetime] | None = None
) -> InstallationFacts:
    """The facts of an access point loaded with its installation; with ``window``, only the
    estimated annual volumes whose consumption period overlaps it."""
    installation = access_point.installation
    volumes: Sequence[EstimatedAnnualVolume] = (
        installation.estimated_annual_volumes if installation else ()
    )
    if window is not None:
        start, end = window
        volumes = [
            volume
            for volume in volumes
            if day_start(volume.period_from) < end and start < day_start(volume.period_to)
        ]
    return InstallationFacts(
        ean=access_point.ean,
        energy_type=access_point.energy_type,
        meter_type=access_point.meter_type,
        smr3=installation.smr3 if installation else False,
        local_production_installations=(
            installation.local_production_installations if installation else ()
        ),
        estimated_annual_volumes=volumes,
        updated_at=installation.updated_at if installation else None,
    )


async def read_installation(
    session: WriteSession,
    principal: Principal,
    ean: str,
    face: ReadFace,
    *,
    reference_number: str | None = None,
    now: datetime | None = None,
) -> InstallationFacts:
    """The installation facts an ESP may read now on ``face``, with the read's access record
    added to the request's transaction; the refusals of :func:`authorize_installation_read`."""
    now = now or datetime.now(UTC)
    grant = await authorize_installation_read(
        session,
        principal,
        ean,
        now=now,
        channels=face.channels_for(principal),
        reference_number=reference_number,
    )
    access_point = await access_points_service.find_installation(session, ean)
    if access_point is None:  # a mandate always names a registered access point
        raise UnknownOrNotYours(ean)
    record_read(
        session,
        principal,
        grant,
        start=now,
        end=now,
        granularity=ACCESS_LOG_GRANULARITY,
        face=face.name,
    )
    return facts_of(access_point, window=(grant.released_from, grant.released_to))


async def registry_installation(session: ReadSession, ean: str) -> InstallationFacts:
    """The stored facts of an access point, for operators; 404 for an unknown EAN."""
    access_point = await access_points_service.find_installation(session, ean)
    if access_point is None:
        raise access_points_service.AccessPointNotFound(f"no access point with EAN {ean}")
    return facts_of(access_point)
