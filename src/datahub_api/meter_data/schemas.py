"""Bodies of the meter-data routes: ingest, the change feed, the bulk query."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from datahub_api.access_points.ean import Ean


class IngestResult(BaseModel):
    """A committed batch: what it did to the stored day blocks."""

    rows: int = Field(description="Readings in the batch.")
    blocks_created: int = Field(description="Day blocks that did not exist before.")
    blocks_filled: int = Field(
        description="Stored day blocks that got values for slots that had none."
    )
    blocks_corrected: int = Field(
        description="Stored day blocks in which a value or validation state was replaced "
        "(the previous version is kept in the history)."
    )
    blocks_unchanged: int = Field(
        description="Day blocks that already held exactly these readings (a resend)."
    )
    inserted_at: datetime = Field(description="The insert time of the changed blocks.")


class ReadingErrorOut(BaseModel):
    line: int = Field(
        description="1-based line of the body (the CSV header is line 1); 0 for the body as "
        "a whole (not UTF-8, broken gzip)."
    )
    detail: str


class ReadingsRejectedProblem(BaseModel):
    """problem+json of a refused batch: nothing was stored."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    error_count: int
    errors: list[ReadingErrorOut] = Field(description="The first 50 problems, by line.")


# --- reading: the change feed and the bulk query -----------------------------------------

DirectionName = Literal["offtake", "injection", "production", "auxiliary"]
RegisterName = Literal["total", "day", "night", "reactive", "inductive", "capacitive"]
UnitName = Literal["kWh", "kVArh", "m3"]
StateName = Literal["READ", "EST", "VAL", "NVAL"]


class MeterDataChange(BaseModel):
    """A day block as stored now: a value per slot of its Brussels day."""

    ean: str
    meter: str
    direction: DirectionName
    register_: RegisterName = Field(alias="register")  # `register` would shadow BaseModel's
    granularity: Literal["PT15M", "PT1H", "P1D"]
    day: date = Field(description="The Europe/Brussels day.")
    version: int = Field(description="1 when stored first, +1 with every change.")
    inserted_at: datetime = Field(description="When this version was stored.")
    start: datetime = Field(description="Start of the first slot (Brussels midnight).")
    step: Literal["PT15M", "PT1H", "P1D"]
    unit: UnitName
    values: list[float | None] = Field(
        description="One per slot (96 quarter-hours, 92 or 100 on DST days; 24, 23 or 25 "
        "hours; 1 day), three decimals; null for a gap."
    )
    states: list[StateName | None] = Field(description="Validation state per slot.")


class MeterDataChangesPage(BaseModel):
    items: list[MeterDataChange]
    next_cursor: str = Field(
        description="Pass as `after` to continue; it comes back unchanged while nothing new "
        "arrived."
    )
    has_more: bool = Field(description="More changes are waiting right now.")


class MeterDataQueryIn(BaseModel):
    """Up to 200 EANs over one period (at most 366 days)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    eans: list[Ean] = Field(
        min_length=1, max_length=200, description="Each answered in turn (a repeat once)."
    )
    from_: str = Field(
        alias="from",
        max_length=40,
        description="A date (Brussels midnight) or an instant with an offset.",
        examples=["2026-03-01", "2026-03-01T00:00:00+01:00"],
    )
    to: str = Field(
        max_length=40,
        description="Exclusive; a date (Brussels midnight) or an instant with an offset.",
        examples=["2026-04-01"],
    )
    granularity: Literal["PT15M", "PT1H", "P1D", "P1M"] = Field(
        description="Bucket length; sums of finer stored values, with the worst state."
    )
    direction: DirectionName | None = Field(default=None, description="Only this direction.")
    register_: RegisterName | None = Field(
        default=None, alias="register", description="Only this register."
    )


class MeterDataSeriesLine(BaseModel):
    """One series (meter, direction, register) of an EAN over the period asked."""

    ean: str
    meter: str
    direction: DirectionName
    register_: RegisterName = Field(alias="register")
    start: datetime = Field(description="Start of the first bucket.")
    end: datetime = Field(description="End of the last bucket (exclusive).")
    step: Literal["PT15M", "PT1H", "P1D", "P1M"] = Field(
        description="The granularity asked, or a coarser one when the series is stored only "
        "coarser (gas is metered hourly)."
    )
    unit: UnitName
    values: list[float | None] = Field(
        description="A bucket per step from `start` (92 or 100 quarter-hours on DST days), "
        "three decimals; null where nothing was delivered."
    )
    states: list[StateName | None] = Field(description="The worst validation state of each.")
    incomplete: list[int] = Field(
        description="Indexes of the buckets missing some of their parts (gaps included)."
    )


class MeterDataErrorLine(BaseModel):
    """An EAN that is not answered: ``error`` as the per-EAN route's problem+json would be
    (404 for an EAN without your mandate, exactly as for an unknown one; 403 with
    `allowed_from`/`allowed_to` (the mandate's data period) or `data_service_types` when
    your mandate does not cover the period or granularity). A line with ``error`` and no
    ``ean`` ends a broken-off answer."""

    model_config = ConfigDict(extra="allow")

    ean: str | None = None
    error: dict[str, Any]
