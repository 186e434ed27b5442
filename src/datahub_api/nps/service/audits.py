"""Audits of signed paper mandates (NPS and the yearly history exports' paper mandates).

**Audits**: an operator, the quarterly sample, a signatory who is not the grid user on
record, or the grid user's (or customer's) contest asks for the signed document; the ESP
uploads the PDF within the deadline; it must be a real PDF whose SHA-256 is the one
registered with the evidence; the operator accepts or refuses it. Refused or overdue ends
the mandate (``finished``, reason ``audit_failed``); accepted lifts the hold of a mismatch
or contest. The audits cover the yearly history exports' paper mandates too.
"""

from __future__ import annotations

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

from datahub_api.audit.service import record_action
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import brussels_date
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
)
from datahub_api.events.service import publish
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import Mandate, MandateStatus
from datahub_api.nps import repository
from datahub_api.nps.models import (
    AuditStatus,
    NpsAudit,
    NpsEvidenceDocument,
)
from datahub_api.paper_mandates import service as paper_service
from datahub_api.paper_mandates.models import PaperMandate
from datahub_api.paper_mandates.repository import PaperRow

AUDIT_FAILED = "audit_failed"
# Who opens audits besides operators (their subject) and the quarterly sample.
SAMPLING = "sampling"
REGISTRY_CHECK = "registry_check"  # the signatory is not the grid user on record
CONTEST = "contest"  # the grid user or a customer contests the paper mandate


class NotAPdf(UnprocessableContent):
    code, title = "not-a-pdf", "The document is not a PDF"


class HashMismatch(UnprocessableContent):
    code, title = "hash-mismatch", "The document is not the one registered"


@dataclass(frozen=True)
class AuditRules:
    days: int
    evidence_max_bytes: int


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
    now = now or datetime.now(UTC)
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


async def request_audit(
    session: WriteSession, principal: Principal, mandate_id: int, rules: AuditRules
) -> NpsAudit:
    """An operator asks the ESP for the signed document of a mandate (:func:`open_audit`),
    recorded in the audit trail as the operator's action."""
    audit = await open_audit(session, mandate_id, actor=principal.subject, rules=rules)
    record_action(session, actor=principal, action="nps.audit_opened", target=str(audit.id))
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
    """The ESP's upload for the audit in progress of its mandate, recorded in the audit trail.
    The same document again is harmless (the answer is the stored upload, recorded again)."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Only the energy service provider that holds the mandate uploads.")
    now = now or datetime.now(UTC)
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
            _record_upload(session, principal, audit)
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
    _record_upload(session, principal, audit)
    return Upload(audit, document)


def _record_upload(session: WriteSession, principal: Principal, audit: NpsAudit) -> None:
    record_action(session, actor=principal, action="nps.evidence_uploaded", target=str(audit.id))


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
        now=now or datetime.now(UTC),
    )
    decision = "accept" if accept else "refuse"
    record_action(session, actor=principal, action=f"nps.audit_{decision}", target=str(audit_id))
    return audit


async def end_overdue_audits(session: WriteSession, now: datetime | None = None) -> int:
    """Every audit still waiting for its document after the deadline fails."""
    now = now or datetime.now(UTC)
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
    now = now or datetime.now(UTC)
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
    now = now or datetime.now(UTC)
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
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise UnprocessableContent("Say why you contest this mandate (reason).")
    row = await paper_service.contest(session, principal, mandate_id, reason, now=now)
    await _audit_unless_audited(session, row.mandate, actor=CONTEST, rules=rules, now=now)
    record_action(session, actor=principal, action="paper_mandate.contest", target=str(mandate_id))
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


async def audits_with_mandates(
    session: ReadSession, principal: Principal, organisation_id: int, *, limit: int
) -> tuple[list[NpsAudit], dict[int, Mandate | None]]:
    """The organisation's first ``limit`` audits, each with its mandate as ``principal``
    sees it."""
    audits = await audits_page(
        session, organisation_id, statuses=(), mandate_id=None, after_id=None, limit=limit
    )
    found = await mandates_repository.get_many(session, principal, [a.mandate_id for a in audits])
    return audits, {a.mandate_id: found.get(a.mandate_id) for a in audits}


async def audits_page(
    session: ReadSession,
    organisation_id: int | None,
    *,
    statuses: Sequence[AuditStatus],
    mandate_id: int | None,
    after_id: int | None,
    limit: int,
) -> list[NpsAudit]:
    """The audits of ``organisation_id`` (everyone's for ``None``) in id order."""
    return await repository.audits_page(
        session,
        organisation_id,
        statuses=statuses,
        mandate_id=mandate_id,
        after_id=after_id,
        limit=limit,
    )
