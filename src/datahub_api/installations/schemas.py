"""The native JSON of an access point's installation facts (snake_case, Brussels dates)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from datahub_api.access_points.models import EnergyType, MeterType
from datahub_api.access_points.schemas import EstimatedAnnualVolumeBody, LocalProductionBody
from datahub_api.installations.service import InstallationFacts


class InstallationOut(BaseModel):
    """An access point's installation facts as they are now (data service `IG`)."""

    ean: str
    energy_type: EnergyType
    meter_type: MeterType
    smr3: bool = Field(description="A dynamic energy contract is active (SMR3 settlement).")
    local_production_installations: list[LocalProductionBody] = Field(
        description="Solar panels, batteries, CHPs, ... behind the access point."
    )
    estimated_annual_volumes: list[EstimatedAnnualVolumeBody] = Field(
        description="Estimated annual volumes (EAV) per register with their consumption "
        "period [period_from, period_to) in Brussels dates. An ESP gets those whose period "
        "overlaps its mandate's window."
    )
    updated_at: datetime | None = Field(
        description="When the registry last changed these facts; null when none were "
        "registered (then `smr3` is false and the lists are empty)."
    )

    @classmethod
    def of(cls, facts: InstallationFacts) -> InstallationOut:
        return cls.model_validate(
            {
                "ean": facts.ean,
                "energy_type": facts.energy_type,
                "meter_type": facts.meter_type,
                "smr3": facts.smr3,
                "local_production_installations": facts.local_production_installations,
                "estimated_annual_volumes": facts.estimated_annual_volumes,
                "updated_at": facts.updated_at,
            }
        )
