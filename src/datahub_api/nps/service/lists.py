"""NPS lists: EAN lists with per-EAN mandate evidence.

**A list** is judged EAN by EAN. The list as a whole is refused (and nothing stored) only
when it is malformed (422), over the maximum size (413) or the caller may not use the
channel (403). Otherwise every EAN gets an outcome; the accepted ones become (or reference)
``nps`` mandates, and the whole answer (refused EANs included, for the record) is stored in
the request's one transaction: all of it or, on any failure, nothing.

**Signed evidence** registers a paper mandate (:mod:`datahub_api.paper_mandates`): an
``nps`` mandate with source ``signed`` that starts ``requested`` and gives no data until the
DSO has checked the signatory against the registry, after registration
(:func:`.audits.check_paper_mandates`); the answer to the list never depends on that check. When a
customer signed, the grid user also gets the co-consent task and letter of the mandates
domain. **Portal evidence** references the customer's own approved ``nps`` mandate, given on
the portal in a consent session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import InvalidEan, is_valid, validated
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnprocessableContent,
)
from datahub_api.mandates import signed_evidence
from datahub_api.mandates.models import DataServiceType, Mandate, MandateSource, MandateStatus
from datahub_api.nps import repository
from datahub_api.nps.models import (
    EvidenceSource,
    ItemOutcome,
    NpsRequest,
    NpsRequestItem,
    SignatoryCapacity,
)
from datahub_api.paper_mandates import service as paper_service

NPS = Channel.nps.value
# NPS serves quarter-hour data: the mandates it makes are for every granularity.
NPS_DATA_SERVICE = DataServiceType.quarter_hourly


class TooManyEans(PayloadTooLarge):
    code, title = "too-many-eans", "Too many EANs in one list"


@dataclass(frozen=True)
class NpsRules:
    max_eans_per_request: int
    co_consent_days: int


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


async def requests_page(
    session: ReadSession, organisation_id: int, *, after_id: int | None, limit: int
) -> list[NpsRequest]:
    """The organisation's NPS lists in id order."""
    return await repository.requests_page(session, organisation_id, after_id=after_id, limit=limit)
