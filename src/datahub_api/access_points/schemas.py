"""JSON shapes of the access-point registry (snake_case, Brussels dates)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    model_validator,
)

from datahub_api.access_points.ean import Ean
from datahub_api.access_points.models import (
    AccessPoint,
    EnergyType,
    Metering,
    MeterType,
    PartyRole,
    SubHeadpointType,
)
from datahub_api.iso_dates import END_DAY, FIRST_DAY, STORED, IsoDate

MAX_ITEMS_PER_LIST = 100
"""Most meters, sub-headpoints, periods or parties one access point may list."""


class LocalProductionType(StrEnum):
    """Kinds of local production installation, as Fluvius names them."""

    unknown = "?"
    emergency_group = "NDGR"
    emergency_group_2 = "NDGR2"
    photovoltaic = "PV"
    cogeneration_biomass = "WKKB"
    cogeneration_diesel = "WKKD"
    cogeneration_gas = "WKKA"
    hydropower = "WTR"
    wind = "WND"
    turbojet = "TBJT"
    organic_rankine_cycle = "ORC"
    fuel_cell = "BC"
    biomass = "BIOM"
    diesel = "DSL"
    fossil_engine = "FOSM"
    plug_and_play_pv = "PPPV"
    plug_and_play_battery = "PPBAT"
    battery = "BAT"


class PowerUnit(StrEnum):
    """Units of a converter power (Fluvius's ``Unit`` values)."""

    kva = "kVA"
    kw = "kW"


class VolumeUnit(StrEnum):
    """Units of an estimated annual volume (Fluvius's ``Unit`` values)."""

    kwh = "kWh"
    m3 = "m3"


class CalculatedRegister(StrEnum):
    """Registers an estimated annual volume is calculated for: Fluvius's ``Register`` names
    in snake_case (``offtake_high`` is ``OfftakeHigh``, the day tariff; ``low`` the night)."""

    offtake_total_hours = "offtake_total_hours"
    offtake_high = "offtake_high"
    offtake_low = "offtake_low"
    offtake_exclusive_night = "offtake_exclusive_night"
    compensated_offtake_total_hours = "compensated_offtake_total_hours"
    compensated_offtake_high = "compensated_offtake_high"
    compensated_offtake_low = "compensated_offtake_low"
    injection_total_hours = "injection_total_hours"
    injection_high = "injection_high"
    injection_low = "injection_low"


GAS_REGISTERS = frozenset({CalculatedRegister.offtake_total_hours})
UNITS_BY_ENERGY_TYPE = {
    EnergyType.electricity: frozenset({VolumeUnit.kwh}),
    EnergyType.gas: frozenset({VolumeUnit.kwh, VolumeUnit.m3}),
}
FIRST_REGISTRY_DAY = FIRST_DAY  # the service-wide range of iso_dates
END_OF_REGISTRY_DAYS = END_DAY
MAX_CONVERTER_POWER = 1_000_000  # 1 GVA: far above any installation behind one access point
MAX_ANNUAL_VOLUME = 10**12


def _registry_day(value: date, info: ValidationInfo) -> date:
    if info.context and info.context.get("stored"):
        return value
    if not FIRST_REGISTRY_DAY <= value < END_OF_REGISTRY_DAYS:
        raise ValueError(f"a day from {FIRST_REGISTRY_DAY} up to {END_OF_REGISTRY_DAYS}, exclusive")
    return value


RegistryDay = Annotated[IsoDate, AfterValidator(_registry_day)]
"""A Brussels date of the installation facts, from 2000-01-01 up to 2100-01-01."""


REGISTRY_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
"""Meter ids, sequence numbers and VREG ids: a letter or digit, then letters, digits and
``. _ / -``. Nothing a spreadsheet reads as a formula, no spaces or control characters: these
texts end up in CSV and XLSX exports and on every face."""


_REGISTRY_CODE = re.compile(REGISTRY_CODE_PATTERN)


def _registry_code(value: str | None, info: ValidationInfo) -> str | None:
    stored = bool(info.context and info.context.get("stored"))  # rendered as stored
    if value is not None and not stored and not _REGISTRY_CODE.fullmatch(value):
        raise ValueError("letters, digits and . _ / - only, starting with a letter or digit")
    return value


def registry_code(max_length: int, example: str) -> Any:
    return Field(
        min_length=1,
        max_length=max_length,
        examples=[example],
        json_schema_extra={"pattern": REGISTRY_CODE_PATTERN},
    )


def _three_decimals(value: float | None) -> float | None:
    if value is not None and round(value, 3) != value:
        raise ValueError("at most three decimals")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class Period(_Strict):
    """Brussels dates: ``valid_from`` inclusive, ``valid_to`` exclusive, null = open-ended."""

    valid_from: IsoDate
    valid_to: IsoDate | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from (it is exclusive)")
        return self


class PhysicalMeterBody(_Strict):
    seq_number: Annotated[str, registry_code(10, "1"), AfterValidator(_registry_code)]
    meter_id: Annotated[str, registry_code(50, "1SAG2120063032"), AfterValidator(_registry_code)]
    installed_from: IsoDate
    installed_to: IsoDate | None = Field(default=None, description="Exclusive; null = installed.")

    @model_validator(mode="after")
    def _removed_after_installed(self) -> Self:
        if self.installed_to is not None and self.installed_to <= self.installed_from:
            raise ValueError("installed_to must be after installed_from (it is exclusive)")
        return self


class SubHeadpointBody(_Strict):
    type: SubHeadpointType
    seq_number: Annotated[str, registry_code(10, "2"), AfterValidator(_registry_code)]
    ean: Ean | None = None
    vreg_id: Annotated[
        str | None, registry_code(30, "G10345678"), AfterValidator(_registry_code)
    ] = None
    installation_type: LocalProductionType | None = None


class CommunicationPeriodBody(Period):
    """Days on which the digital meter communicates."""


class PartyPeriodBody(Period):
    account_id: Annotated[int, Field(ge=1, le=2**31 - 1, description="An account (`accounts.id`).")]


class LocalProductionBody(_Strict):
    """A local production installation (solar panels, a battery, a CHP, ...)."""

    vreg_id: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,29}$",
            description="Its identifier in the regulator's (VREG) register.",
            examples=["G10345678"],
        ),
    ] = None
    type: LocalProductionType
    converter_power: Annotated[
        float | None,
        Field(
            gt=0,
            le=MAX_CONVERTER_POWER,
            description="Total converter (inverter) power, at most three decimals.",
            examples=[5.604],
        ),
        AfterValidator(_three_decimals),
    ] = None
    converter_power_unit: PowerUnit = PowerUnit.kva
    inspection_date: RegistryDay | None = Field(
        default=None, description="The Brussels date of its inspection (keuring)."
    )


