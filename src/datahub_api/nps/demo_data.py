"""Demo NPS data for ESP A, made through the real services: an EAN list of the demo's
large-consumption installations with signed evidence (checked against the registry as the
job would: approved where the grid user signed, waiting for the grid user where a tenant
did), one audit waiting for ESP A's upload, and one
mandate ended by a refused audit (``audit_failed``). The signed PDFs are written to
``<data dir>/demo-nps/`` so that a newcomer can upload the audited one."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from pypdf import PdfWriter

from datahub_api.accounts import repository as accounts_repository
from datahub_api.auth.principal import ESP_SCOPES, OPERATOR_SCOPES, Principal, Role
from datahub_api.brussels_days import today_in_brussels
from datahub_api.db import WriteSession
from datahub_api.demo.world import DemoWorldBuilder
from datahub_api.nps.models import EvidenceSource, ItemOutcome, SignatoryCapacity
from datahub_api.nps.service import audits, lists
from datahub_api.organisations import repository as organisations_repository

MAX_DEMO_EANS = 8
DEMO_OPERATOR = Principal(subject="demo:operator", role=Role.operator, scopes=OPERATOR_SCOPES)


def demo_pdf(ean: str, signatory: str) -> bytes:
    """A one-page PDF standing for the signed mandate of ``ean`` (the same bytes every time)."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": f"NPS mandate {ean}", "/Author": signatory})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def seed_nps(session: WriteSession, world: DemoWorldBuilder) -> None:
    credentials = world.credentials
    esps = credentials.get("esps", [])
    points = [p for p in credentials.get("access_points", []) if p["gvm"]][:MAX_DEMO_EANS]
    if not esps or not points:
        return
    organisation = await organisations_repository.get_by_enterprise_number(
        session, esps[0]["enterprise_number"]
    )
    assert organisation is not None
    esp = Principal(
        subject="demo:ESP A", role=Role.esp, scopes=ESP_SCOPES, organisation_id=organisation.id
    )
    today = today_in_brussels()
    folder = world.settings.data_dir / "demo-nps"
    documents: dict[str, bytes] = {}
    entries = []
    for point in points:
        grid_user = await accounts_repository.get_by_username(session, point["grid_user"])
        customer = await accounts_repository.get_by_username(session, point["customer"])
        assert grid_user is not None
        assert customer is not None
        by_grid_user = grid_user.id == customer.id
        signatory = grid_user.display_name if by_grid_user else customer.display_name
        documents[point["ean"]] = demo_pdf(point["ean"], signatory)
        entries.append(
            lists.ListEntry(
                ean=point["ean"],
                evidence=lists.Evidence(
                    source=EvidenceSource.signed,
                    signatory_name=signatory,
                    signatory_capacity=SignatoryCapacity.grid_user
                    if by_grid_user
                    else SignatoryCapacity.customer,
                    signatory_enterprise_number=grid_user.enterprise_number,
                    signed_on=today - timedelta(days=30),
                    data_period_from=today - timedelta(days=365),
                    data_period_to=today + timedelta(days=730),
                    document_sha256=hashlib.sha256(documents[point["ean"]]).hexdigest(),
                ),
            )
        )
    submitted = await lists.submit_list(
        session,
        esp,
        "NPS-A-0001",
        entries,
        lists.NpsRules(max_eans_per_request=1000, co_consent_days=world.settings.co_consent_days),
    )
    accepted = [i for i in submitted.items if i.outcome is ItemOutcome.accepted and i.mandate_id]
    rules = audits.AuditRules(days=world.settings.nps_audit_days, evidence_max_bytes=10**7)
    # The registry check a job runs after registration, run here (no queue while seeding).
    await audits.check_paper_mandates(
        session, rules, mandate_ids=[i.mandate_id for i in accepted if i.mandate_id]
    )
    summary: dict[str, Any] = {
        "reference_number": "NPS-A-0001",
        "eans": [i.ean for i in accepted],
        "documents": str(folder),
    }
    now = datetime.now(UTC)
    if accepted:  # one audit waiting for ESP A's upload
        audited = accepted[0]
        assert audited.mandate_id is not None
        audit = await audits.open_audit(
            session, audited.mandate_id, actor=DEMO_OPERATOR.subject, rules=rules, now=now
        )
        summary["open_audit"] = {
            "audit_id": audit.id,
            "mandate_id": audited.mandate_id,
            "upload": f"PUT /api/v1/nps/mandates/{audited.mandate_id}/evidence "
            f"(Content-Type: application/pdf) with {folder / (audited.ean + '.pdf')}",
        }
    if len(accepted) > 1:  # one mandate ended by a refused audit
        refused = accepted[1]
        assert refused.mandate_id is not None
        audit = await audits.open_audit(
            session,
            refused.mandate_id,
            actor=DEMO_OPERATOR.subject,
            rules=rules,
            now=now - timedelta(days=10),
        )
        await audits.upload_evidence(
            session,
            esp,
            refused.mandate_id,
            documents[refused.ean],
            "application/pdf",
            rules,
            now=now - timedelta(days=5),
        )
        await audits.decide_audit(
            session,
            DEMO_OPERATOR,
            audit.id,
            accept=False,
            note="The signature does not match the company register.",
            now=now,
        )
        summary["audit_failed_mandate_id"] = refused.mandate_id
    folder.mkdir(parents=True, exist_ok=True)
    for ean, content in documents.items():
        (folder / f"{ean}.pdf").write_bytes(content)
    esps[0]["nps"] = summary
