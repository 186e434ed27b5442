"""The rules of the NPS channel: EAN lists with per-EAN mandate evidence, audits of signed
paper mandates, and the daily files.

**A list** is judged EAN by EAN. The list as a whole is refused (and nothing stored) only
when it is malformed (422), over the maximum size (413) or the caller may not use the
channel (403). Otherwise every EAN gets an outcome; the accepted ones become (or reference)
``nps`` mandates, and the whole answer (refused EANs included, for the record) is stored in
the request's one transaction: all of it or, on any failure, nothing.

**Signed evidence** registers a paper mandate (:mod:`datahub_api.paper_mandates`): an
``nps`` mandate with source ``signed`` that starts ``requested`` and gives no data until the
DSO has checked the signatory against the registry, after registration
(:func:`check_paper_mandates`); the answer to the list never depends on that check. When a
customer signed, the grid user also gets the co-consent task and letter of the mandates
domain. **Portal evidence** references the customer's own approved ``nps`` mandate, given on
the portal in a consent session.

**Audits**: an operator, the quarterly sample, a signatory who is not the grid user on
record, or the grid user's (or customer's) contest asks for the signed document; the ESP
uploads the PDF within the deadline; it must be a real PDF whose SHA-256 is the one
registered with the evidence; the operator accepts or refuses it. Refused or overdue ends
the mandate (``finished``, reason ``audit_failed``); accepted lifts the hold of a mismatch
or contest. The audits cover the yearly history exports' paper mandates too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import InvalidEan, is_valid, validated
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import brussels_date, day_start, today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    UnprocessableContent,
    UnsupportedMediaType,
)
from datahub_api.events.event_types import (
    NPS_AUDIT_DECIDED,
    NPS_AUDIT_REQUESTED,
    NPS_DAILY_FILE_READY,
)
from datahub_api.events.service import publish
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates import signed_evidence
from datahub_api.mandates.access import released_window
from datahub_api.mandates.models import DataServiceType, Mandate, MandateSource, MandateStatus
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.meter_data.blocks import SLOT_LENGTH, DayBlock, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import StoredUnit, ValidationState
from datahub_api.meter_data.repository import ChangeCursor
from datahub_api.nps import repository
from datahub_api.nps.models import (
    AuditStatus,
    EvidenceSource,
    ItemOutcome,
    NpsAudit,
    NpsDailyFile,
    NpsEvidenceDocument,
    NpsRequest,
    NpsRequestItem,
    SignatoryCapacity,
)
from datahub_api.paper_mandates import service as paper_service
from datahub_api.paper_mandates.models import PaperMandate
from datahub_api.paper_mandates.repository import PaperRow
from datahub_api.spreadsheet_cells import formula_safe

NPS = Channel.nps.value
AUDIT_FAILED = "audit_failed"
# Who opens audits besides operators (their subject) and the quarterly sample.
SAMPLING = "sampling"
REGISTRY_CHECK = "registry_check"  # the signatory is not the grid user on record
CONTEST = "contest"  # the grid user or a customer contests the paper mandate
# NPS serves quarter-hour data: the mandates it makes are for every granularity.
NPS_DATA_SERVICE = DataServiceType.quarter_hourly


class TooManyEans(PayloadTooLarge):
    code, title = "too-many-eans", "Too many EANs in one list"


class NotAPdf(UnprocessableContent):
    code, title = "not-a-pdf", "The document is not a PDF"


class HashMismatch(UnprocessableContent):
    code, title = "hash-mismatch", "The document is not the one registered"


@dataclass(frozen=True)
class NpsRules:
    max_eans_per_request: int
    co_consent_days: int


@dataclass(frozen=True)
class AuditRules:
    days: int
    evidence_max_bytes: int


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    source: EvidenceSource
    mandate_id: int | None = None
    signatory_name: str | None = None
    signatory_capacity: SignatoryCapacity | None = None
    signatory_enterprise_number: str | None = None
    signed_on: date | None = None
    data_period_from: date | None = None
    data_period_to: date | None = None  # inclusive last day
    document_sha256: str | None = None


@dataclass(frozen=True)
class ListEntry:
    ean: str
    evidence: Evidence | None


@dataclass(frozen=True)
class Submitted:
    request: NpsRequest
    items: list[NpsRequestItem]


@dataclass
class _Judged:
    outcome: ItemOutcome
    detail: str | None = None
    mandate: Mandate | None = None
    ean: str | None = None  # the canonical EAN once valid


def _item(request_id: int, organisation_id: int, position: int, entry: ListEntry) -> NpsRequestItem:
    evidence = entry.evidence
    item = NpsRequestItem(
        request_id=request_id,
        organisation_id=organisation_id,
        position=position,
        ean=entry.ean.strip()[:40],
        outcome=ItemOutcome.accepted,
    )
    if evidence is not None:
        item.source = evidence.source
        item.signatory_name = (evidence.signatory_name or "")[:200] or None
        item.signatory_capacity = evidence.signatory_capacity
        item.signatory_enterprise_number = (evidence.signatory_enterprise_number or "")[:20] or None
        item.signed_on = evidence.signed_on
        item.data_period_from = evidence.data_period_from
        item.data_period_to = evidence.data_period_to
        sha = evidence.document_sha256
        item.document_sha256 = sha.lower()[:100] if sha else None
    return item


async def submit_list(
    session: WriteSession,
    principal: Principal,
    reference_number: str,
    entries: Sequence[ListEntry],
    rules: NpsRules,
    *,
    bound: paper_service.AttemptBound | None = None,
) -> Submitted:
    """Judge and store a list. ``bound`` counts its signed-evidence entries against the
    ESP's daily paper-mandate bound before anything is judged (429 past it)."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Only an energy service provider may hand in an NPS list.")
    if not entries:
        raise UnprocessableContent("Name at least one EAN.")
    if len(entries) > rules.max_eans_per_request:
        raise TooManyEans(
            f"A list holds at most {rules.max_eans_per_request} EANs; this one has "
            f"{len(entries)}. Split it.",
            extra={"max_eans": rules.max_eans_per_request},
        )
    if not reference_number.strip():
        raise UnprocessableContent("reference_number is required.")
    organisation_id = principal.organisation_id
    if bound is not None:
        signed = [e for e in entries if e.evidence and e.evidence.source is EvidenceSource.signed]
        await bound.count(organisation_id, len(signed))
    await repository.lock_lists_of(session, organisation_id)
    registrar = await paper_service.registrar(session, organisation_id, principal.subject)
    request = NpsRequest(
        organisation_id=organisation_id,
        reference_number=reference_number,
        submitted_by=principal.subject,
        item_count=len(entries),
        accepted_count=0,
    )
    repository.add(session, request)
    await session.flush()
    judged = await _judge_all(session, organisation_id, entries)
    items: list[NpsRequestItem] = []
    for position, (entry, verdict) in enumerate(zip(entries, judged, strict=True)):
        item = _item(request.id, organisation_id, position, entry)
        if verdict.outcome is ItemOutcome.accepted:
            assert verdict.ean is not None
            assert entry.evidence is not None
            mandate = verdict.mandate or await _signed_mandate(
                session, registrar, reference_number, verdict.ean, entry.evidence, rules
            )
            item.mandate_id = mandate.id
            request.accepted_count += 1
        item.outcome, item.detail = verdict.outcome, verdict.detail
        if verdict.ean is not None:
            item.ean = verdict.ean
        repository.add(session, item)
        items.append(item)
    await session.flush()
    return Submitted(request=request, items=items)


