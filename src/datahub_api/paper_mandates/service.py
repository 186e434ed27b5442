"""The rules of signed paper mandates, shared by NPS lists and yearly history exports.

As the service description has it, the ESP keeps the signed mandate and shows it to the DSO
on request; it registers the document's SHA-256. What makes that safe:

* **Registration never answers whether a name matches.** A registered paper mandate starts
  ``requested`` with the hold ``check_pending`` whatever the signatory: the request path
  never looks at the grid user's name or enterprise number, so its answers, status codes,
  texts and queries are the same for a right and a wrong name.
* **The check runs after registration** (:func:`run_checks`, a job queued when the
  registration commits, with a sweep as backstop; a history export runs it itself before it
  reads): the grid user on record signed (same enterprise number for a company, else the
  same name) or a customer signed (the grid user co-consents instead) lifts the hold; a
  mismatch keeps it as ``name_mismatch`` and the caller opens an audit at once.
* **People see it at once.** The grid user and the customers of the access point get a
  letter and see it (who registered it, when, for what) in their portal and API, and can
  contest it (:func:`contest`): the hold becomes ``contested``, an approved mandate is
  ``requested`` again, and the caller opens an audit.
* **An audit that passes** lifts a mismatch or contest hold (:func:`release_after_audit`);
  one that fails ends the mandate (``audit_failed``, in the NPS domain).
* **Registrations are bounded** per ESP and Brussels day (:class:`AttemptBound`), every
  attempt counted, refused ones too.

While a hold is set the mandate gives no data on any face or channel
(:func:`datahub_api.paper_mandates.repository.not_held` in every read path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.models import AccessPoint
from datahub_api.accounts import repository as accounts_repository
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import brussels_date, day_start
from datahub_api.db import Database, ReadSession, WriteSession, after_commit
from datahub_api.deps import started_jobs
from datahub_api.errors import Conflict, Forbidden, NotFound, TooManyRequests
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates import signed_evidence
from datahub_api.mandates.models import DataServiceType, Mandate, MandateStatus, OutboxMessage
from datahub_api.organisations import repository as organisations_repository
from datahub_api.paper_mandates import repository
from datahub_api.paper_mandates.models import Hold, NameCheck, PaperMandate
from datahub_api.paper_mandates.repository import PaperRow as PaperRow

# The job that runs the checks (registered in nps/tasks.py, next to the audits it opens).
CHECK_TASK = "nps.paper_mandate_checks"
LIVE = (MandateStatus.requested, MandateStatus.approved)
CHECKER = "system:registry-check"
SHOWN_TO_PEOPLE = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- the daily bound -----------------------------------------------------------------------


class TooManyPaperMandates(TooManyRequests):
    code, title = "paper-mandates-per-day", "Too many paper mandates registered today"


@dataclass(frozen=True)
class AttemptBound:
    """At most ``per_day`` paper-mandate registrations per ESP and Brussels day, counting
    every attempt (accepted or refused, whatever the reason)."""

    database: Database
    per_day: int

    async def count(self, organisation_id: int, attempts: int, now: datetime | None = None) -> None:
        """Count ``attempts`` before they are judged, or refuse them all (429) when they
        would pass the bound. Counted in a transaction of its own, committed at once, so that
        a request refused later (its own transaction rolls back) has counted too."""
        if attempts <= 0:
            return
        now = now or utcnow()
        today = brussels_date(now)
        async with self.database.write_sessions() as session:
            counted = await repository.count_attempts(
                session, organisation_id, today, attempts, self.per_day
            )
            used = await repository.attempts_on(session, organisation_id, today)
            await session.commit()
        if counted:
            return
        retry_after = max(1, int((day_start(today + timedelta(days=1)) - now).total_seconds()))
        raise TooManyPaperMandates(
            f"You may register {self.per_day} paper mandates a day (every attempt counts, "
            f"refused ones too); {used} are counted today and this request has {attempts}. "
            "Nothing was stored; send them again after midnight (Brussels).",
            headers={"Retry-After": str(retry_after)},
            extra={"limit": self.per_day, "used": used, "asked": attempts},
        )


# --- registration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperEvidence:
    """What the ESP says about the signed document it keeps."""

    signatory_name: str
    signatory_enterprise_number: str | None
    signed_by_grid_user: bool
    signed_on: date
    document_sha256: str


@dataclass(frozen=True)
class Registrar:
    """Who registers: the ESP (its name goes into the letters) and its client or user."""

    organisation_id: int
    esp_name: str
    actor: str


async def registrar(session: ReadSession, organisation_id: int, actor: str) -> Registrar:
    organisation = await organisations_repository.get(session, organisation_id)
    assert organisation is not None
    return Registrar(organisation_id, organisation.name, actor)


async def _defer_checks(app: Any) -> None:
    queue = started_jobs(app)
    if queue is not None:
        await queue.defer(CHECK_TASK, queueing_lock=CHECK_TASK)


async def register(
    session: WriteSession,
    registrar: Registrar,
    *,
    access_point: AccessPoint,
    grid_user: int,
    reference_number: str,
    channel: str,
    data_service_type: DataServiceType,
    period: tuple[datetime, datetime],
    evidence: PaperEvidence,
    co_consent_days: int,
    expiration: datetime | None = None,
    now: datetime | None = None,
) -> Mandate:
    """The ``requested`` mandate of a paper mandate, its record (held until checked), the
    letters to the people of the access point, and the check queued for after the commit.
    Nothing here depends on whether the signatory is the grid user on record."""
    now = now or utcnow()
    mandate = await mandates_service.new_signed_mandate(
        session,
        organisation_id=registrar.organisation_id,
        access_point=access_point,
        reference_number=reference_number,
        channel=channel,
        data_service_type=data_service_type,
        period=period,
        grid_user=grid_user,
        signed_by_grid_user=evidence.signed_by_grid_user,
        signatory_name=evidence.signatory_name,
        actor=registrar.actor,
        rules=mandates_service.ConsentRules(
            session_lifetime=timedelta(0), co_consent_days=co_consent_days
        ),
        expiration=expiration,
    )
    repository.add(
        session,
        PaperMandate(
            mandate_id=mandate.id,
            organisation_id=registrar.organisation_id,
            ean=access_point.ean,
            channel=channel,
            registered_by=registrar.actor[:200],
            registered_at=now,
            signatory_name=evidence.signatory_name[:200],
            signatory_enterprise_number=(evidence.signatory_enterprise_number or "")[:20] or None,
            signed_by_grid_user=evidence.signed_by_grid_user,
            signed_on=evidence.signed_on,
            document_sha256=evidence.document_sha256.lower(),
            name_check=NameCheck.pending,
            hold=Hold.check_pending,
        ),
    )
    customers = await access_points_service.customers_on(
        session, access_point.ean, brussels_date(now)
    )
    for account_id in sorted({grid_user, *customers}):
        mandates_repository.add(
            session,
            OutboxMessage(
                account_id=account_id,
                kind="paper_mandate_registered",
                payload={
                    "mandate_id": mandate.id,
                    "ean": access_point.ean,
                    "esp": registrar.esp_name,
                    "channel": channel,
                    "signatory": evidence.signatory_name[:200],
                    "registered_at": now.isoformat(),
                },
            ),
        )
    await session.flush()
    after_commit(session, _defer_checks)
    return mandate


# --- the check ---------------------------------------------------------------------------------


def signatory_is_grid_user(paper: PaperMandate, name: str, company: str | None) -> bool:
    return signed_evidence.is_grid_user(
        paper.signatory_name,
        paper.signatory_enterprise_number,
        grid_user_name=name,
        grid_user_company=company,
    )


async def _approve_if_consented(
    session: WriteSession, paper: PaperMandate, mandate: Mandate, *, actor: str
) -> None:
    """A mandate without a hold is approved once the grid user's consent is there: their own
    signature, or their co-consent to a customer's."""
    if paper.hold is not None or mandate.status is not MandateStatus.requested:
        return
    if paper.signed_by_grid_user or await repository.co_consent_given(session, mandate.id):
        await mandates_service.approve_signed(session, mandate.id, actor=actor)


