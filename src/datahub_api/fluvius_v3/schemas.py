"""The bodies of the Fluvius ESP API v3, exactly as its published spec describes them.

JSON names are camelCase (aliases), enums carry the spec's own strings, times are UTC instants
written as ``2026-01-27T15:15:57Z``. Fluvius omits absent values rather than sending
``null``, and every optional field of the spec may be omitted, so unset optional fields are
left out of the JSON (``exclude_if``); serialise with ``by_alias=True`` (FastAPI does).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Generic, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from datahub_api.iso_dates import check_instant

# --- enums (the spec's strings, in the spec's order) ---------------------------------------


class EnergyType(StrEnum):
    """The discipline."""

    ELECTRICITY = "E"
    GAS = "G"


class MandateStatus(StrEnum):
    REQUESTED = "Requested"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    FINISHED = "Finished"


class MandateRenewalStatus(StrEnum):
    TO_BE_RENEWED = "ToBeRenewed"
    RENEWAL_REQUESTED = "RenewalRequested"
    EXPIRED = "Expired"


class DataServiceType(StrEnum):
    """What a mandate gives access to: history per granularity, or installation data."""

    HISTORY_UNDEFINED_GRANULARITY = "VH_onbepaald"
    HISTORY_QUARTER_HOURLY_OR_HOURLY = "VH_kwartier_uur"
    HISTORY_DAILY = "VH_dag"
    INSTALLATION_DATA = "IG"


class Flow(StrEnum):
    B2C = "B2C"
    B2B = "B2B"


class CreateClientSessionStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


class PeriodType(StrEnum):
    """Whether ``from``/``to`` select by read time or by insert time in the hub."""

    READ_TIME = "readTime"
    INSERT_TIME = "insertTime"


class RequestedGranularity(StrEnum):
    """Values of the energy query's ``granularity`` parameter (from its description): /v3's own
    spelling, mapped to :class:`~datahub_api.meter_data.granularity.Granularity` by
    :func:`datahub_api.fluvius_v3.energy.read_granularity`."""

    HOURLY_QUARTER_HOURLY = "hourly_quarterhourly"
    DAILY = "daily"


class ComplexEnergyType(StrEnum):
    """Values of the energy query's ``complexEnergyTypes`` parameter."""

    ACTIVE = "active"
    REACTIVE = "reactive"


class MeasurementValidationState(StrEnum):
    READ = "READ"  # metering on meter: actually read
    ESTIMATED = "EST"  # metering on meter: estimated
    VALIDATED = "VAL"  # metering on headpoint: validated
    NOT_VALIDATED = "NVAL"  # metering on headpoint: not yet validated


class Unit(StrEnum):
    UNKNOWN = "?"
    KVA = "kVA"
    KVARH = "kVArh"
    KWH = "kWh"
    KW = "kW"
    M3 = "m3"


class GasConversionFactor(StrEnum):
    PREDICTIVE = "P"
    DEFINITIVE = "D"
    STANDARD_CONSTANT = "C"


class Register(StrEnum):
    UNKNOWN = "Unknown"
    OFFTAKE_TOTAL_HOURS = "OfftakeTotalHours"
    OFFTAKE_HIGH = "OfftakeHigh"
    OFFTAKE_LOW = "OfftakeLow"
    OFFTAKE_EXCLUSIVE_NIGHT = "OfftakeExclusiveNight"
    COMPENSATED_OFFTAKE_TOTAL_HOURS = "CompensatedOfftakeTotalHours"
    COMPENSATED_OFFTAKE_HIGH = "CompensatedOfftakeHigh"
    COMPENSATED_OFFTAKE_LOW = "CompensatedOfftakeLow"
    INJECTION_TOTAL_HOURS = "InjectionTotalHours"
    INJECTION_HIGH = "InjectionHigh"
    INJECTION_LOW = "InjectionLow"


class MeterType(StrEnum):
    OTHER_METER = "KM"
    DIGITAL_METER = "DM"


class LocalProductionInstallationType(StrEnum):
    UNKNOWN = "?"
    EMERGENCY_GROUP_1 = "NDGR"
    EMERGENCY_GROUP_2 = "NDGR2"
    PHOTOVOLTAIC = "PV"
    COGENERATION_BIOMASS = "WKKB"
    COGENERATION_DIESEL = "WKKD"
    COGENERATION_NATURAL_GAS = "WKKA"
    HYDROPOWER = "WTR"
    WIND = "WND"
    TURBOJET = "TBJT"
    ORGANIC_RANKINE_CYCLE = "ORC"
    FUEL_CELL = "BC"
    BIOMASS = "BIOM"
    DIESEL = "DSL"
    FOSSIL_FUEL_ENGINE = "FOSM"
    PLUG_AND_PLAY_PV = "PPPV"
    PLUG_AND_PLAY_BATTERY = "PPBAT"
    BATTERY = "BAT"