class EstimatedAnnualVolumeBody(_Strict):
    """An estimated annual volume (EAV) of one register for a consumption period."""

    calculated_register: CalculatedRegister
    value: Annotated[int, Field(ge=0, le=MAX_ANNUAL_VOLUME, examples=[1013])]
    unit: VolumeUnit = VolumeUnit.kwh
    period_from: RegistryDay = Field(description="First Brussels day of the consumption period.")
    period_to: RegistryDay = Field(description="Day after its last day (exclusive).")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.period_to <= self.period_from:
            raise ValueError("period_to must be after period_from (it is exclusive)")
        return self


class InstallationBody(_Strict):
    """The installation facts of an access point as they are now (data service `IG`)."""

    smr3: StrictBool = Field(
        default=False, description="A dynamic energy contract is active (SMR3 settlement)."
    )
    local_production_installations: Annotated[
        list[LocalProductionBody], Field(max_length=MAX_ITEMS_PER_LIST)
    ] = []
    estimated_annual_volumes: Annotated[
        list[EstimatedAnnualVolumeBody], Field(max_length=MAX_ITEMS_PER_LIST)
    ] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = self.own_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def own_problems(self) -> list[str]:
        """Contradictions inside the facts: one VREG id twice, overlapping EAV periods of
        one register."""
        problems: list[str] = []
        seen: set[str] = set()
        for production in self.local_production_installations:
            if production.vreg_id is not None:
                if production.vreg_id in seen:
                    problems.append(f"VREG id {production.vreg_id} is listed twice")
                seen.add(production.vreg_id)
        by_register: dict[CalculatedRegister, list[EstimatedAnnualVolumeBody]] = {}
        for volume in self.estimated_annual_volumes:
            by_register.setdefault(volume.calculated_register, []).append(volume)
        for register, volumes in by_register.items():
            ordered = sorted(volumes, key=lambda volume: volume.period_from)
            for earlier, later in itertools.pairwise(ordered):
                if later.period_from < earlier.period_to:
                    problems.append(
                        f"estimated annual volumes of {register.value} overlap "
                        f"({earlier.period_from}..{earlier.period_to} and "
                        f"{later.period_from}..{later.period_to})"
                    )
        return problems

    def problems_for(self, energy_type: EnergyType) -> list[str]:
        """What does not fit an access point of ``energy_type`` (each a sentence)."""
        problems: list[str] = []
        if energy_type is EnergyType.gas:
            if self.smr3:
                problems.append("smr3 (a dynamic electricity contract) is for electricity")
            if self.local_production_installations:
                problems.append("local production installations belong to electricity")
        for volume in self.estimated_annual_volumes:
            if energy_type is EnergyType.gas and volume.calculated_register not in GAS_REGISTERS:
                problems.append(
                    f"register {volume.calculated_register.value} is not a gas register "
                    "(gas: offtake_total_hours)"
                )
            if volume.unit not in UNITS_BY_ENERGY_TYPE[energy_type]:
                allowed = " or ".join(sorted(u.value for u in UNITS_BY_ENERGY_TYPE[energy_type]))
                problems.append(
                    f"unit {volume.unit.value} does not fit {energy_type.name} (use {allowed})"
                )
        return list(dict.fromkeys(problems))

    def content_hash(self) -> str:
        """sha256 of the facts, independent of the order in which lists were given."""
        return _canonical_hash(self.model_dump(mode="json"))


