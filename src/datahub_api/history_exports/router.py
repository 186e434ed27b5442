"""The yearly history export routes: requests, status and download for ESPs (scope
`exports`, i.e. an approved `annual_history` contract); quota exceptions, agreed deadlines
and EANs added on an ESP's behalf for operators (scope `operator:contracts`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from datahub_api.access_log.service import record_file_read
from datahub_api.auth.caller import esp_organisation
from datahub_api.auth.dependencies import require_scopes
from datahub_api.auth.principal import Principal, Scope
from datahub_api.brussels_days import today_in_brussels
from datahub_api.deps import ReadSessionDep, WriteSessionDep, app_state
from datahub_api.errors import problem_responses
from datahub_api.history_exports.models import HistoryExport, HistoryExportItem
from datahub_api.history_exports.schemas import (
    DeadlineIn,
    EntryIn,
    HistoryExportCreate,
    HistoryExportOut,
    HistoryExportPage,
    ItemOut,
    OperatorAddIn,
    QuotaExceptionIn,
    QuotaExceptionOut,
)
from datahub_api.history_exports.service import requests
from datahub_api.history_exports.tasks import build_after_commit
from datahub_api.http_caching import NOT_MODIFIED_RESPONSE, json_response_with_etag
from datahub_api.idempotency.service import IdempotencyDep
from datahub_api.paging import ObjectId as Id
from datahub_api.paging import PageCursor as Cursor
from datahub_api.paging import PageLimit as Limit
from datahub_api.paging import cursor_int, encode_cursor
from datahub_api.paper_mandates.service import AttemptBound
from datahub_api.settings import Settings

router = APIRouter(tags=["history-exports"])

ExportsCaller = Annotated[Principal, Depends(require_scopes(Scope.exports))]
Operator = Annotated[Principal, Depends(require_scopes(Scope.operator_contracts))]

CREATE_DESCRIPTION = """Ask for the history of a list of EANs, once a year, free of charge.

Per EAN, describe the signed mandate of the **grid user** you keep (signatory, signing date,
SHA-256 of the document; for a company the enterprise number): the DSO may audit it as it
audits NPS signed mandates (`nps.audit_requested`, upload with
`PUT /api/v1/nps/mandates/{mandate_id}/evidence`). Each EAN registers a paper mandate: an
`annual_history` mandate over the period, `requested` at first. Whether the signatory is the
grid user on record is checked *after* registration, never in this request (the answer is
the same whoever signed); an EAN whose signatory is not the grid user on record opens an
audit at once (`opened_by: registry_check`) and is left out of the file until the audit
passes (`skipped_reason`), when the export is made again with it. The grid user and the
customers see every paper mandate at once and may contest it, with the same effect. Every
EAN counts against `DATAHUB_PAPER_MANDATES_PER_DAY` (accepted or refused); a request that
would pass it is a 429 `paper-mandates-per-day` and stores nothing.

Large-consumption installations (GVM) get every quarter-hour; small ones (KVM) the yearly and
monthly totals per register. The file is in the Fluvius CSV layout (`csv`) or the same
columns as XLSX (`xlsx`), one file per EAN, zipped when there are several.

**Refusals** (nothing is stored): no approved `annual_history` contract (403); no EANs, a
repeated EAN, an invalid or unknown EAN, an EAN without evidence or with malformed evidence,
an EAN without a grid user or without data in the period, a period that is not in the past (422,
each problem listed in `errors` with its position); more than
`DATAHUB_HISTORY_EXPORT_MAX_EANS` EANs (413); a second request in the same calendar year
(409 `quota-used`, naming the first request and its date; the DSO can grant an exception).

