"""The NPS routes: EAN lists, audit uploads and daily files for ESPs (scope `nps`); the
operator's side of audits under `/api/v1/operator/nps` (scope `operator:audits`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from datahub_api.access_log.service import record_file_read
from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.db import ReadSession
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import NotFound, PayloadTooLarge, problem_responses
from datahub_api.http_caching import NOT_MODIFIED_RESPONSE, json_response_with_etag
from datahub_api.idempotency.service import IdempotencyDep
from datahub_api.mandates import service as mandates_service
from datahub_api.nps.models import (
    CURRENT_AUDIT_STATUSES,
    AuditStatus,
    NpsAudit,
    NpsDailyFile,
    NpsEvidenceDocument,
    NpsRequestItem,
)
from datahub_api.nps.schemas import (
    AuditDecisionIn,
    AuditOut,
    AuditPage,
    DailyFileOut,
    DailyFilePage,
    DocumentOut,
    ItemOut,
    NpsRequestCreate,
    NpsRequestOut,
    NpsRequestPage,
)
from datahub_api.nps.service import audits, daily_files, lists
from datahub_api.paging import ObjectId as Id
from datahub_api.paging import PageCursor as Cursor
from datahub_api.paging import PageLimit as Limit
from datahub_api.paging import cursor_int, encode_cursor
from datahub_api.paper_mandates.models import Hold
from datahub_api.paper_mandates.service import AttemptBound

router = APIRouter(tags=["nps"])

NpsCaller = Annotated[Principal, Depends(require_scopes(Scope.nps))]
Operator = Annotated[Principal, Depends(require_scopes(Scope.operator_audits))]

LIST_DESCRIPTION = """Hand in a list of EANs (large-consumption installations) with, per
EAN, the mandate evidence: `source=portal` names the customer's own approved `nps` mandate
(given on the portal through a consent session on the `nps` channel); `source=signed`
describes the signed paper mandate you keep (signatory, capacity, signing date, data period,
SHA-256 of the document).

**How a partly bad list is answered.** The list is refused as a whole, with nothing stored,
only when it is malformed (422), holds more EANs than the maximum (413) or you have no
approved `nps` contract (403). Otherwise the answer is `201` with one outcome per EAN, in
list order:

| outcome | meaning |
|---|---|
| `accepted` | the EAN is on your NPS list; `mandate_id` is its mandate |
| `invalid_ean` | not 18 digits with a valid GS1 check digit |
| `unknown_ean` | no access point with this EAN |
| `not_gvm` | not a large-consumption (GVM) installation: refused, use the API channel |
| `missing_evidence` | no evidence, or portal evidence without `mandate_id` |
| `invalid_evidence` | malformed or inconsistent evidence (see below) |
| `duplicate` | the EAN is in the list more than once: none of its entries is taken |
| `already_active` | already on your NPS list, or you already hold a live `nps` mandate on it |

`invalid_evidence` covers: a hash that is not 64 hex characters, a data period that has
ended or ends before it starts, a signing date in the future, no grid user on record, or no
approved portal `nps` mandate of yours with that id on that EAN. The `detail` of each outcome
says which.

The accepted EANs are stored together, all or none, with the record of the whole answer
(`GET /api/v1/nps/requests/{id}`): fix the refused entries and send them again in a new list.