async def run_checks(
    session: WriteSession,
    *,
    mandate_ids: Sequence[int] | None = None,
    now: datetime | None = None,
    limit: int = 500,
) -> tuple[int, list[Mandate]]:
    """Check up to ``limit`` registered paper mandates (those of ``mandate_ids`` when given):
    how many were checked, and the live mandates whose signatory is not the grid user on
    record (the caller opens their audits in this transaction)."""
    now = now or utcnow()
    pending = await repository.pending_checks(session, mandate_ids=mandate_ids, limit=limit)
    mismatched: list[Mandate] = []
    for paper, mandate in pending:
        if paper.signed_by_grid_user:
            grid_user = (
                await accounts_repository.get(session, mandate.grid_user_account_id)
                if mandate.grid_user_account_id is not None
                else None
            )
            matches = grid_user is not None and signatory_is_grid_user(
                paper, grid_user.display_name, grid_user.enterprise_number
            )
            paper.name_check = NameCheck.matched if matches else NameCheck.mismatched
        else:
            paper.name_check = NameCheck.not_applicable
        paper.checked_at = now
        if paper.name_check is NameCheck.mismatched:
            if paper.hold is Hold.check_pending:
                paper.hold = Hold.name_mismatch
            if mandate.status not in LIVE:
                continue
            mismatched.append(mandate)
            if mandate.grid_user_account_id is not None:
                mandates_repository.add(
                    session,
                    OutboxMessage(
                        account_id=mandate.grid_user_account_id,
                        kind="paper_mandate_name_mismatch",
                        payload={"mandate_id": mandate.id, "ean": mandate.ean},
                    ),
                )
        elif paper.hold is Hold.check_pending:
            paper.hold = None
            await _approve_if_consented(session, paper, mandate, actor=CHECKER)
    await session.flush()
    return len(pending), mismatched