The export runs in the background: follow `GET /api/v1/history-exports/{id}`
(`queued -> running -> ready | failed`, with `progress_percent`) or wait for the
`history_export.ready` event and webhook. It is delivered within 10 days at worst (usually
minutes). Accepts `Idempotency-Key`."""


def _entries(entries: list[EntryIn]) -> list[requests.Entry]:
    return [
        requests.Entry(
            ean=entry.ean,
            evidence=requests.Evidence(**entry.evidence.model_dump())
            if entry.evidence is not None
            else None,
        )
        for entry in entries
    ]


def _item_out(item: HistoryExportItem) -> ItemOut:
    return ItemOut(
        position=item.position,
        ean=item.ean,
        kind="gvm" if item.gvm else "kvm",
        mandate_id=item.mandate_id,
        added_by_operator=item.added_by is not None,
        row_count=item.row_count,
        skipped_reason=item.skipped_reason,
    )


def _export_out(
    settings: Settings,
    export: HistoryExport,
    items: list[HistoryExportItem] | None,
    item_count: int,
    *,
    withdrawn: bool = False,
) -> HistoryExportOut:
    ready = export.status.value == "ready" and export.file_name is not None and not withdrawn
    return HistoryExportOut(
        id=export.id,
        reference_number=export.reference_number,
        period_from=export.period_from,
        period_to=export.period_to,
        format=export.format,
        status=export.status,
        progress_percent=export.progress_percent,
        created_at=export.created_at,
        started_at=export.started_at,
        finished_at=export.finished_at,
        due_at=requests.due_at(export, settings.sla_targets["annual_history"].days),
        agreed_due_reason=export.agreed_due_reason,
        error=export.error,
        file_name=requests.download_name(export) if export.file_name else None,
        size_bytes=export.size_bytes,
        sha256=export.sha256,
        expires_at=export.expires_at,
        withdrawn=withdrawn,
        download_url=f"{settings.base_url}/api/v1/history-exports/{export.id}/file"
        if ready
        else None,
        item_count=item_count,
        items=[_item_out(item) for item in items] if items is not None else None,
    )


@router.post(
    "/api/v1/history-exports",
    status_code=201,
    response_model=HistoryExportOut,
    responses=problem_responses(
        401,
        403,
        409,
        413,
        422,
        429,
        s409="This year's free request is used (`quota-used`), or the idempotency key was "
        "used for another body",
        s413="More EANs than allowed",
        s429="Rate limit, or the day's paper-mandate bound (`paper-mandates-per-day`)",
    ),
    summary="Ask for the yearly history of a list of EANs (scope `exports`)",
    description=CREATE_DESCRIPTION,
)
async def create_export(
    request: Request,
    body: HistoryExportCreate,
    principal: ExportsCaller,
    session: WriteSessionDep,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    esp_organisation(principal)
    if (replayed := await idempotency.replay(session)) is not None:
        return replayed
    settings: Settings = app_state(request).settings
    period = requests.period_of(body.year, body.period_from, body.period_to, today_in_brussels())
    created = await requests.create(
        session,
        principal,
        reference_number=body.reference_number,
        entries=_entries(body.eans),
        period=period,
        export_format=body.format,
        rules=requests.Rules.from_settings(settings),
        bound=AttemptBound(app_state(request).database, settings.paper_mandates_per_day),
    )
    build_after_commit(session, created.export.id)
    payload = _export_out(settings, created.export, created.items, len(created.items)).model_dump(
        mode="json"
    )
    await idempotency.remember(session, 201, payload)
    return JSONResponse(payload, status_code=201)


@router.get(
    "/api/v1/history-exports",
    response_model=HistoryExportPage,
    responses=problem_responses(401, 403, 422, 429),
    summary="Your history export requests, oldest first, cursor-paged (scope `exports`)",
)
async def list_exports(
    request: Request,
    principal: ExportsCaller,
    session: ReadSessionDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> HistoryExportPage:
    rows = await requests.page(
        session, esp_organisation(principal), after_id=cursor_int(cursor), limit=limit + 1
    )
    more, rows = len(rows) > limit, rows[:limit]
    settings = app_state(request).settings
    withdrawn = await requests.withdrawn_exports(session, [row.id for row in rows])
    return HistoryExportPage(
        items=[
            _export_out(
                settings,
                row,
                None,
                await requests.item_count(session, row.id),
                withdrawn=row.id in withdrawn,
            )
            for row in rows
        ],
        next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None,
    )


@router.get(
    "/api/v1/history-exports/{export_id}",
    response_model=HistoryExportOut,
    responses={**problem_responses(401, 403, 404, 429), **NOT_MODIFIED_RESPONSE},
    summary="One history export: status, progress, file details (scope `exports`)",
)
async def get_export(
    request: Request, export_id: Id, principal: ExportsCaller, session: ReadSessionDep
) -> Response:
    export, items = await requests.get(session, esp_organisation(principal), export_id)
    withdrawn = await requests.withdrawn_exports(session, [export.id])
    return json_response_with_etag(
        request,
        _export_out(
            app_state(request).settings, export, items, len(items), withdrawn=bool(withdrawn)
        ),
    )


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/zip": {},
            "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        },
        "description": "The file: a ZIP of one file per EAN, or the one EAN's CSV/XLSX.",
    }
}


@router.get(
    "/api/v1/history-exports/{export_id}/file",
    response_class=Response,
    responses={
        **FILE_RESPONSES,
        **problem_responses(
            401,
            403,
            404,
            409,
            410,
            429,
            s409="Not ready yet (`not-ready`)",
            s410="Past `expires_at` (`DATAHUB_HISTORY_EXPORT_RETENTION_DAYS`): the file is "
            "gone; or withdrawn (`history-export-withdrawn`): it holds data of an EAN whose "
            "mandate has ended (`withdrawn` lists them and why); it is made again without "
            "them, unless none is left",
        ),
    },
    summary="Download a ready history export (scope `exports`)",
)
async def download_export(
    request: Request, export_id: Id, principal: ExportsCaller, session: WriteSessionDep
) -> Response:
    """Only the ESP that asked may download it, and only while every mandate behind the data
    in it still reads (else 410 `history-export-withdrawn`). The `Digest`-like
    `X-Content-SHA256` header (and `sha256` in the status) lets you check it. Each download
    is recorded in the access log of every EAN in the file."""
    settings: Settings = app_state(request).settings
    found = await requests.download(session, esp_organisation(principal), export_id, settings)
    for item in found.items:
        if item.row_count and item.read_from is not None and item.read_to is not None:
            record_file_read(
                session,
                principal,
                ean=item.ean,
                mandate_id=item.mandate_id,
                start=item.read_from,
                end=item.read_to,
                granularity="PT15M" if item.gvm else "P1M",
                face="history-export",
            )
    assert found.export.file_name is not None
    assert found.export.sha256 is not None
    return FileResponse(
        found.path,
        media_type=requests.media_type_of(found.export.file_name),
        filename=requests.download_name(found.export),
        headers={
            "X-Content-SHA256": found.export.sha256,
            "ETag": f'"{found.export.sha256[:32]}"',
            "Cache-Control": "private, no-store",
        },
    )


# --- the operator's side -------------------------------------------------------------------


@router.post(
    "/api/v1/operator/history-export-quota-exceptions",
    status_code=201,
    response_model=QuotaExceptionOut,
    responses=problem_responses(401, 403, 404, 422, 429, s404="No such organisation"),
    summary="Let an ESP make one more history export request in a year "
    "(scope `operator:contracts`)",
)
async def grant_exception(
    request: Request, body: QuotaExceptionIn, principal: Operator, session: WriteSessionDep
) -> QuotaExceptionOut:
    """Recorded with its reason; the ESP's next request in that year uses it."""
    exception = await requests.grant_exception(
        session, principal, organisation_id=body.organisation_id, year=body.year, reason=body.reason
    )
    return QuotaExceptionOut(
        id=exception.id,
        organisation_id=exception.organisation_id,
        year=exception.year,
        reason=exception.reason,
        granted_by=exception.granted_by,
        granted_at=exception.granted_at,
    )