async def _judge_all(
    session: WriteSession, organisation_id: int, entries: Sequence[ListEntry]
) -> list[_Judged]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.ean.strip()] = counts.get(entry.ean.strip(), 0) + 1
    valid = [validated(entry.ean) for entry in entries if is_valid(entry.ean)]
    listed = await repository.listed_live_eans(session, organisation_id, valid)
    live = await repository.live_nps_mandate_eans(session, organisation_id, valid)
    referenced = [
        e.evidence.mandate_id
        for e in entries
        if e.evidence is not None and e.evidence.mandate_id is not None
    ]
    own = await repository.own_mandates(session, organisation_id, referenced)
    verdicts = []
    for entry in entries:
        verdicts.append(await _judge(session, entry, counts, listed, live, own))
    return verdicts


async def _judge(
    session: WriteSession,
    entry: ListEntry,
    counts: dict[str, int],
    listed: set[str],
    live: set[str],
    own: dict[int, Mandate],
) -> _Judged:
    raw = entry.ean.strip()
    if counts[raw] > 1:
        return _Judged(
            ItemOutcome.duplicate,
            f"The EAN is {counts[raw]} times in the list: name it once (none of them is taken).",
        )
    try:
        ean = validated(raw)
    except InvalidEan as exc:
        return _Judged(ItemOutcome.invalid_ean, f"Not a valid EAN: {exc}.")
    access_point = await access_points_service.find_access_point(session, ean)
    if access_point is None:
        return _Judged(ItemOutcome.unknown_ean, "No access point with this EAN.", ean=ean)
    if not access_point.gvm:
        return _Judged(
            ItemOutcome.not_gvm,
            "Not a large-consumption (GVM) installation: NPS serves those; ask for other "
            "access points' data through the API channel.",
            ean=ean,
        )
    evidence = entry.evidence
    if evidence is None:
        return _Judged(
            ItemOutcome.missing_evidence, "Every EAN needs its mandate evidence.", ean=ean
        )
    if ean in listed:
        return _Judged(
            ItemOutcome.already_active, "Already on your NPS list with a live mandate.", ean=ean
        )
    if evidence.source is EvidenceSource.portal:
        return _judge_portal(ean, evidence, own)
    if ean in live:
        return _Judged(
            ItemOutcome.already_active,
            "You already hold a live NPS mandate on this EAN; reference it with "
            "source=portal or end it first.",
            ean=ean,
        )
    problem = await _signed_problem(session, ean, evidence)
    if problem is not None:
        return _Judged(ItemOutcome.invalid_evidence, problem, ean=ean)
    return _Judged(ItemOutcome.accepted, ean=ean)


