"""Bodies of the meter-data ingest routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


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