@router.get(
    "/api/v1/operator/history-exports/{export_id}",
    response_model=HistoryExportOut,
    responses=problem_responses(401, 403, 404, 429),
    summary="Any ESP's history export (scope `operator:contracts`)",
)
async def operator_get_export(
    request: Request, export_id: Id, principal: Operator, session: ReadSessionDep
) -> HistoryExportOut:
    export, items = await requests.get(session, None, export_id)
    return _export_out(app_state(request).settings, export, items, len(items))


@router.post(
    "/api/v1/operator/history-exports/{export_id}/deadline",
    response_model=HistoryExportOut,
    responses=problem_responses(401, 403, 404, 422, 429),
    summary="Agree another delivery deadline for one request (scope `operator:contracts`)",
)
async def agree_deadline(
    request: Request,
    export_id: Id,
    body: DeadlineIn,
    principal: Operator,
    session: WriteSessionDep,
) -> HistoryExportOut:
    """Recorded with its reason; the SLA's `annual_history` line measures the request
    against it instead of the 10 days."""
    export = await requests.agree_deadline(
        session, principal, export_id, due=body.due_at, reason=body.reason
    )
    items = await requests.items_of(session, export.id)
    return _export_out(app_state(request).settings, export, items, len(items))


@router.post(
    "/api/v1/operator/history-exports/{export_id}/eans",
    response_model=HistoryExportOut,
    responses=problem_responses(
        401, 403, 404, 409, 413, 422, 429, s409="The export is running; try again after"
    ),
    summary="Add EANs an ESP sent by mail to its request (scope `operator:contracts`)",
)
async def add_eans(
    request: Request,
    export_id: Id,
    body: OperatorAddIn,
    principal: Operator,
    session: WriteSessionDep,
) -> HistoryExportOut:
    """The same evidence rules as the ESP's own request; each added EAN records the
    operator and the note, and the export is made again (`queued`) with them."""
    settings: Settings = app_state(request).settings
    changed = await requests.add_eans(
        session,
        principal,
        export_id,
        _entries(body.eans),
        note=body.note,
        rules=requests.Rules.from_settings(settings),
    )
    build_after_commit(session, export_id)
    return _export_out(settings, changed.export, changed.items, len(changed.items))