def _judge_portal(ean: str, evidence: Evidence, own: dict[int, Mandate]) -> _Judged:
    if evidence.mandate_id is None:
        return _Judged(
            ItemOutcome.missing_evidence, "Portal evidence names the mandate (mandate_id).", ean=ean
        )
    mandate = own.get(evidence.mandate_id)
    if (
        mandate is None
        or mandate.ean != ean
        or mandate.channel != NPS
        or mandate.source is not MandateSource.consent
        or mandate.status is not MandateStatus.approved
    ):
        return _Judged(
            ItemOutcome.invalid_evidence,
            f"No approved portal mandate {evidence.mandate_id} of yours on this EAN for the "
            "nps channel.",
            ean=ean,
        )
    return _Judged(ItemOutcome.accepted, mandate=mandate, ean=ean)


async def _signed_problem(session: WriteSession, ean: str, evidence: Evidence) -> str | None:
    """Why signed evidence cannot be taken, or None. Never whether the signatory is the
    grid user on record: that is checked after registration, so that no answer tells."""
    missing = [
        name
        for name in (
            "signatory_name",
            "signatory_capacity",
            "signed_on",
            "data_period_from",
            "data_period_to",
            "document_sha256",
        )
        if not getattr(evidence, name)
    ]
    if missing:
        return f"Signed evidence needs {', '.join(missing)}."
    assert evidence.document_sha256 is not None
    assert evidence.signed_on is not None
    assert evidence.data_period_from is not None
    assert evidence.data_period_to is not None
    if not signed_evidence.well_formed_sha256(evidence.document_sha256):
        return "document_sha256 is the SHA-256 of the signed document: 64 hex characters."
    today = today_in_brussels()
    if evidence.signed_on > today:
        return "signed_on is in the future."
    if evidence.data_period_to < evidence.data_period_from:
        return "data_period_to (the last day) is before data_period_from."
    if evidence.data_period_to < today:
        return "The data period has already ended."
    grid_user_id = await access_points_service.grid_user_on(session, ean, today)
    if grid_user_id is None:
        return "Nobody is the grid user of this EAN today: a signed mandate cannot be checked."
    return None


