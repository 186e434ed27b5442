"""History export requests and their free quota.

**A request** names EANs (at most ``DATAHUB_HISTORY_EXPORT_MAX_EANS``), a year or a period of
past days, a format (``csv`` or ``xlsx``) and, per EAN, the signed mandate the ESP keeps: the
signatory must be the grid user on record (enterprise number for a company, else the
name), with the signing date and the SHA-256 of the document. The request is judged whole:
any bad EAN refuses it (422, every problem listed) and nothing is stored. Each EAN registers
a paper mandate (:mod:`datahub_api.paper_mandates`): an ``annual_history`` mandate with source
``signed`` over the period, ``requested`` until the signatory is checked against the registry
after registration (never in the request: no answer tells whether a name matched), which
the NPS audits cover like NPS's signed mandates (the same document upload, deadline and
outcome). The job checks the EANs still waiting before it reads; an EAN whose paper mandate
is held (another signatory, or contested) is left out until its audit passes, and then the
export is made again with it.

**The free quota**: one request per ESP per Brussels calendar year; a second one is a 409
naming the first, unless an operator granted an exception for that year (recorded with its
reason; each exception lets one more request through).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import InvalidEan, validated
from datahub_api.access_points.models import AccessPoint
from datahub_api.audit.service import record_action
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
)
from datahub_api.history_exports import repository
from datahub_api.history_exports.models import (
    ExportFormat,
    ExportStatus,
    HistoryExport,
    HistoryExportItem,
    HistoryExportQuotaException,
)
from datahub_api.mandates import signed_evidence
from datahub_api.mandates.access import reads_at, released_window, why_not_reading
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data import repository as meter_data_repository
from datahub_api.nps import repository as nps_repository
from datahub_api.organisations import repository as organisations_repository
from datahub_api.paper_mandates import service as paper_service
from datahub_api.settings import Settings

CHANNEL = Channel.annual_history.value
MAX_PERIOD_DAYS = 3 * 366 + 1  # at most three years (and what we hold) per request
# The mandate lives until the file can no longer be downloaded (the 10-day worst case of
# the service level plus the retention), so it can be audited and the download recorded.
MANDATE_DAYS_BEYOND_RETENTION = 10


class TooManyEans(PayloadTooLarge):
    code, title = "too-many-eans", "Too many EANs in one request"


class QuotaUsed(Conflict):
    code, title = "quota-used", "This year's free history export is used"


class InvalidEntries(UnprocessableContent):
    code, title = "invalid-eans", "Some EANs cannot be exported"


class NotReady(Conflict):
    code, title = "not-ready", "The export is not ready"


class Withdrawn(Gone):
    """The file holds data of an EAN whose mandate reads no more (revoked, ended with the
    grid user's tenure, expired, failed its audit): it may not be downloaded. The sweep makes
    it again without those EANs; when none is left the export stays withdrawn."""

    code, title = "history-export-withdrawn", "The file is withdrawn"


@dataclass(frozen=True)
class Rules:
    max_eans: int
    retention_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            max_eans=settings.history_export_max_eans,
            retention_days=settings.history_export_retention_days,
        )


@dataclass(frozen=True)
class Evidence:
    signatory_name: str
    signed_on: date
    document_sha256: str
    signatory_enterprise_number: str | None = None


@dataclass(frozen=True)
class Entry:
    ean: str
    evidence: Evidence | None


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- requests ------------------------------------------------------------------------------


def period_of(
    year: int | None, period_from: date | None, period_to: date | None, today: date
) -> tuple[date, date]:
    """The first and last (inclusive) Brussels day of the export: a calendar year (up to
    yesterday for the current one) or the period given; only past days."""
    if year is not None and (period_from is not None or period_to is not None):
        raise UnprocessableContent("Give `year` or `period_from` and `period_to`, not both.")
    if year is not None:
        if year >= today.year + (1 if today.month > 1 or today.day > 1 else 0):
            raise UnprocessableContent(f"{year} has no past days yet: there is no history.")
        first, last = date(year, 1, 1), min(date(year, 12, 31), today - timedelta(days=1))
    elif period_from is not None and period_to is not None:
        first, last = period_from, period_to
    else:
        raise UnprocessableContent("Give `year`, or `period_from` and `period_to`.")
    if last < first:
        raise UnprocessableContent("`period_to` (the last day) is before `period_from`.")
    if last >= today:
        raise UnprocessableContent("The period must end by yesterday: history is past days.")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise UnprocessableContent(
            f"A request covers at most {MAX_PERIOD_DAYS} days.",
            extra={"max_days": MAX_PERIOD_DAYS},
        )
    return first, last


@dataclass
class _Accepted:
    entry: Entry
    evidence: Evidence
    ean: str
    access_point: AccessPoint
    grid_user_id: int


async def _evidence_problem(
    session: ReadSession, ean: str, evidence: Evidence, today: date
) -> tuple[str | None, int | None]:
    """Why the evidence cannot be taken (and the grid user on record otherwise). Never
    whether the signatory is that grid user: the check runs after registration."""
    if not signed_evidence.well_formed_sha256(evidence.document_sha256):
        return "document_sha256 is the SHA-256 of the signed document: 64 hex characters.", None
    if evidence.signed_on > today:
        return "signed_on is in the future.", None
    if not evidence.signatory_name.strip():
        return "signatory_name is required.", None
    grid_user_id = await access_points_service.grid_user_on(session, ean, today)
    if grid_user_id is None:
        return "Nobody is the grid user of this EAN today: the mandate cannot be checked.", None
    return None, grid_user_id


async def _judge(
    session: ReadSession,
    entries: Sequence[Entry],
    first: date,
    last: date,
    *,
    already: set[str],
    today: date,
) -> list[_Accepted]:
    """The entries as accepted, or :class:`InvalidEntries` listing every problem."""
    problems: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    canonical: list[str | None] = []
    for entry in entries:
        try:
            ean: str | None = validated(entry.ean)
        except InvalidEan:
            ean = None
        canonical.append(ean)
        key = ean or entry.ean.strip()
        counts[key] = counts.get(key, 0) + 1
    candidates: list[tuple[int, Entry, str]] = []
    for position, (entry, ean) in enumerate(zip(entries, canonical, strict=True)):
        given = entry.ean.strip()[:40]

        def problem(text: str, position: int = position, given: str = given) -> None:
            problems.append({"position": position, "ean": given, "problem": text})

        if counts[ean or entry.ean.strip()] > 1:
            problem("The EAN is in the list more than once: name it once.")
        elif ean is None:
            problem("Not a valid EAN (18 digits with a GS1 check digit).")
        elif ean in already:
            problem("The EAN is in this export already.")
        elif entry.evidence is None:
            problem("Every EAN needs its mandate evidence.")
        else:
            candidates.append((position, entry, ean))
    with_data = await meter_data_repository.eans_with_data(
        session, [ean for _, _, ean in candidates], first, last + timedelta(days=1)
    )
    accepted: list[_Accepted] = []
    for position, entry, ean in candidates:
        assert entry.evidence is not None
        access_point = await access_points_service.find_access_point(session, ean)
        text: str | None
        grid_user_id: int | None = None
        if access_point is None:
            text = "No access point with this EAN."
        else:
            text, grid_user_id = await _evidence_problem(session, ean, entry.evidence, today)
            if text is None and ean not in with_data:
                text = f"No metering data of this EAN between {first} and {last}."
        if text is not None:
            problems.append({"position": position, "ean": ean, "problem": text})
            continue
        assert access_point is not None
        assert grid_user_id is not None
        accepted.append(_Accepted(entry, entry.evidence, ean, access_point, grid_user_id))
    if problems:
        problems.sort(key=lambda p: int(p["position"]))
        raise InvalidEntries(
            f"{len(problems)} of the {len(entries)} EANs cannot be exported; nothing was "
            "stored. Fix them and send the request again.",
            extra={"errors": problems},
        )
    return accepted


async def _add_items(
    session: WriteSession,
    export: HistoryExport,
    accepted: Sequence[_Accepted],
    *,
    start_position: int,
    actor: str,
    added_by: str | None,
    added_note: str | None,
    rules: Rules,
    now: datetime,
) -> list[HistoryExportItem]:
    items = []
    expiration = now + timedelta(days=rules.retention_days + MANDATE_DAYS_BEYOND_RETENTION)
    registrar = await paper_service.registrar(session, export.organisation_id, actor)
    for offset, one in enumerate(accepted):
        gvm = one.access_point.gvm
        mandate = await paper_service.register(
            session,
            registrar,
            access_point=one.access_point,
            grid_user=one.grid_user_id,
            reference_number=f"history-export-{export.id}",
            channel=CHANNEL,
            data_service_type=DataServiceType.quarter_hourly if gvm else DataServiceType.daily,
            period=(day_start(export.period_from), day_start(export.period_to + timedelta(1))),
            evidence=paper_service.PaperEvidence(
                signatory_name=one.evidence.signatory_name,
                signatory_enterprise_number=one.evidence.signatory_enterprise_number,
                signed_by_grid_user=True,
                signed_on=one.evidence.signed_on,
                document_sha256=one.evidence.document_sha256,
            ),
            co_consent_days=1,
            expiration=expiration,
            now=now,
        )
        item = HistoryExportItem(
            export_id=export.id,
            position=start_position + offset,
            ean=one.ean,
            gvm=gvm,
            mandate_id=mandate.id,
            signatory_name=one.evidence.signatory_name[:200],
            signatory_enterprise_number=(one.evidence.signatory_enterprise_number or "")[:20]
            or None,
            signed_on=one.evidence.signed_on,
            document_sha256=one.evidence.document_sha256.lower(),
            added_by=added_by,
            added_note=added_note,
            added_at=now,
        )
        repository.add(session, item)
        items.append(item)
    await session.flush()
    return items


@dataclass(frozen=True)
class Created:
    export: HistoryExport
    items: list[HistoryExportItem]


async def create(
    session: WriteSession,
    principal: Principal,
    *,
    reference_number: str,
    entries: Sequence[Entry],
    period: tuple[date, date],
    export_format: ExportFormat,
    rules: Rules,
    now: datetime | None = None,
    bound: paper_service.AttemptBound | None = None,
) -> Created:
    """Judge and store a request. ``bound`` counts its EANs (each a paper mandate) against
    the ESP's daily paper-mandate bound before they are judged (429 past it)."""
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("Only an energy service provider may ask for a history export.")
    now = now or utcnow()
    if not entries:
        raise UnprocessableContent("Name at least one EAN.")
    if len(entries) > rules.max_eans:
        raise TooManyEans(
            f"A request holds at most {rules.max_eans} EANs; this one has {len(entries)}.",
            extra={"max_eans": rules.max_eans},
        )
    organisation_id = principal.organisation_id
    year = brussels_date(now).year
    await repository.lock_quota_of(session, organisation_id)
    exception: HistoryExportQuotaException | None = None
    first = await repository.free_request_of_year(session, organisation_id, year)
    if first is not None:
        exception = await repository.unused_exception(session, organisation_id, year)
        if exception is None:
            raise QuotaUsed(
                f"Your free history export of {year} is request {first.id}, made on "
                f"{brussels_date(first.created_at).isoformat()}. One request per calendar "
                "year is free; ask the DSO for an exception if you need another.",
                extra={
                    "first_request_id": first.id,
                    "first_requested_at": first.created_at.isoformat(),
                },
            )
    if bound is not None:
        await bound.count(organisation_id, len(entries), now)
    accepted = await _judge(
        session, entries, period[0], period[1], already=set(), today=today_in_brussels(now)
    )
    export = HistoryExport(
        organisation_id=organisation_id,
        quota_year=year,
        quota_exception_id=exception.id if exception is not None else None,
        reference_number=reference_number,
        requested_by=principal.subject,
        period_from=period[0],
        period_to=period[1],
        format=export_format,
        status=ExportStatus.queued,
        progress_percent=0,
        attempts=0,
        created_at=now,
    )
    repository.add(session, export)
    await session.flush()
    items = await _add_items(
        session,
        export,
        accepted,
        start_position=0,
        actor=principal.subject,
        added_by=None,
        added_note=None,
        rules=rules,
        now=now,
    )
    return Created(export, items)


async def get(
    session: ReadSession, organisation_id: int | None, export_id: int
) -> tuple[HistoryExport, list[HistoryExportItem]]:
    export = await repository.get(session, organisation_id, export_id)
    if export is None:
        raise NotFound("No such history export.")
    return export, await repository.items_of(session, export.id)


async def page(
    session: ReadSession, organisation_id: int | None, *, after_id: int | None, limit: int
) -> list[HistoryExport]:
    """The exports visible to ``organisation_id`` (all for ``None``) in id order."""
    return await repository.page(session, organisation_id, after_id=after_id, limit=limit)


async def items_of(session: ReadSession, export_id: int) -> list[HistoryExportItem]:
    return await repository.items_of(session, export_id)


async def item_count(session: ReadSession, export_id: int) -> int:
    return await repository.item_count(session, export_id)


def due_at(export: HistoryExport, target_days: int) -> datetime:
    """The delivery deadline: the one an operator agreed, else the request + the target."""
    return export.agreed_due_at or export.created_at + timedelta(days=target_days)


# --- the operator's side -------------------------------------------------------------------


async def grant_exception(
    session: WriteSession,
    principal: Principal,
    *,
    organisation_id: int,
    year: int,
    reason: str,
    now: datetime | None = None,
) -> HistoryExportQuotaException:
    if principal.role is not Role.operator:
        raise Forbidden("Only an operator grants quota exceptions.")
    if await organisations_repository.get(session, organisation_id) is None:
        raise NotFound("No such organisation.")
    exception = HistoryExportQuotaException(
        organisation_id=organisation_id,
        year=year,
        reason=reason,
        granted_by=principal.subject,
        granted_at=now or utcnow(),
    )
    repository.add(session, exception)
    await session.flush()
    record_action(
        session,
        actor=principal,
        action="history_export.quota_exception",
        target=str(organisation_id),
        detail={"year": year, "reason": reason},
    )
    return exception


async def agree_deadline(
    session: WriteSession, principal: Principal, export_id: int, *, due: datetime, reason: str
) -> HistoryExport:
    if principal.role is not Role.operator:
        raise Forbidden("Only an operator agrees delivery deadlines.")
    export = await repository.get(session, None, export_id, for_update=True)
    if export is None:
        raise NotFound("No such history export.")
    if due <= export.created_at:
        raise UnprocessableContent("The deadline must be after the request was made.")
    export.agreed_due_at = due
    export.agreed_due_reason = reason
    export.agreed_by = principal.subject
    await session.flush()
    record_action(
        session,
        actor=principal,
        action="history_export.deadline_agreed",
        target=str(export_id),
        detail={"due_at": due.isoformat(), "reason": reason},
    )
    return export


async def add_eans(
    session: WriteSession,
    principal: Principal,
    export_id: int,
    entries: Sequence[Entry],
    *,
    note: str,
    rules: Rules,
    now: datetime | None = None,
) -> Created:
    """EANs an ESP sent by mail, added by an operator on its behalf (recorded on each item);
    the export is made again with them."""
    if principal.role is not Role.operator:
        raise Forbidden("Only an operator adds EANs on an ESP's behalf.")
    now = now or utcnow()
    export = await repository.get(session, None, export_id, for_update=True)
    if export is None:
        raise NotFound("No such history export.")
    if export.status is ExportStatus.running:
        raise Conflict("The export is running; add the EANs once it is ready or failed.")
    if not entries:
        raise UnprocessableContent("Name at least one EAN.")
    existing = await repository.items_of(session, export.id)
    if len(existing) + len(entries) > rules.max_eans:
        raise TooManyEans(
            f"A request holds at most {rules.max_eans} EANs.", extra={"max_eans": rules.max_eans}
        )
    accepted = await _judge(
        session,
        entries,
        export.period_from,
        export.period_to,
        already={item.ean for item in existing},
        today=today_in_brussels(now),
    )
    items = await _add_items(
        session,
        export,
        accepted,
        start_position=len(existing),
        actor=principal.subject,
        added_by=principal.subject,
        added_note=note,
        rules=rules,
        now=now,
    )
    export.status = ExportStatus.queued
    export.progress_percent = 0
    export.error = None
    await session.flush()
    record_action(
        session,
        actor=principal,
        action="history_export.eans_added",
        target=str(export_id),
        detail={"eans": [entry.ean for entry in entries], "note": note},
    )
    return Created(export, existing + items)


# --- the download ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    export: HistoryExport
    path: Path
    items: list[HistoryExportItem]


def expired(export: HistoryExport, now: datetime) -> bool:
    """The file was kept until ``expires_at`` (or deleted): it cannot be downloaded any more."""
    return export.expires_at is not None and (
        export.expires_at <= now or export.file_deleted_at is not None
    )


def download_name(export: HistoryExport) -> str:
    """The file's name for the ESP (the name on disk also carries the run)."""
    assert export.file_name is not None
    # history-export-<id>.<run>.zip, or history-export-<id>.<run>.<the EAN file's name>
    _, _, own = export.file_name.split(".", 2)
    return own if "." in own else f"history-export-{export.id}{Path(export.file_name).suffix}"


def media_type_of(name: str) -> str:
    if name.endswith(".zip"):
        return "application/zip"
    if name.endswith(".xlsx"):
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return "text/csv; charset=utf-8"


async def download(
    session: ReadSession,
    organisation_id: int,
    export_id: int,
    settings: Settings,
    now: datetime | None = None,
) -> Download:
    now = now or utcnow()
    export = await repository.get(session, organisation_id, export_id)
    if export is None:
        raise NotFound("No such history export.")
    items = await repository.items_of(session, export.id)
    if export.expires_at is None or now < export.expires_at:  # past it, the file is gone
        await _refuse_withdrawn(session, export, items, now)
    if expired(export, now):
        assert export.expires_at is not None
        raise Gone(
            f"The file was kept until {export.expires_at.isoformat()} and is gone.",
            extra={"expired_at": export.expires_at.isoformat()},
        )
    if export.status is not ExportStatus.ready or export.file_name is None:
        raise NotReady(
            f"The export is {export.status.value} ({export.progress_percent}%).",
            extra={"status": export.status.value},
        )
    path = settings.history_exports_path / export.file_name
    if not path.exists():
        raise Gone("The file is gone.")
    return Download(export, path, items)


async def withdrawn_items(
    session: ReadSession, items: Sequence[HistoryExportItem], now: datetime
) -> list[tuple[HistoryExportItem, str]]:
    """The items whose data is in the current file (``read_from`` set by the run that wrote
    it) but whose mandate may no longer release it, with why (its ``finished_reason``): ended,
    expired, past the end of the grid user's tenure, held (its signed paper mandate is
    contested or audited), or no longer releasing every day the file holds (the registry
    moved the tenure)."""
    in_file = [item for item in items if item.read_from is not None and item.read_to is not None]
    mandates = await nps_repository.mandates_by_id(session, [i.mandate_id for i in in_file])
    held = await paper_service.held_among(session, [i.mandate_id for i in in_file])
    found = []
    for item in in_file:
        assert item.read_from is not None
        assert item.read_to is not None
        mandate = mandates.get(item.mandate_id)
        if mandate is None:
            found.append((item, "ended"))
        elif item.mandate_id in held:
            found.append((item, "held_for_audit"))  # its signed mandate is checked or audited
        elif not reads_at(mandate, now):
            found.append((item, why_not_reading(mandate, now)))
        else:
            released_from, released_to = released_window(mandate)
            if item.read_from < released_from or released_to < item.read_to:
                found.append((item, "tenure_changed"))
    return found


async def _refuse_withdrawn(
    session: ReadSession, export: HistoryExport, items: Sequence[HistoryExportItem], now: datetime
) -> None:
    withdrawn = await withdrawn_items(session, items, now)
    if not withdrawn:
        return
    remaining = len([i for i in items if i.read_from is not None]) - len(withdrawn)
    named = ", ".join(f"{item.ean} ({reason})" for item, reason in withdrawn[:20])
    more = f" and {len(withdrawn) - 20} more" if len(withdrawn) > 20 else ""
    then = (
        "It is being made again without them; download it when it is ready again."
        if remaining > 0 and export.status is not ExportStatus.failed
        else "No EAN of it may be read any more: it will not be made again."
    )
    raise Withdrawn(
        f"The file holds data of EANs whose mandate has ended: {named}{more}. The file is "
        f"withdrawn. {then}",
        extra={
            "withdrawn": [
                {"ean": item.ean, "mandate_id": item.mandate_id, "reason": reason}
                for item, reason in withdrawn
            ],
            "remade": remaining > 0 and export.status is not ExportStatus.failed,
        },
    )


async def withdrawn_exports(
    session: ReadSession, export_ids: Sequence[int], now: datetime | None = None
) -> set[int]:
    """Which of the exports' files are withdrawn (hold data a mandate no longer releases)."""
    return await repository.with_withdrawn_data(session, export_ids, now or utcnow())


async def remake_withdrawn(session: WriteSession, now: datetime) -> list[int]:
    """Queue the ready exports whose file holds data their mandates no longer release, to be
    made again without it (the build skips EANs whose mandate reads no more); the ids."""
    exports = await repository.ready_with_withdrawn_items(session, now)
    for export in exports:
        export.status = ExportStatus.queued
        export.progress_percent = 0
    await session.flush()
    return [export.id for export in exports]


# --- the service level -----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One request as the SLA's yearly-history line counts it."""

    export_id: int
    organisation_id: int
    requested_at: datetime
    due_at: datetime
    delivered_at: datetime | None


async def deliveries(
    session: ReadSession,
    start: date,
    end: date,
    organisation_id: int | None,
    target_days: int,
) -> list[Delivery]:
    """The requests made on the Brussels days [start, end), with their deadlines."""
    found = await repository.delivered_between(
        session,
        day_start(start),
        day_start(end),
        [organisation_id] if organisation_id is not None else None,
    )
    return [
        Delivery(
            export_id=export.id,
            organisation_id=export.organisation_id,
            requested_at=export.created_at,
            due_at=due_at(export, target_days),
            delivered_at=export.first_ready_at,
        )
        for export in found
    ]


async def latest_with_counts(
    session: ReadSession, organisation_id: int, *, limit: int
) -> tuple[list[HistoryExport], dict[int, int]]:
    """The organisation's newest requests first, with the number of EANs of each."""
    exports = await repository.latest(session, organisation_id, limit=limit)
    counts = await repository.item_counts(session, [e.id for e in exports])
    return exports, counts
