"""JSON shapes of the access-point registry (snake_case, Brussels dates)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datahub_api.access_points.ean import Ean
from datahub_api.access_points.models import (
    AccessPoint,
    EnergyType,
    Metering,
    MeterType,
    PartyRole,
    SubHeadpointType,
)
from datahub_api.iso_dates import IsoDate

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
    seq_number: Annotated[str, Field(min_length=1, max_length=10, examples=["1"])]
    meter_id: Annotated[str, Field(min_length=1, max_length=50, examples=["1SAG2120063032"])]
    installed_from: IsoDate
    installed_to: IsoDate | None = Field(default=None, description="Exclusive; null = installed.")

    @model_validator(mode="after")
    def _removed_after_installed(self) -> Self:
        if self.installed_to is not None and self.installed_to <= self.installed_from:
            raise ValueError("installed_to must be after installed_from (it is exclusive)")
        return self


class SubHeadpointBody(_Strict):
    type: SubHeadpointType
    seq_number: Annotated[str, Field(min_length=1, max_length=10, examples=["2"])]
    ean: Ean | None = None
    vreg_id: Annotated[str | None, Field(max_length=30, examples=["G10345678"])] = None
    installation_type: LocalProductionType | None = None


class CommunicationPeriodBody(Period):
    """Days on which the digital meter communicates."""


class PartyPeriodBody(Period):
    account_id: Annotated[int, Field(ge=1, le=2**31 - 1, description="An account (`accounts.id`).")]


class AccessPointFields(_Strict):
    """Everything about an access point but its EAN."""

    energy_type: EnergyType
    meter_type: MeterType
    metering: Metering = Metering.on_meter
    gvm: bool = Field(default=False, description="A large-consumption (GVM) installation.")
    physical_meters: Annotated[list[PhysicalMeterBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []
    sub_headpoints: Annotated[list[SubHeadpointBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []
    communication_periods: Annotated[
        list[CommunicationPeriodBody], Field(max_length=MAX_ITEMS_PER_LIST)
    ] = []
    grid_users: Annotated[list[PartyPeriodBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []
    customers: Annotated[list[PartyPeriodBody], Field(max_length=MAX_ITEMS_PER_LIST)] = []

    @model_validator(mode="after")
    def _shape_fits_the_metering(self) -> Self:
        if self.communication_periods and self.meter_type is not MeterType.digital:
            raise ValueError("communication periods are only for digital meters (meter_type DM)")
        if self.sub_headpoints and self.metering is Metering.on_meter:
            raise ValueError("sub-headpoints need metering on headpoint (not metering-on-meter)")
        return self

    def content_hash(self) -> str:
        """sha256 of the content, independent of the order in which lists were given."""
        dumped = self.model_dump(mode="json", exclude={"ean"})
        for name, value in dumped.items():
            if isinstance(value, list):
                dumped[name] = sorted(value, key=lambda item: json.dumps(item, sort_keys=True))
        canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


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
                "created_at": access_point.created_at,
                "updated_at": access_point.updated_at,
            }
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
