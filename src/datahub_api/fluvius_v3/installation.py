"""The installation facts as Fluvius's ``Installation`` body (``GET /v3/api/mandate/installation``).

Registry dates are Brussels dates; the spec writes instants, so a date becomes the UTC
instant of its Brussels midnight (``2024-10-17`` -> ``2024-10-16T22:00:00Z``, as Fluvius's
examples show) and an estimated volume's period [from, to) its start and (exclusive) end.
"""

from __future__ import annotations

from datahub_api.access_points.schemas import CalculatedRegister
from datahub_api.brussels_days import day_start
from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.installations.service import InstallationFacts

REGISTER_TO_V3 = {
    CalculatedRegister.offtake_total_hours: v3.Register.OFFTAKE_TOTAL_HOURS,
    CalculatedRegister.offtake_high: v3.Register.OFFTAKE_HIGH,
    CalculatedRegister.offtake_low: v3.Register.OFFTAKE_LOW,
    CalculatedRegister.offtake_exclusive_night: v3.Register.OFFTAKE_EXCLUSIVE_NIGHT,
    CalculatedRegister.compensated_offtake_total_hours: (
        v3.Register.COMPENSATED_OFFTAKE_TOTAL_HOURS
    ),
    CalculatedRegister.compensated_offtake_high: v3.Register.COMPENSATED_OFFTAKE_HIGH,
    CalculatedRegister.compensated_offtake_low: v3.Register.COMPENSATED_OFFTAKE_LOW,
    CalculatedRegister.injection_total_hours: v3.Register.INJECTION_TOTAL_HOURS,
    CalculatedRegister.injection_high: v3.Register.INJECTION_HIGH,
    CalculatedRegister.injection_low: v3.Register.INJECTION_LOW,
}


def installation_body(facts: InstallationFacts) -> v3.GetInstallationResponse:
    return v3.GetInstallationResponse(
        installation=v3.Installation(
            energy_type=v3.EnergyType(facts.energy_type.value),
            meter_type=v3.MeterType(facts.meter_type.value),
            smr3=facts.smr3,
            local_production_installations=[
                v3.LocalProductionInstallation(
                    vreg_id=production.vreg_id,
                    type=v3.LocalProductionInstallationType(production.type),
                    converter_power=(
                        None
                        if production.converter_power is None
                        else float(production.converter_power)
                    ),
                    converter_power_unit=v3.Unit(production.converter_power_unit),
                    inspection_date=(
                        None
                        if production.inspection_date is None
                        else day_start(production.inspection_date)
                    ),
                )
                for production in facts.local_production_installations
            ],
            estimated_volumes=[
                v3.EstimatedVolume(
                    type=v3.EstimatedVolumeType.ANNUAL,
                    calculated_register=REGISTER_TO_V3[
                        CalculatedRegister(volume.calculated_register)
                    ],
                    value=volume.value,
                    unit=v3.Unit(volume.unit),
                    consumption_start_date=day_start(volume.period_from),
                    consumption_end_date=day_start(volume.period_to),
                )
                for volume in facts.estimated_annual_volumes
            ],
        )
    )
