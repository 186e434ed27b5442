"""Recording every successful read of metering data, and showing customers and grid users
who read theirs."""

from __future__ import annotations

from datetime import datetime

from datahub_api.access_log import repository
from datahub_api.access_log.models import DataReadRecord
from datahub_api.access_points import service as access_points_service
from datahub_api.auth.principal import Principal
from datahub_api.brussels_days import day_start
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import NotFound
from datahub_api.mandates.access import ReadGrant
from datahub_api.observability import request_id_var


def record_read(
    session: WriteSession,
    principal: Principal,
    grant: ReadGrant,
    *,
    start: datetime,
    end: datetime,
    granularity: str,
    face: str,
) -> None:
    """One record per successful read (call it in the read's own transaction)."""
    assert principal.organisation_id is not None
    repository.add(
        session,
        DataReadRecord(
            organisation_id=principal.organisation_id,
            client=principal.subject,
            ean=grant.mandate.ean,
            period_from=start,
            period_to=end,
            granularity=granularity,
            mandate_id=grant.mandate.id,
            face=face,
            request_id=request_id_var.get(),
        ),
    )


def record_file_read(
    session: WriteSession,
    principal: Principal,
    *,
    ean: str,
    mandate_id: int,
    start: datetime,
    end: datetime,
    granularity: str,
    face: str,
) -> None:
    """One record per EAN of a downloaded data file (an NPS daily file, ...), whose read
    was granted by ``mandate_id`` when the file was made."""
    assert principal.organisation_id is not None
    repository.add(
        session,
        DataReadRecord(
            organisation_id=principal.organisation_id,
            client=principal.subject,
            ean=ean,
            period_from=start,
            period_to=end,
            granularity=granularity,
            mandate_id=mandate_id,
            face=face,
            request_id=request_id_var.get(),
        ),
    )


async def reads_of_my_access_point(
    session: ReadSession, principal: Principal, ean: str, *, before_id: int | None, limit: int
) -> list[tuple[DataReadRecord, str]]:
    """The reads of an EAN the person is or was customer or grid user of that read their
    data: those whose period overlaps one of their tenures on it (also after they moved out).
    Who read another occupant's days (a previous or a later one) is not theirs to see."""
    if principal.user_id is None:
        raise NotFound("No such access point of yours.")
    spans = (await access_points_service.tenures(session, [(ean, principal.user_id)])).get(
        (ean, principal.user_id), []
    )
    if not spans:
        raise NotFound("No such access point of yours.")
    periods = [
        (day_start(span.start), day_start(span.end) if span.end is not None else None)
        for span in spans
    ]
    return await repository.reads_of_ean(session, ean, periods, before_id=before_id, limit=limit)