async def _signed_mandate(
    session: WriteSession,
    registrar: paper_service.Registrar,
    reference_number: str,
    ean: str,
    evidence: Evidence,
    rules: NpsRules,
) -> Mandate:
    assert evidence.data_period_from is not None
    assert evidence.data_period_to is not None
    assert evidence.signed_on is not None
    assert evidence.document_sha256 is not None
    today = today_in_brussels()
    access_point = await access_points_service.get_access_point(session, ean)
    grid_user = await access_points_service.grid_user_on(session, ean, today)
    assert grid_user is not None
    return await paper_service.register(
        session,
        registrar,
        access_point=access_point,
        grid_user=grid_user,
        reference_number=reference_number,
        channel=NPS,
        data_service_type=NPS_DATA_SERVICE,
        period=(
            day_start(evidence.data_period_from),
            day_start(evidence.data_period_to + timedelta(days=1)),
        ),
        evidence=paper_service.PaperEvidence(
            signatory_name=evidence.signatory_name or "",
            signatory_enterprise_number=evidence.signatory_enterprise_number,
            signed_by_grid_user=evidence.signatory_capacity is SignatoryCapacity.grid_user,
            signed_on=evidence.signed_on,
            document_sha256=evidence.document_sha256,
        ),
        co_consent_days=rules.co_consent_days,
    )


async def get_request(
    session: ReadSession, organisation_id: int, request_id: int
) -> tuple[NpsRequest, list[NpsRequestItem]]:
    request = await repository.get_request(session, organisation_id, request_id)
    if request is None:
        raise NotFound("No such NPS request.")
    return request, await repository.items_of(session, request.id)


# --- audits ------------------------------------------------------------------------------


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def opened_by_for_esp(audit: NpsAudit) -> str:
    """Who opened the audit, as the ESP is told: an operator (not which), the sample, the
    registry check, or a contest."""
    if audit.opened_by in (SAMPLING, REGISTRY_CHECK, CONTEST):
        return audit.opened_by
    return "operator"


def audit_payload(audit: NpsAudit, mandate: Mandate) -> dict[str, Any]:
    return {
        "audit_id": audit.id,
        "mandate_id": mandate.id,
        "ean": mandate.ean,
        "reference_number": mandate.reference_number,
        "status": audit.status.value,
        "opened_by": opened_by_for_esp(audit),
        "due_at": audit.due_at,
    }


async def open_audit(
    session: WriteSession,
    mandate_id: int,
    *,
    actor: str,
    rules: AuditRules,
    now: datetime | None = None,
    sample_quarter: str | None = None,
) -> NpsAudit:
    """Ask the ESP for the signed document of a live signed NPS mandate."""
    now = now or utcnow()
    mandate = await repository.signed_nps_mandate(session, None, mandate_id, for_update=True)
    if mandate is None:
        raise NotFound("No signed NPS mandate with this id.")
    if mandate.status not in (MandateStatus.requested, MandateStatus.approved):
        raise Conflict(f"The mandate is {mandate.status.value}: there is nothing to audit.")
    if await repository.current_audit(session, mandate.id) is not None:
        raise Conflict("An audit of this mandate is already in progress.")
    audit = NpsAudit(
        mandate_id=mandate.id,
        organisation_id=mandate.organisation_id,
        status=AuditStatus.open,
        opened_by=actor,
        sample_quarter=sample_quarter,
        opened_at=now,
        due_at=now + timedelta(days=rules.days),
    )
    repository.add(session, audit)
    await session.flush()
    await publish(
        session, mandate.organisation_id, NPS_AUDIT_REQUESTED, audit_payload(audit, mandate)
    )
    return audit


