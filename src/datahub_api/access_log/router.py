"""``GET /api/v1/access-points/{ean}/access-log``: who read my data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from datahub_api.access_log import service
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.deps import ReadSessionDep
from datahub_api.errors import problem_responses
from datahub_api.paging import cursor_int, encode_cursor

router = APIRouter(tags=["consent and mandates"])


class DataReadOut(BaseModel):
    at: datetime
    reader: str
    period_from: datetime
    period_to: datetime
    granularity: str
    mandate_id: int
    via: str


class DataReadPage(BaseModel):
    items: list[DataReadOut]
    next_cursor: str | None


@router.get(
    "/api/v1/access-points/{ean}/access-log",
    response_model=DataReadPage,
    responses=problem_responses(401, 403, 404, 422, 429),
    summary="Who read the metering data of my access point (customer or grid user login)",
)
async def access_log(
    ean: Annotated[str, Path(pattern=r"^\d{18}$")],
    principal: Annotated[Principal, Depends(require_scopes(Scope.own_data))],
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> DataReadPage:
    """Newest first; only reads of your own days on the access point (those of your tenures
    as customer or grid user, also after you moved out), never reads of another occupant's
    days."""
    rows = await service.reads_of_my_access_point(
        session, principal, ean, before_id=cursor_int(cursor), limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return DataReadPage(
        items=[
            DataReadOut(
                at=record.at,
                reader=organisation,
                period_from=record.period_from,
                period_to=record.period_to,
                granularity=record.granularity,
                mandate_id=record.mandate_id,
                via=record.face,
            )
            for record, organisation in rows
        ],
        next_cursor=encode_cursor({"id": rows[-1][0].id}) if more and rows else None,
    )