# Built once: ``json.dumps`` with options builds an encoder per call. Same text as
# ``json.dumps(item, sort_keys=True)`` and ``json.dumps(..., separators=(",", ":"))``.
_ITEM_ORDER = json.JSONEncoder(sort_keys=True).encode
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _canonical_hash(dumped: dict[str, Any]) -> str:
    for name, value in dumped.items():
        if isinstance(value, list) and len(value) > 1:  # fewer items: nothing to order
            dumped[name] = sorted(value, key=_ITEM_ORDER)
    return hashlib.sha256(_CANONICAL(dumped).encode()).hexdigest()


class AccessPointFields(_Strict):
    """Everything about an access point but its EAN."""

    energy_type: EnergyType
    meter_type: MeterType
    metering: Metering = Metering.on_meter
    gvm: StrictBool = Field(default=False, description="A large-consumption (GVM) installation.")
    physical_meters: Annotated[list[PhysicalMeterBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []
    sub_headpoints: Annotated[list[SubHeadpointBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []
    communication_periods: Annotated[
        list[CommunicationPeriodBody], Field(max_length=MAX_ITEMS_PER_LIST)
    ] = []
    grid_users: Annotated[list[PartyPeriodBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []
    customers: Annotated[list[PartyPeriodBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []
    installation: InstallationBody | None = Field(
        default=None,
        description="Installation facts (data service `IG`). Absent or null: the stored "
        "facts stay as they are; given: they replace the stored ones. In answers: null when "
        "none were ever registered.",
    )

    @model_validator(mode="after")
    def _shape_fits_the_metering(self) -> Self:
        if self.communication_periods and self.meter_type is not MeterType.digital:
            raise ValueError("communication periods are only for digital meters (meter_type DM)")
        if self.sub_headpoints and self.metering is Metering.on_meter:
            raise ValueError("sub-headpoints need metering on headpoint (not metering-on-meter)")
        if self.installation is not None:
            problems = self.installation.problems_for(self.energy_type)
            if problems:
                raise ValueError("installation: " + "; ".join(problems))
        return self

    def content_hash(self) -> str:
        """sha256 of the content but the installation facts (they have their own), independent
        of the order in which lists were given."""
        return _canonical_hash(self.model_dump(mode="json", exclude={"ean", "installation"}))


class AccessPointBody(AccessPointFields):
    """One access point of a bulk upload (NDJSON line)."""

    ean: Ean


class AccessPointPut(AccessPointFields):
    """The body of ``PUT /api/v1/access-points/{ean}``: the EAN may be repeated, not changed."""

    ean: Ean | None = Field(default=None, description="If given, the EAN of the path.")


class AccessPointOut(AccessPointFields):
    ean: Ean
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, access_point: AccessPoint) -> AccessPointOut:
        """From a model loaded with all its details."""
        parties: dict[PartyRole, list[dict[str, Any]]] = {role: [] for role in PartyRole}
        for party in access_point.parties:
            parties[party.role].append(
                {
                    "account_id": party.account_id,
                    "valid_from": party.valid_from,
                    "valid_to": party.valid_to,
                }
            )
        return cls.model_validate(
            {
                "ean": access_point.ean,
                "energy_type": access_point.energy_type,
                "meter_type": access_point.meter_type,
                "metering": access_point.metering,
                "gvm": access_point.gvm,
                "physical_meters": access_point.physical_meters,
                "sub_headpoints": access_point.sub_headpoints,
                "communication_periods": access_point.communication_periods,
                "grid_users": parties[PartyRole.grid_user],
                "customers": parties[PartyRole.customer],
                "installation": access_point.installation,
                "created_at": access_point.created_at,
                "updated_at": access_point.updated_at,
            },
            context=STORED,  # stored values render whatever they are
        )


class AccessPointPage(BaseModel):
    items: list[AccessPointOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class BulkUpsertResult(BaseModel):
    received: int = Field(description="Access points in the upload.")
    created: int
    updated: int
    unchanged: int = Field(description="Already stored exactly so; left untouched.")


class RowErrorOut(BaseModel):
    line: int = Field(description="1-based line of the upload (the CSV header is line 1).")
    detail: str


class BulkRejectedProblem(BaseModel):
    """problem+json of a refused bulk upload: nothing was stored."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    error_count: int
    errors: list[RowErrorOut]