def check_pdf(content: bytes) -> int:
    """The page count of a well-formed PDF; :class:`NotAPdf` otherwise (magic bytes, an
    end-of-file marker, and a structure pypdf can read with at least one page)."""
    if not content.startswith(b"%PDF-"):
        raise NotAPdf("The document does not start like a PDF (%PDF-).")
    if b"%%EOF" not in content[-2048:]:
        raise NotAPdf("The document has no PDF end-of-file marker: truncated or not a PDF.")
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        pages = len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise NotAPdf(f"The document is not a readable PDF: {str(exc)[:200]}") from None
    if pages < 1:
        raise NotAPdf("The PDF has no pages.")
    return pages


@dataclass(frozen=True)
class Upload:
    audit: NpsAudit
    document: NpsEvidenceDocument


async def upload_evidence(
    session: WriteSession,
    principal: Principal,
    mandate_id: int,
    content: bytes,
    content_type: str | None,
    rules: AuditRules,
    now: datetime | None = None,
) -> Upload:
    """The ESP's upload for the audit in progress of its mandate. The same document again
    is harmless (the answer is the stored upload)."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Only the energy service provider that holds the mandate uploads.")
    now = now or utcnow()
    mandate = await repository.signed_nps_mandate(session, principal.organisation_id, mandate_id)
    if mandate is None:
        raise NotFound("No signed NPS mandate of yours with this id.")
    audit = await repository.current_audit(session, mandate.id, for_update=True)
    if audit is None:
        raise Conflict("No audit asks for this mandate's document.")
    if audit.status is AuditStatus.submitted:
        stored = await repository.document_of(session, audit.id)
        assert stored is not None
        if hashlib.sha256(content).hexdigest() == stored.sha256:
            return Upload(audit, stored)
        raise Conflict("The document of this audit is in already; the operator decides next.")
    if now > audit.due_at:
        raise Gone(
            f"The deadline of this audit passed at {audit.due_at.isoformat()}.",
            extra={"due_at": audit.due_at.isoformat()},
        )
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/pdf":
        raise UnsupportedMediaType("Upload the signed mandate as application/pdf.")
    if len(content) > rules.evidence_max_bytes:
        raise PayloadTooLarge(
            f"The document is larger than {rules.evidence_max_bytes} bytes.",
            extra={"max_bytes": rules.evidence_max_bytes},
        )
    pages = check_pdf(content)
    registered = await repository.registered_document_sha256(session, mandate.id)
    digest = hashlib.sha256(content).hexdigest()
    if digest != registered:
        raise HashMismatch(
            f"The document's SHA-256 is {digest}, not the one registered with the mandate.",
            extra={"sha256": digest},
        )
    document = NpsEvidenceDocument(
        audit_id=audit.id,
        organisation_id=mandate.organisation_id,
        sha256=digest,
        size_bytes=len(content),
        page_count=pages,
        uploaded_by=principal.subject,
        uploaded_at=now,
        content=content,
    )
    repository.add(session, document)
    audit.status = AuditStatus.submitted
    audit.submitted_at = now
    await session.flush()
    return Upload(audit, document)


async def _end_audit(
    session: WriteSession,
    audit: NpsAudit,
    status: AuditStatus,
    *,
    actor: str,
    note: str | None,
    now: datetime,
) -> None:
    audit.status = status
    audit.decided_at = now
    audit.decided_by = actor
    audit.decision_note = note
    await session.flush()
    mandate: Mandate | None = None
    if status is AuditStatus.accepted:
        await paper_service.release_after_audit(session, audit.mandate_id, actor=actor)
    else:
        mandate = await mandates_service.finish(
            session, audit.mandate_id, actor=actor, reason=AUDIT_FAILED
        )
    if mandate is None:
        mandate = await repository.signed_nps_mandate(session, None, audit.mandate_id)
    assert mandate is not None
    await publish(session, audit.organisation_id, NPS_AUDIT_DECIDED, audit_payload(audit, mandate))


async def decide_audit(
    session: WriteSession,
    principal: Principal,
    audit_id: int,
    *,
    accept: bool,
    note: str | None,
    now: datetime | None = None,
) -> NpsAudit:
    if principal.role is not Role.operator:
        raise Forbidden("Only an operator decides audits.")
    audit = await repository.get_audit(session, None, audit_id, for_update=True)
    if audit is None:
        raise NotFound("No such audit.")
    if audit.status is AuditStatus.open:
        raise Conflict("No document has been uploaded for this audit yet.")
    if audit.status is not AuditStatus.submitted:
        raise Conflict(f"This audit is {audit.status.value} already.")
    await _end_audit(
        session,
        audit,
        AuditStatus.accepted if accept else AuditStatus.refused,
        actor=principal.subject,
        note=note,
        now=now or utcnow(),
    )
    return audit


async def end_overdue_audits(session: WriteSession, now: datetime | None = None) -> int:
    """Every audit still waiting for its document after the deadline fails."""
    now = now or utcnow()
    overdue = await repository.overdue_audits(session, now)
    for audit in overdue:
        await _end_audit(
            session, audit, AuditStatus.overdue, actor="system", note="no document in time", now=now
        )
    return len(overdue)


async def sample_audits(
    session: WriteSession,
    *,
    share: float,
    rules: AuditRules,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> int:
    """Once a quarter per ESP: open audits on ``share`` of its live signed NPS mandates (at
    least one). Runs daily and does nothing for an ESP already sampled this quarter, so a
    missed day is caught up."""
    if share <= 0:
        return 0
    now = now or utcnow()
    rng = rng or random.SystemRandom()
    quarter = quarter_of(brussels_date(now))
    done = await repository.sampled_organisations(session, quarter)
    opened = 0
    for organisation_id, mandate_ids in (await repository.live_signed_mandates(session)).items():
        if organisation_id in done:
            continue
        busy = await repository.mandates_under_audit(session, mandate_ids)
        candidates = [m for m in mandate_ids if m not in busy]
        count = min(len(candidates), max(1, math.ceil(share * len(mandate_ids))))
        for mandate_id in sorted(rng.sample(candidates, count)):
            await open_audit(
                session,
                mandate_id,
                actor=SAMPLING,
                rules=rules,
                now=now,
                sample_quarter=quarter,
            )
            opened += 1
    return opened


async def _audit_unless_audited(
    session: WriteSession, mandate: Mandate, *, actor: str, rules: AuditRules, now: datetime
) -> NpsAudit | None:
    """Open an audit of the mandate, unless one is in progress already (it serves)."""
    if await repository.current_audit(session, mandate.id) is not None:
        return None
    return await open_audit(session, mandate.id, actor=actor, rules=rules, now=now)


async def check_paper_mandates(
    session: WriteSession,
    rules: AuditRules,
    *,
    mandate_ids: Sequence[int] | None = None,
    now: datetime | None = None,
    limit: int = 500,
) -> int:
    """Check registered paper mandates against the registry (all waiting ones, at most
    ``limit``, or those of ``mandate_ids``); each signatory who is not the grid user on
    record opens an audit at once, and the mandate gives no data until it passes. How many
    were checked."""
    now = now or utcnow()
    checked, mismatched = await paper_service.run_checks(
        session, mandate_ids=mandate_ids, now=now, limit=limit
    )
    for mandate in mismatched:
        await _audit_unless_audited(session, mandate, actor=REGISTRY_CHECK, rules=rules, now=now)
    return checked


async def contest_paper_mandate(
    session: WriteSession,
    principal: Principal,
    mandate_id: int,
    reason: str,
    rules: AuditRules,
    now: datetime | None = None,
) -> PaperRow:
    """A grid user or customer contests a paper mandate on their access point: its data
    stops at once and the ESP must show the signed document (an audit, unless one is in
    progress already)."""
    now = now or utcnow()
    if not reason.strip():
        raise UnprocessableContent("Say why you contest this mandate (reason).")
    row = await paper_service.contest(session, principal, mandate_id, reason, now=now)
    await _audit_unless_audited(session, row.mandate, actor=CONTEST, rules=rules, now=now)
    return row


async def paper_of(session: ReadSession, mandate_id: int) -> PaperMandate | None:
    """The paper-mandate record of an audited mandate: its hold and any contest."""
    return await paper_service.of_mandate(session, mandate_id)


async def audit_with_mandate(
    session: ReadSession, organisation_id: int | None, audit_id: int
) -> tuple[NpsAudit, Mandate, NpsEvidenceDocument | None]:
    audit = await repository.get_audit(session, organisation_id, audit_id)
    if audit is None:
        raise NotFound("No such audit.")
    mandate = await repository.signed_nps_mandate(session, None, audit.mandate_id)
    assert mandate is not None
    return audit, mandate, await repository.document_of(session, audit.id)


async def evidence_document(
    session: ReadSession, organisation_id: int | None, audit_id: int
) -> NpsEvidenceDocument:
    """The uploaded document of an audit: the owning ESP's (``organisation_id``) or, for an
    operator (``None``), anyone's."""
    audit = await repository.get_audit(session, organisation_id, audit_id)
    if audit is None:
        raise NotFound("No such audit.")
    document = await repository.document_of(session, audit.id, with_content=True)
    if document is None:
        raise NotFound("No document has been uploaded for this audit.")
    return document