**Signed evidence registers a paper mandate**: an `nps` mandate with source `signed`, always
`requested` at first. Whether the signatory is the grid user on record is checked *after*
registration, never in this request, so the answer is the same whoever signed. Once checked,
a mandate signed by the grid user on record is `approved` (`mandate.approved`); one signed
by a customer waits for the grid user's co-consent; one whose signatory is not the grid user
on record opens an audit at once (`nps.audit_requested`, `opened_by: registry_check`) and
gives no data until the audit passes. The grid user and the customers of the access point
see every paper mandate at once (with your name) and may contest it, which stops its data
and opens an audit too. Every signed entry counts against `DATAHUB_PAPER_MANDATES_PER_DAY`
(accepted or refused); a list that would pass it is a 429 `paper-mandates-per-day`
(`Retry-After`: the next Brussels midnight) and stores nothing. The mandates are in
`GET /api/v1/mandates?channel=nps` and `GET /v3/api/mandate`. Accepts `Idempotency-Key`."""


def _item_out(item: NpsRequestItem, statuses: dict[int, str]) -> ItemOut:
    return ItemOut(
        position=item.position,
        ean=item.ean,
        outcome=item.outcome,
        detail=item.detail,
        source=item.source,
        mandate_id=item.mandate_id,
        mandate_status=statuses.get(item.mandate_id) if item.mandate_id else None,
    )


async def _mandate_statuses(
    session: ReadSession, principal: Principal, items: list[NpsRequestItem]
) -> dict[int, str]:
    statuses = {}
    for item in items:
        if item.mandate_id is not None:
            mandate = await mandates_service.get(session, principal, item.mandate_id)
            if mandate is not None:
                statuses[mandate.id] = mandate.status.value
    return statuses


@router.post(
    "/api/v1/nps/requests",
    status_code=201,
    response_model=NpsRequestOut,
    responses=problem_responses(
        401,
        403,
        409,
        413,
        422,
        429,
        s413="More EANs than allowed",
        s429="Rate limit, or the day's paper-mandate bound (`paper-mandates-per-day`)",
    ),
    summary="Hand in an NPS EAN list with per-EAN mandate evidence (scope `nps`)",
    description=LIST_DESCRIPTION,
)
async def submit_list(
    request: Request,
    body: NpsRequestCreate,
    principal: NpsCaller,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    esp_organisation(principal)
    if (replayed := await idempotency.replay(session)) is not None:
        return replayed
    settings = app_state(request).settings
    submitted = await lists.submit_list(
        session,
        principal,
        body.reference_number,
        [
            lists.ListEntry(
                ean=entry.ean,
                evidence=lists.Evidence(**entry.evidence.model_dump())
                if entry.evidence is not None
                else None,
            )
            for entry in body.eans
        ],
        lists.NpsRules(
            max_eans_per_request=settings.nps_max_eans_per_request,
            co_consent_days=settings.co_consent_days,
        ),
        bound=AttemptBound(app_state(request).database, settings.paper_mandates_per_day),
    )
    statuses = await _mandate_statuses(session, principal, submitted.items)
    payload = NpsRequestOut(
        id=submitted.request.id,
        reference_number=submitted.request.reference_number,
        created_at=submitted.request.created_at or datetime.now(UTC),
        item_count=submitted.request.item_count,
        accepted_count=submitted.request.accepted_count,
        items=[_item_out(item, statuses) for item in submitted.items],
    ).model_dump(mode="json")
    await idempotency.remember(session, 201, payload)
    return JSONResponse(payload, status_code=201)


@router.get(
    "/api/v1/nps/requests",
    response_model=NpsRequestPage,
    responses=problem_responses(401, 403, 422, 429),
    summary="Your NPS lists, oldest first, cursor-paged (scope `nps`)",
)
async def list_requests(
    principal: NpsCaller, session: ReadSessionDep, limit: Limit = 100, cursor: Cursor = None
) -> NpsRequestPage:
    rows = await lists.requests_page(
        session, esp_organisation(principal), after_id=cursor_int(cursor), limit=limit + 1
    )
    more, rows = len(rows) > limit, rows[:limit]
    return NpsRequestPage(
        items=[
            NpsRequestOut(
                id=r.id,
                reference_number=r.reference_number,
                created_at=r.created_at,
                item_count=r.item_count,
                accepted_count=r.accepted_count,
            )
            for r in rows
        ],
        next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None,
    )


@router.get(
    "/api/v1/nps/requests/{request_id}",
    response_model=NpsRequestOut,
    responses={**problem_responses(401, 403, 404, 429), **NOT_MODIFIED_RESPONSE},
    summary="One NPS list with its per-EAN outcomes (scope `nps`)",
)
async def get_request(
    request: Request, request_id: Id, principal: NpsCaller, session: ReadSessionDep
) -> Response:
    found, items = await lists.get_request(session, esp_organisation(principal), request_id)
    statuses = await _mandate_statuses(session, principal, items)
    return json_response_with_etag(
        request,
        NpsRequestOut(
            id=found.id,
            reference_number=found.reference_number,
            created_at=found.created_at,
            item_count=found.item_count,
            accepted_count=found.accepted_count,
            items=[_item_out(item, statuses) for item in items],
        ),
    )


# --- audits ------------------------------------------------------------------------------


def audit_rules(request: Request) -> audits.AuditRules:
    settings = app_state(request).settings
    return audits.AuditRules(
        days=settings.nps_audit_days, evidence_max_bytes=settings.nps_evidence_max_bytes
    )


def _document_out(document: NpsEvidenceDocument | None) -> DocumentOut | None:
    if document is None:
        return None
    return DocumentOut(
        sha256=document.sha256,
        size_bytes=document.size_bytes,
        page_count=document.page_count,
        uploaded_at=document.uploaded_at,
    )


async def _audit_out(
    session: ReadSession, organisation_id: int | None, audit: NpsAudit
) -> AuditOut:
    audit, mandate, document = await audits.audit_with_mandate(session, organisation_id, audit.id)
    paper = await audits.paper_of(session, mandate.id)
    held = paper is not None and paper.hold in (Hold.name_mismatch, Hold.contested)
    return AuditOut(
        id=audit.id,
        mandate_id=mandate.id,
        ean=mandate.ean,
        reference_number=mandate.reference_number,
        status=audit.status,
        # An ESP learns that an operator (not which client), the sample, the registry check
        # or a contest opened it.
        opened_by=audit.opened_by if organisation_id is None else audits.opened_by_for_esp(audit),
        sample_quarter=audit.sample_quarter,
        opened_at=audit.opened_at,
        due_at=audit.due_at,
        submitted_at=audit.submitted_at,
        decided_at=audit.decided_at,
        decision_note=audit.decision_note,
        mandate_status=mandate.status.value,
        mandate_finished_reason=mandate.finished_reason,
        data_held=held and audit.status in CURRENT_AUDIT_STATUSES,
        contest_reason=paper.contest_reason
        if paper is not None and organisation_id is None
        else None,
        document=_document_out(document),
    )


async def _audit_page(
    session: ReadSession,
    organisation_id: int | None,
    statuses: list[AuditStatus] | None,
    mandate_id: int | None,
    limit: int,
    cursor: str | None,
) -> AuditPage:
    rows = await audits.audits_page(
        session,
        organisation_id,
        statuses=statuses or (),
        mandate_id=mandate_id,
        after_id=cursor_int(cursor),
        limit=limit + 1,
    )
    more, rows = len(rows) > limit, rows[:limit]
    return AuditPage(
        items=[await _audit_out(session, organisation_id, audit) for audit in rows],
        next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None,
    )


@router.get(
    "/api/v1/nps/audits",
    response_model=AuditPage,
    responses=problem_responses(401, 403, 422, 429),
    summary="Audits of your signed NPS mandates: open ones and the history (scope `nps`)",
)
async def list_audits(
    principal: NpsCaller,
    session: ReadSessionDep,
    status: Annotated[list[AuditStatus] | None, Query()] = None,
    mandate_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AuditPage:
    return await _audit_page(
        session, esp_organisation(principal), status, mandate_id, limit, cursor
    )


@router.get(
    "/api/v1/nps/audits/{audit_id}",
    response_model=AuditOut,
    responses=problem_responses(401, 403, 404, 429),
    summary="One audit of your signed NPS mandates (scope `nps`)",
)
async def get_audit(audit_id: Id, principal: NpsCaller, session: ReadSessionDep) -> AuditOut:
    organisation_id = esp_organisation(principal)
    audit, _, _ = await audits.audit_with_mandate(session, organisation_id, audit_id)
    return await _audit_out(session, organisation_id, audit)


def _pdf_response(document: NpsEvidenceDocument, audit_id: int) -> Response:
    return Response(
        document.content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="nps-audit-{audit_id}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The document"}
}


@router.get(
    "/api/v1/nps/audits/{audit_id}/evidence",
    response_class=Response,
    responses={**PDF_RESPONSE, **problem_responses(401, 403, 404, 429)},
    summary="The document you uploaded for one of your audits (scope `nps`)",
)
async def get_own_evidence(audit_id: Id, principal: NpsCaller, session: ReadSessionDep) -> Response:
    document = await audits.evidence_document(session, esp_organisation(principal), audit_id)
    return _pdf_response(document, audit_id)


async def _read_capped(request: Request, limit: int) -> bytes:
    pieces, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"The document is larger than {limit} bytes.", extra={"max_bytes": limit}
            )
        pieces.append(chunk)
    return b"".join(pieces)


@router.put(
    "/api/v1/nps/mandates/{mandate_id}/evidence",
    response_model=AuditOut,
    responses=problem_responses(
        401,
        403,
        404,
        409,
        410,
        413,
        415,
        422,
        429,
        s404="No signed NPS mandate of yours with this id",
        s409="No audit asks for this mandate's document, or another document is in already",
        s410="The audit's deadline has passed (the mandate ends as `audit_failed`)",
        s413="Larger than `DATAHUB_NPS_EVIDENCE_MAX_BYTES`",
        s415="Not sent as `application/pdf`",
        s422="Not a real PDF (`not-a-pdf`), or not the document whose SHA-256 you registered "
        "(`hash-mismatch`)",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    summary="Upload the signed mandate (PDF) an audit asks for (scope `nps`)",
)
async def upload_evidence(
    request: Request, mandate_id: Id, principal: NpsCaller, session: WriteSessionDep
) -> AuditOut:
    """Send the PDF whose SHA-256 you registered with the evidence, before the audit's
    `due_at`. It must be a well-formed PDF; it is kept for the DSO and never shown to
    another ESP. Sending the same document again is harmless."""
    organisation_id = esp_organisation(principal)
    rules = audit_rules(request)
    content = await _read_capped(request, rules.evidence_max_bytes)
    upload = await audits.upload_evidence(
        session, principal, mandate_id, content, request.headers.get("content-type"), rules
    )
    return await _audit_out(session, organisation_id, upload.audit)


# --- the operator's side -----------------------------------------------------------------


@router.get(
    "/api/v1/operator/nps/audits",
    response_model=AuditPage,
    responses=problem_responses(401, 403, 422, 429),
    summary="Every ESP's NPS audits (scope `operator:audits`)",
)
async def operator_list_audits(
    principal: Operator,
    session: ReadSessionDep,
    status: Annotated[list[AuditStatus] | None, Query()] = None,
    mandate_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AuditPage:
    return await _audit_page(session, None, status, mandate_id, limit, cursor)


@router.post(
    "/api/v1/operator/nps/mandates/{mandate_id}/audits",
    status_code=201,
    response_model=AuditOut,
    responses=problem_responses(401, 403, 404, 409, 429, s409="Not live, or already audited"),
    summary="Ask an ESP for the signed document of an NPS mandate (scope `operator:audits`)",
)
async def open_audit(
    request: Request, mandate_id: Id, principal: Operator, session: WriteSessionDep
) -> AuditOut:
    """The ESP gets `nps.audit_requested` (change feed and webhooks) and has
    `DATAHUB_NPS_AUDIT_DAYS` (14) days to upload the document."""
    audit = await audits.request_audit(session, principal, mandate_id, audit_rules(request))
    return await _audit_out(session, None, audit)


@router.post(
    "/api/v1/operator/nps/audits/{audit_id}/decision",
    response_model=AuditOut,
    responses=problem_responses(401, 403, 404, 409, 422, 429),
    summary="Accept or refuse an uploaded signed mandate (scope `operator:audits`)",
)
async def decide_audit(
    request: Request,
    audit_id: Id,
    body: AuditDecisionIn,
    principal: Operator,
    session: WriteSessionDep,
) -> AuditOut:
    """Refusing ends the mandate (`finished`, reason `audit_failed`); the ESP gets
    `nps.audit_decided` and `mandate.finished`."""
    audit = await audits.decide_audit(
        session, principal, audit_id, accept=body.decision == "accept", note=body.note
    )
    return await _audit_out(session, None, audit)


@router.get(
    "/api/v1/operator/nps/audits/{audit_id}/evidence",
    response_class=Response,
    responses={**PDF_RESPONSE, **problem_responses(401, 403, 404, 429)},
    summary="The document uploaded for an audit (scope `operator:audits`)",
)
async def operator_get_evidence(
    audit_id: Id, principal: Operator, session: ReadSessionDep
) -> Response:
    document = await audits.evidence_document(session, None, audit_id)
    return _pdf_response(document, audit_id)


# --- daily files -------------------------------------------------------------------------


def _file_out(request: Request, daily_file: NpsDailyFile) -> DailyFileOut:
    return DailyFileOut(
        id=daily_file.id,
        day=daily_file.day,
        created_at=daily_file.created_at,
        row_count=daily_file.row_count,
        ean_count=daily_file.ean_count,
        size_bytes=daily_file.size_bytes,
        sha256=daily_file.sha256,
        download_url=f"{app_state(request).settings.base_url}/api/v1/nps/daily-files/"
        f"{daily_file.id}",
    )


@router.get(
    "/api/v1/nps/daily-files",
    response_model=DailyFilePage,
    responses=problem_responses(401, 403, 422, 429),
    summary="Your daily NPS files, oldest first, cursor-paged (scope `nps`)",
)
async def list_daily_files(
    request: Request,
    principal: NpsCaller,
    session: ReadSessionDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DailyFilePage:
    """One CSV per day (made early the next morning): every quarter-hour value of your
    listed EANs with an approved mandate that arrived or changed since the previous file,
    within each mandate's data period. Columns: `ean, meter_id, direction, register,
    slot_start, slot_end` (UTC), `value, unit, validation_state` (`READ`, `EST`, `VAL`,
    `NVAL`), `block_version, kind` (`new`; `late`: first delivered now for an earlier day;
    `correction`: replaces a value that may have been in an earlier file). Data that arrives
    late is in the next file: nothing is dropped. `nps.daily_file_ready` announces each."""
    rows = await daily_files.daily_files_page(
        session, esp_organisation(principal), after_id=cursor_int(cursor), limit=limit + 1
    )
    more, rows = len(rows) > limit, rows[:limit]
    return DailyFilePage(
        items=[_file_out(request, row) for row in rows],
        next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None,
    )


@router.get(
    "/api/v1/nps/daily-files/{file_id}",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The CSV"},
        **problem_responses(401, 403, 404, 429),
    },
    summary="Download one of your daily NPS files (scope `nps`)",
)
async def download_daily_file(
    file_id: Id, principal: NpsCaller, session: WriteSessionDep
) -> Response:
    """Each download is recorded in the access log of every EAN in the file."""
    organisation_id = esp_organisation(principal)
    daily_file = await daily_files.get_daily_file(
        session, organisation_id, file_id, with_content=True
    )
    if daily_file is None:
        raise NotFound("No such daily file.")
    for read in daily_file.reads:
        record_file_read(
            session,
            principal,
            ean=read["ean"],
            mandate_id=read["mandate_id"],
            start=datetime.fromisoformat(read["from"]),
            end=datetime.fromisoformat(read["to"]),
            granularity="PT15M",
            face="nps-file",
        )
    return Response(
        daily_file.content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="nps-{daily_file.day.isoformat()}.csv"',
            "ETag": f'"{daily_file.sha256[:32]}"',
        },
    )
