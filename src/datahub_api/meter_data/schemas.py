"""Bodies of the meter-data ingest routes."""

from __future__ import annotations

from datetime import datetime

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