# --- daily files -------------------------------------------------------------------------

DAILY_FILE_COLUMNS = (
    "ean",
    "meter_id",
    "direction",
    "register",
    "slot_start",
    "slot_end",
    "value",
    "unit",
    "validation_state",
    "block_version",
    "kind",
)
UNIT_NAMES = {StoredUnit.Wh: "kWh", StoredUnit.varh: "kVArh", StoredUnit.litre: "m3"}
CHANGES_PAGE = 5000


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _amount(milli: int) -> str:
    return f"{milli // 1000}.{milli % 1000:03d}"


@dataclass
class _EanWindows:
    mandate_id: int
    windows: list[tuple[datetime, datetime]]
    first: datetime | None = None
    last: datetime | None = None


def _kind(block: DayBlock, day: date, previous_cut: datetime | None) -> str:
    """``correction``: the block was there at the previous cut (its values may have been
    sent before); ``late``: first sent now, for a day before the file's; else ``new``."""
    if previous_cut is not None and block.first_inserted_at <= previous_cut:
        return "correction"
    return "late" if block.key.day < day else "new"


def _rows(
    block: DayBlock, allowed: _EanWindows, day: date, previous_cut: datetime | None
) -> list[list[str]]:
    kind = _kind(block, day, previous_cut)
    length = SLOT_LENGTH[Granularity.PT15M]
    meter_id = formula_safe(block.key.meter_id)  # the one registry text in a row
    rows = []
    for index, value in enumerate(block.values):
        if value is None:
            continue
        start = slot_start(block.key.day, Granularity.PT15M, index)
        if not any(low <= start and start + length <= high for low, high in allowed.windows):
            continue
        state = block.states[index]
        allowed.first = min(allowed.first or start, start)
        allowed.last = max(allowed.last or start + length, start + length)
        rows.append(
            [
                block.key.ean,
                meter_id,
                block.key.direction.name,
                block.key.register.name,
                _instant(start),
                _instant(start + length),
                _amount(value),
                UNIT_NAMES[StoredUnit(block.unit)],
                ValidationState(state).name if state else "",
                str(block.version),
                kind,
            ]
        )
    return rows


