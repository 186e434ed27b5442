"""The pages of customers and grid users: my mandates (with revoke), the co-consent inbox
and "who read my data" (the access log). The inbox and the mandates page also list the
signed paper mandates registered on their access points, with the contest form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from datahub_api.access_log import service as access_log_service
from datahub_api.access_log import sharing
from datahub_api.access_points import service as access_points_service
from datahub_api.accounts import service as accounts_service
from datahub_api.auth.principal import Principal
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import Conflict, Gone, NotFound, UnprocessableContent
from datahub_api.mandates import listing as mandate_listing
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.router import co_consent_out
from datahub_api.nps.service import audits as nps_audits
from datahub_api.paper_mandates import service as paper_service
from datahub_api.portal.pages import PEOPLE, checked_form, form_person_of, message, page, person_of

router = APIRouter(include_in_schema=False)

MANDATES_SHOWN = 200
READS_SHOWN = 100
LIVE = ("requested", "approved")
PAPER_PAGES = ("/portal/co-consents", "/portal/mandates", "/portal/sharing")
# The pages a revoke form may come from (and go back to).
REVOKE_PAGES = ("/portal/mandates", "/portal/sharing")
PAPER_NOTICES = ("contested",)


def _id_of(text: str) -> int | None:
    """A path id, or None for anything that is not one (shown as "not found")."""
    return int(text) if text.isdigit() and 0 < int(text) < 2**62 else None


@router.get("/portal/mandates")
async def my_mandates(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(PEOPLE))],
) -> Response:
    rows = await mandate_listing.newest_with_organisation(session, person, limit=MANDATES_SHOWN)
    paper = await paper_service.of_person(session, person)
    return page(
        request,
        person,
        "mandates.html",
        rows=rows,
        live=LIVE,
        user_id=person.user_id,
        done=request.query_params.get("done"),
        **_paper_context(request, paper, "/portal/mandates"),
    )


def _paper_context(
    request: Request, paper: list[paper_service.PaperRow], back: str
) -> dict[str, Any]:
    notice = request.query_params.get("paper")
    return {
        "paper": paper,
        "paper_back": back,
        "paper_done": notice if notice in PAPER_NOTICES else None,
    }


@router.post("/portal/mandates/{mandate_id}/revoke")
async def revoke_mandate(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[Principal, Depends(form_person_of(PEOPLE, back_to=REVOKE_PAGES[0]))],
    mandate_id: str,
) -> Response:
    back = REVOKE_PAGES[0]
    form = await checked_form(request, person, back_to=back)
    sent_back = str(form.get("back", ""))
    back = sent_back if sent_back in REVOKE_PAGES else back
    number = _id_of(mandate_id)
    try:
        if number is None:
            raise NotFound("No such mandate.")
        async with session.begin_nested():  # a refusal leaves nothing behind
            await mandates_service.revoke(session, person, number)
    except NotFound:
        return message(request, person, "mandates_title", "no_such_mandate", 404, link=back)
    except Conflict:
        return message(request, person, "mandates_title", "not_revocable", 409, link=back)
    return RedirectResponse(f"{back}?done=revoked", status_code=303)


@router.get("/portal/co-consents")
async def co_consent_inbox(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(PEOPLE))],
) -> Response:
    assert person.user_id is not None
    tasks = [
        await co_consent_out(session, task.id, task.status, task.due_at, mandate)
        for task, mandate in await mandates_service.co_consent_inbox(session, person.user_id)
    ]
    live_paper = [
        row
        for row in await paper_service.of_person(session, person)
        if row.mandate.status.value in LIVE
    ]
    return page(
        request,
        person,
        "co_consents.html",
        tasks=tasks,
        done=request.query_params.get("done"),
        **_paper_context(request, live_paper, "/portal/co-consents"),
    )


@router.post("/portal/paper-mandates/{mandate_id}/contest")
async def contest_paper_mandate(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[Principal, Depends(form_person_of(PEOPLE, back_to=PAPER_PAGES[0]))],
    mandate_id: str,
) -> Response:
    """The contest form of a paper mandate (on the inbox and the mandates page)."""
    form = await checked_form(request, person, back_to=PAPER_PAGES[0])
    sent_back = str(form.get("back", ""))
    back = sent_back if sent_back in PAPER_PAGES else PAPER_PAGES[0]
    reason = str(form.get("reason", ""))[:2000]
    number = _id_of(mandate_id)
    settings = app_state(request).settings
    rules = nps_audits.AuditRules(
        days=settings.nps_audit_days, evidence_max_bytes=settings.nps_evidence_max_bytes
    )
    try:
        if number is None:
            raise NotFound("No such paper mandate.")
        async with session.begin_nested():  # a refusal leaves nothing behind
            await nps_audits.contest_paper_mandate(session, person, number, reason, rules)
    except NotFound:
        return message(request, person, "paper_title", "paper_not_found", 404, link=back)
    except Conflict:
        return message(request, person, "paper_title", "paper_not_contestable", 409, link=back)
    except UnprocessableContent:
        return message(request, person, "paper_title", "paper_reason_needed", 422, link=back)
    return RedirectResponse(f"{back}?paper=contested#paper-mandates", status_code=303)


@router.post("/portal/co-consents/{task_id}")
async def decide_co_consent(
    request: Request,
    session: WriteSessionDep,
    person: Annotated[Principal, Depends(form_person_of(PEOPLE, back_to="/portal/co-consents"))],
    task_id: str,
) -> Response:
    back = "/portal/co-consents"
    form = await checked_form(request, person, back_to=back)
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "reject"):
        return message(request, person, "co_consents_title", "bad_decision", 422, link=back)
    number = _id_of(task_id)
    try:
        if number is None or person.user_id is None:
            raise NotFound("No such co-consent request.")
        async with session.begin_nested():  # a refusal leaves nothing behind
            account = await accounts_service.get_account(session, person.user_id)
            assert account is not None
            await mandates_service.decide_co_consent(
                session, account, number, approve=decision == "approve", actor=person
            )
    except NotFound:
        return message(request, person, "co_consents_title", "no_such_task", 404, link=back)
    except Gone:
        return message(request, person, "co_consents_title", "task_expired", 410, link=back)
    except Conflict:
        return message(request, person, "co_consents_title", "answered", 409, link=back)
    done = "approved" if decision == "approve" else "rejected"
    return RedirectResponse(f"{back}?done={done}", status_code=303)


@router.get("/portal/access-log")
async def access_log(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(PEOPLE))],
) -> Response:
    """Who read the data of my access points (my own days there, also of those I left),
    newest first; ``?ean=`` for one of them."""
    assert person.user_id is not None
    wanted = request.query_params.get("ean") or None
    # Also the access points they left: who read their days there is theirs to know.
    eans = await access_points_service.eans_of_account(session, person.user_id)
    if wanted is not None and wanted not in eans:
        return message(
            request, person, "access_log_title", "not_your_ean", 404, link="/portal/access-log"
        )
    reads = []
    for ean in [wanted] if wanted else eans:
        for record, reader in await access_log_service.reads_of_my_access_point(
            session, person, ean, before_id=None, limit=READS_SHOWN
        ):
            reads.append((record, reader))
    reads.sort(key=lambda row: row[0].at, reverse=True)
    return page(
        request,
        person,
        "access_log.html",
        eans=eans,
        ean=wanted,
        reads=reads[:READS_SHOWN],
        now=datetime.now(UTC),
    )


@router.get("/portal/sharing")
async def sharing_overview(
    request: Request,
    session: ReadSessionDep,
    person: Annotated[Principal, Depends(person_of(PEOPLE))],
) -> Response:
    """Every ESP holding a mandate on my access points, what it may read, when it last
    read and how often lately; revoke and contest from here."""
    shared = await sharing.overview(session, person)
    return page(
        request,
        person,
        "sharing.html",
        shared=shared,
        recent_days=sharing.RECENT_DAYS,
        user_id=person.user_id,
        done=request.query_params.get("done"),
        paper_done=request.query_params.get("paper") in PAPER_NOTICES,
    )