async def release_after_audit(session: WriteSession, mandate_id: int, *, actor: str) -> None:
    """An audit passed: a mismatch or contest hold is lifted and the data flows again (a
    hold still waiting for its check stays until the check)."""
    paper = await repository.for_mandate(session, mandate_id, for_update=True)
    if paper is None or paper.hold not in (Hold.name_mismatch, Hold.contested):
        return
    paper.hold = None
    await session.flush()
    mandate = await mandates_repository.get_for_update(session, mandate_id)
    assert mandate is not None
    await _approve_if_consented(session, paper, mandate, actor=actor)


async def held_among(session: ReadSession, mandate_ids: Sequence[int]) -> set[int]:
    """Which of the mandates a paper-mandate hold keeps from giving data."""
    found = await repository.for_mandates(session, mandate_ids)
    return {mandate_id for mandate_id, paper in found.items() if paper.hold is not None}


async def of_mandate(session: ReadSession, mandate_id: int) -> PaperMandate | None:
    """The paper-mandate record behind a mandate (None: not a registered paper mandate)."""
    return await repository.for_mandate(session, mandate_id)


# --- what people see, and their contest ----------------------------------------------------


def _person(principal: Principal) -> int:
    if principal.role not in (Role.customer, Role.grid_user) or principal.user_id is None:
        raise Forbidden("Paper mandates are shown to the customers and grid users they concern.")
    return principal.user_id


async def _visible(session: ReadSession, account_id: int, rows: list[PaperRow]) -> list[PaperRow]:
    """Those a person may see: the ones naming them (as grid user or signatory), and on the
    access points they are customer or grid user of today, every live one and every one
    registered since their tenure there began (not a previous occupant's)."""
    today = brussels_date(utcnow())
    mine = await access_points_service.access_points_of_account(session, account_id, today)
    tenures = await access_points_service.tenures(
        session, [(point.ean, account_id) for point in mine]
    )
    starts = {
        pair: tenure.start
        for pair, spans in tenures.items()
        for tenure in spans
        if tenure.holds(today)
    }
    seen = []
    for row in rows:
        named = account_id in (row.mandate.grid_user_account_id, row.mandate.given_by_account_id)
        start = starts.get((row.paper.ean, account_id))
        on_mine = start is not None and (
            row.mandate.status in LIVE or row.paper.registered_at >= day_start(start)
        )
        if named or on_mine:
            seen.append(row)
    return seen


async def of_person(session: ReadSession, principal: Principal) -> list[PaperRow]:
    """Every paper mandate the person may see, newest first."""
    account_id = _person(principal)
    today = brussels_date(utcnow())
    eans = [
        point.ean
        for point in await access_points_service.access_points_of_account(
            session, account_id, today
        )
    ]
    rows = await repository.on_eans_or_naming(session, eans, account_id, limit=SHOWN_TO_PEOPLE)
    return await _visible(session, account_id, rows)


async def one_of_person(session: ReadSession, principal: Principal, mandate_id: int) -> PaperRow:
    account_id = _person(principal)
    row = await repository.row_of(session, mandate_id)
    if row is None or not await _visible(session, account_id, [row]):
        raise NotFound("No such paper mandate on your access points.")
    return row


def may_contest(row: PaperRow) -> bool:
    return row.mandate.status in LIVE and row.paper.hold is not Hold.contested


async def contest(
    session: WriteSession,
    principal: Principal,
    mandate_id: int,
    reason: str,
    *,
    now: datetime | None = None,
) -> PaperRow:
    """The person contests a paper mandate they see: its data stops at once (the hold, and
    an approved mandate is ``requested`` again). The caller opens the audit."""
    account_id = _person(principal)
    row = await one_of_person(session, principal, mandate_id)
    paper = await repository.for_mandate(session, mandate_id, for_update=True)
    assert paper is not None
    if row.mandate.status not in LIVE:
        raise Conflict(
            f"This mandate is {row.mandate.status.value}: it gives no data and cannot be contested."
        )
    if paper.hold is Hold.contested:
        raise Conflict("This paper mandate is contested already; the DSO is auditing it.")
    paper.hold = Hold.contested
    paper.contested_at = now or utcnow()
    paper.contested_by_account_id = account_id
    paper.contest_reason = reason.strip()[:2000]
    await session.flush()
    await mandates_service.hold_back_signed(
        session, mandate_id, actor=principal.subject, reason="contested"
    )
    found = await repository.row_of(session, mandate_id)
    assert found is not None
    return found
