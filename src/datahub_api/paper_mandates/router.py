"""Paper mandates for the people they concern: the grid user and the customers of the
access point see every one at once and may contest it (scope `own-data`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import problem_responses
from datahub_api.nps.service import audits as nps_audits
from datahub_api.paper_mandates import service
from datahub_api.paper_mandates.schemas import ContestIn, PaperMandateOut, RegisteredBy

router = APIRouter(tags=["paper mandates"])

Person = Annotated[Principal, Depends(require_scopes(Scope.own_data))]
MandateId = Annotated[int, Path(ge=1, le=2**62)]


def paper_mandate_out(row: service.PaperRow) -> PaperMandateOut:
    paper, mandate = row.paper, row.mandate
    return PaperMandateOut(
        mandate_id=mandate.id,
        ean=paper.ean,
        channel=paper.channel,
        registered_by=RegisteredBy(
            name=row.esp_name,
            enterprise_number=row.esp_enterprise_number,
            registered_at=paper.registered_at,
        ),
        signatory_name=paper.signatory_name,
        signatory_is_grid_user=paper.signed_by_grid_user,
        signed_on=paper.signed_on,
        data_service_type=mandate.data_service_type,
        data_period_from=mandate.data_period_from,
        data_period_to=mandate.data_period_to,
        status=mandate.status,
        finished_reason=mandate.finished_reason,
        name_check=paper.name_check,
        data_held=paper.hold,
        contested_at=paper.contested_at,
        contest_reason=paper.contest_reason,
        can_contest=service.may_contest(row),
    )


def audit_rules(request: Request) -> nps_audits.AuditRules:
    settings = app_state(request).settings
    return nps_audits.AuditRules(
        days=settings.nps_audit_days, evidence_max_bytes=settings.nps_evidence_max_bytes
    )


@router.get(
    "/api/v1/paper-mandates",
    response_model=list[PaperMandateOut],
    responses=problem_responses(401, 403, 429),
    summary="Signed paper mandates registered on your access points, newest first",
)
async def list_paper_mandates(principal: Person, session: ReadSessionDep) -> list[PaperMandateOut]:
    """Every paper mandate an energy service provider registered (NPS, yearly history) on an
    access point you are the grid user or a customer of, from the moment it is registered:
    who registered it and when, who signed it, the data and period, its status, whether the
    DSO's check found another signatory, and whether data is held. Those of a previous
    occupant (ended before you moved in) are not shown."""
    return [paper_mandate_out(row) for row in await service.of_person(session, principal)]


@router.get(
    "/api/v1/paper-mandates/{mandate_id}",
    response_model=PaperMandateOut,
    responses=problem_responses(401, 403, 404, 429),
    summary="One signed paper mandate on your access points",
)
async def get_paper_mandate(
    mandate_id: MandateId, principal: Person, session: ReadSessionDep
) -> PaperMandateOut:
    return paper_mandate_out(await service.one_of_person(session, principal, mandate_id))


@router.post(
    "/api/v1/paper-mandates/{mandate_id}/contest",
    response_model=PaperMandateOut,
    responses=problem_responses(
        401,
        403,
        404,
        409,
        422,
        429,
        s404="Not a paper mandate on your access points",
        s409="Contested already, or ended",
    ),
    summary="Contest a signed paper mandate on your access point: its data stops at once",
)
async def contest_paper_mandate(
    request: Request,
    mandate_id: MandateId,
    body: ContestIn,
    principal: Person,
    session: WriteSessionDep,
) -> PaperMandateOut:
    """You did not sign it, or it is not what you signed: no data flows on it from now on,
    and the provider must show the DSO the signed document it registered (an audit, due
    within `DATAHUB_NPS_AUDIT_DAYS`). Accepted, the data flows again; refused or not shown
    in time, the mandate ends (`audit_failed`)."""
    row = await nps_audits.contest_paper_mandate(
        session, principal, mandate_id, body.reason, audit_rules(request)
    )
    return paper_mandate_out(row)