async def _allowed_windows(
    session: ReadSession, organisation_id: int, now: datetime
) -> dict[str, _EanWindows]:
    """What each listed EAN's mandates release (the gate's rule: readable at ``now``, the
    data period narrowed to the tenure of the people who gave them)."""
    allowed: dict[str, _EanWindows] = {}
    for mandate in await repository.listed_approved_mandates(session, organisation_id, now):
        if mandate.data_service_type not in (
            DataServiceType.quarter_hourly,
            DataServiceType.undetermined,
        ):
            continue
        window = released_window(mandate)
        allowed.setdefault(mandate.ean, _EanWindows(mandate.id, [])).windows.append(window)
    return allowed


async def make_daily_file(
    session: WriteSession, organisation_id: int, day: date, until: datetime, now: datetime
) -> NpsDailyFile | None:
    """The organisation's file for ``day``: every quarter-hour value of its listed EANs with
    an approved mandate that was stored or changed after the previous file's cut, up to
    ``until`` (a safety margin before now, so that a slower transaction that commits later
    with an earlier insert time is not passed over). None when it exists already."""
    if await repository.daily_file_exists(session, organisation_id, day):
        return None
    previous = await repository.last_daily_file(session, organisation_id)
    cursor = None
    if previous is not None and previous.cursor_inserted_at is not None:
        assert previous.cursor_block_id is not None
        cursor = ChangeCursor(previous.cursor_inserted_at, previous.cursor_block_id)
    previous_cut = cursor.inserted_at if cursor is not None else None
    allowed = await _allowed_windows(session, organisation_id, now)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(DAILY_FILE_COLUMNS)
    row_count = 0
    while allowed:
        blocks = await meter_data_repository.blocks_changed_since(
            session, list(allowed), after=cursor, limit=CHANGES_PAGE, until=until
        )
        for block in blocks:
            if block.key.granularity is Granularity.PT15M:
                rows = _rows(block, allowed[block.key.ean], day, previous_cut)
                writer.writerows(rows)
                row_count += len(rows)
        if blocks:
            cursor = ChangeCursor(blocks[-1].last_inserted_at, blocks[-1].id)
        if len(blocks) < CHANGES_PAGE:
            break
    content = text.getvalue().encode()
    reads = [
        {
            "ean": ean,
            "mandate_id": windows.mandate_id,
            "from": windows.first.isoformat(),
            "to": windows.last.isoformat(),
        }
        for ean, windows in sorted(allowed.items())
        if windows.first is not None and windows.last is not None
    ]
    daily_file = NpsDailyFile(
        organisation_id=organisation_id,
        day=day,
        created_at=now,
        cursor_inserted_at=cursor.inserted_at if cursor else None,
        cursor_block_id=cursor.block_id if cursor else None,
        row_count=row_count,
        ean_count=len(reads),
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        reads=reads,
        content=content,
    )
    repository.add(session, daily_file)
    await session.flush()
    await publish(
        session,
        organisation_id,
        NPS_DAILY_FILE_READY,
        {"daily_file_id": daily_file.id, "day": day, "row_count": row_count},
    )
    return daily_file


async def make_daily_files(
    session: WriteSession, *, day: date, until: datetime, now: datetime | None = None
) -> list[NpsDailyFile]:
    """The files for ``day`` of every ESP with an NPS list."""
    now = now or utcnow()
    made = []
    for organisation_id in await repository.organisations_with_lists(session):
        daily_file = await make_daily_file(session, organisation_id, day, until, now)
        if daily_file is not None:
            made.append(daily_file)
    return made