class EstimatedVolumeType(StrEnum):
    ANNUAL = "EAV"


# The ``$type`` discriminator strings of headpoints and sub-headpoints.
METERING_ON_METER: Final = "metering-on-meter"
METERING_ON_HEADPOINT: Final = "metering-on-headpoint"
METERING_ON_HEADPOINT_AND_METER: Final = "metering-on-headpoint-and-meter"
SUBMETERING_AUXILIARY: Final = "submetering-auxiliary"
SUBMETERING_OFFTAKE: Final = "submetering-offtake"
SUBMETERING_PRODUCTION: Final = "submetering-production"

# --- building blocks ----------------------------------------------------------------------


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _format_instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# An instant, stored in UTC, written like Fluvius does: whole seconds and a ``Z``.
UtcInstant = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(_format_instant, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# An instant a caller sends: in the service's range (``iso_dates``), then stored in UTC.
UtcInstantIn = Annotated[
    AwareDatetime,
    AfterValidator(check_instant),
    AfterValidator(_to_utc),
    PlainSerializer(_format_instant, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _is_none(value: object) -> bool:
    return value is None


def omitted(*, alias: str | None = None, description: str | None = None) -> Any:
    """An optional field that is left out of the JSON when unset (Fluvius omits, not null)."""
    return Field(default=None, alias=alias, description=description, exclude_if=_is_none)


class V3Model(BaseModel):
    """Base of the response bodies: camelCase names, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        use_enum_values=False,
    )


class V3RequestModel(V3Model):
    """Base of the request bodies.

    Fluvius is an ASP.NET service, whose JSON input ignores unknown members and matches
    member names case-insensitively; ESP backends written against it rely on both.
    """

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _match_names_case_insensitively(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        canonical = {
            (field.alias or name).lower(): field.alias or name
            for name, field in cls.model_fields.items()
        }
        return {canonical.get(str(key).lower(), key): value for key, value in data.items()}


# --- common wrappers and errors -----------------------------------------------------------


class ResponseMetadata(V3Model):
    fetch_time: UtcInstant = Field(description="When the data was fetched from the system.")


DataT = TypeVar("DataT", bound=BaseModel)


class ApiDataResponse(V3Model, Generic[DataT]):
    """``{"data": ..., "_meta": {"fetchTime": ...}}``: every successful Fluvius answer."""

    data: DataT
    meta: ResponseMetadata = Field(alias="_meta")

    @classmethod
    def of(cls, data: DataT, *, fetch_time: datetime | None = None) -> Self:
        """Wrap ``data``, stamped with ``fetch_time`` (now by default)."""
        return cls(data=data, meta=ResponseMetadata(fetch_time=fetch_time or datetime.now(UTC)))


class ErrorResponse(V3Model):
    type: str | None = omitted(description="The kind of error, e.g. MandatesNotFoundException.")
    code: str | None = omitted(description="A stable error code, e.g. Mandates.NotFound.")
    message: str | None = omitted()


class ErrorValidationResponse(V3Model):
    validation_error_messages: list[str] | None = omitted()
    type: str | None = omitted()
    code: str | None = omitted()
    message: str | None = omitted()


# --- mandates -----------------------------------------------------------------------------


class Mandate(V3Model):
    reference_number: str
    status: MandateStatus
    ean: str
    energy_type: EnergyType
    data_period_from: UtcInstant | None = omitted()
    data_period_to: UtcInstant | None = omitted()
    data_service_type: DataServiceType
    mandate_expiration_date: UtcInstant | None = omitted()
    renewal_status: MandateRenewalStatus | None = omitted()


class GetMandatesResponse(V3Model):
    mandates: list[Mandate]


class GetMandatesResponseApiDataResponse(ApiDataResponse[GetMandatesResponse]):
    pass


# --- client sessions (shortUrlIdentifier) --------------------------------------------------


class ClientSessionDataService(V3RequestModel):
    data_service_type: DataServiceType
    data_period_from: UtcInstantIn | None = omitted()
    data_period_to: UtcInstantIn | None = omitted()


class CreateClientSessionRequest(V3RequestModel):
    data_access_contract_number: str = Field(min_length=1)
    reference_number: str = Field(min_length=1)
    flow: Flow
    data_services: list[ClientSessionDataService] | None = omitted()
    number_of_eans: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1, exclude_if=_is_none)
    return_url_success: str | None = omitted()
    return_url_failed: str | None = omitted()
    sso: bool | None = omitted()
    enterprise_number: str | None = omitted()


class CreateClientSessionResponse(V3Model):
    status: CreateClientSessionStatus
    short_url_identifier: str | None = omitted()
    valid_to: UtcInstant | None = omitted()


class CreateClientSessionResponseApiDataResponse(ApiDataResponse[CreateClientSessionResponse]):
    pass


# --- sandbox: mock mandates ----------------------------------------------------------------


class CreateMandateRequest(V3RequestModel):
    """``POST /api/mandate/mock`` (sandbox only): make a mandate without a customer."""

    reference_number: str = Field(min_length=1)
    ean: str = Field(min_length=1)
    data_service_type: DataServiceType
    data_period_from: UtcInstantIn | None = omitted(
        description="Must be null for data service type IG; required otherwise."
    )
    data_period_to: UtcInstantIn | None = omitted()
    status: MandateStatus | None = omitted()
    mandate_expiration_date: UtcInstantIn | None = omitted()
    renewal_status: MandateRenewalStatus | None = omitted()


class CreateMandateResponse(V3Model):
    status: str | None = omitted()


class CreateMandateResponseApiDataResponse(ApiDataResponse[CreateMandateResponse]):
    pass


# --- energy -------------------------------------------------------------------------------


class MeasurementValue(V3Model):
    value: float | None = omitted()
    unit: Unit
    validation_state: MeasurementValidationState | None = omitted()
    gas_conversion_factor: GasConversionFactor | None = omitted()


class MeasurementValueSet(V3Model):
    """Values per register; registers that do not apply are omitted."""

    total: MeasurementValue | None = omitted()
    day: MeasurementValue | None = omitted()
    night: MeasurementValue | None = omitted()
    reactive: MeasurementValue | None = omitted()
    inductive: MeasurementValue | None = omitted()
    capacitive: MeasurementValue | None = omitted()


class MeasurementDirection(V3Model):
    offtake: MeasurementValueSet | None = omitted()
    injection: MeasurementValueSet | None = omitted()
    production: MeasurementValueSet | None = omitted()
    auxiliary: MeasurementValueSet | None = omitted()


class MeasurementTimeSlice(V3Model):
    """Measurements of ``[start, end)``."""

    start: UtcInstant
    end: UtcInstant
    measurements: list[MeasurementDirection]


# ``$type`` comes first in every headpoint and sub-headpoint: .NET's System.Text.Json (what
# Fluvius runs, and what many ESP backends use) reads polymorphic JSON only when the
# discriminator is the object's first member. Hence no shared base classes below: pydantic
# would put inherited fields first.

EnergySeries = list[MeasurementTimeSlice] | None


class PhysicalMeter(V3Model):
    seq_number: str | None = omitted()
    meter_id: str | None = omitted(alias="meterID")
    daily_energy: EnergySeries = omitted()
    hourly_energy: EnergySeries = omitted()
    quarter_hourly_energy: EnergySeries = omitted()


class AuxiliarySubHeadpoint(V3Model):
    kind: Literal["submetering-auxiliary"] = Field(default=SUBMETERING_AUXILIARY, alias="$type")
    ean: str | None = omitted()
    seq_number: str | None = omitted()
    vreg_id: str | None = omitted()
    production_type: LocalProductionInstallationType | None = omitted(alias="type")
    daily_energy: EnergySeries = omitted()
    hourly_energy: EnergySeries = omitted()
    quarter_hourly_energy: EnergySeries = omitted()


class OfftakeSubHeadpoint(V3Model):
    kind: Literal["submetering-offtake"] = Field(default=SUBMETERING_OFFTAKE, alias="$type")
    ean: str | None = omitted()
    seq_number: str | None = omitted()
    vreg_id: str | None = omitted()
    production_type: LocalProductionInstallationType | None = omitted(alias="type")
    daily_energy: EnergySeries = omitted()
    hourly_energy: EnergySeries = omitted()
    quarter_hourly_energy: EnergySeries = omitted()


class ProductionSubHeadpoint(V3Model):
    kind: Literal["submetering-production"] = Field(default=SUBMETERING_PRODUCTION, alias="$type")
    ean: str | None = omitted()
    seq_number: str | None = omitted()
    vreg_id: str | None = omitted()
    production_type: LocalProductionInstallationType | None = omitted(alias="type")
    daily_energy: EnergySeries = omitted()
    hourly_energy: EnergySeries = omitted()
    quarter_hourly_energy: EnergySeries = omitted()


SubHeadpoint = Annotated[
    AuxiliarySubHeadpoint | OfftakeSubHeadpoint | ProductionSubHeadpoint,
    Field(discriminator="kind"),
]


class MeteringOnMeter(V3Model):
    """Metering per physical meter (digital meters)."""

    kind: Literal["metering-on-meter"] = Field(default=METERING_ON_METER, alias="$type")
    ean: str
    energy_type: EnergyType
    physical_meters: list[PhysicalMeter] | None = omitted()


class MeteringOnHeadpoint(V3Model):
    """Metering on the access point itself (AMR)."""

    kind: Literal["metering-on-headpoint"] = Field(default=METERING_ON_HEADPOINT, alias="$type")
    ean: str
    energy_type: EnergyType
    daily_energy: EnergySeries = omitted()
    hourly_energy: EnergySeries = omitted()
    quarter_hourly_energy: EnergySeries = omitted()
    sub_headpoints: list[SubHeadpoint] | None = omitted()


class MeteringOnHeadpointAndMeter(V3Model):
    """Metering both on the access point and per physical meter."""

    kind: Literal["metering-on-headpoint-and-meter"] = Field(
        default=METERING_ON_HEADPOINT_AND_METER, alias="$type"
    )
    ean: str
    energy_type: EnergyType
    physical_meters: list[PhysicalMeter] | None = omitted()
    daily_energy: EnergySeries = omitted()
    hourly_energy: EnergySeries = omitted()
    quarter_hourly_energy: EnergySeries = omitted()
    sub_headpoints: list[SubHeadpoint] | None = omitted()


Headpoint = Annotated[
    MeteringOnMeter | MeteringOnHeadpoint | MeteringOnHeadpointAndMeter,
    Field(discriminator="kind"),
]


class GetEnergyResponse(V3Model):
    headpoint: Headpoint | None = omitted()


class GetEnergyResponseApiDataResponse(ApiDataResponse[GetEnergyResponse]):
    pass


# --- installation data (GET /v3/api/mandate/installation; the spec has only the bodies) ----


class LocalProductionInstallation(V3Model):
    vreg_id: str | None = omitted()
    type: LocalProductionInstallationType
    converter_power: float | None = omitted()
    converter_power_unit: Unit
    inspection_date: UtcInstant | None = omitted()


class EstimatedVolume(V3Model):
    type: EstimatedVolumeType
    calculated_register: Register
    value: int
    unit: Unit
    consumption_start_date: UtcInstant | None = omitted()
    consumption_end_date: UtcInstant | None = omitted()


class Installation(V3Model):
    energy_type: EnergyType
    meter_type: MeterType
    smr3: bool
    local_production_installations: list[LocalProductionInstallation] | None = omitted()
    estimated_volumes: list[EstimatedVolume] | None = omitted()


class GetInstallationResponse(V3Model):
    installation: Installation | None = omitted()


class GetInstallationResponseApiDataResponse(ApiDataResponse[GetInstallationResponse]):
    pass


# --- query parameters ---------------------------------------------------------------------

# Multi-valued query parameters separate their values with ',' or ';' or '|'.
_LIST_SEPARATORS = re.compile(r"[,;|]")

EnumT = TypeVar("EnumT", bound=StrEnum)


def split_multi_value(raw: str) -> list[str]:
    """``"VH_dag;VH_kwartier_uur"`` -> ``["VH_dag", "VH_kwartier_uur"]`` (blanks dropped)."""
    return [part.strip() for part in _LIST_SEPARATORS.split(raw) if part.strip()]


def parse_multi_value(raw: str, enum: type[EnumT]) -> list[EnumT]:
    """Parse a multi-valued parameter into ``enum`` members (case-sensitive, like Fluvius).

    Raises ``ValueError`` naming the first unknown value.
    """
    members: list[EnumT] = []
    for part in split_multi_value(raw):
        try:
            member = enum(part)
        except ValueError:
            allowed = ", ".join(f"'{m.value}'" for m in enum)
            raise ValueError(f"'{part}' is not one of {allowed}") from None
        if member not in members:
            members.append(member)
    return members
