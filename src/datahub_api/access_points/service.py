"""Rules of the access-point registry, and the queries other domains ask it.

Writing: :func:`put_access_point` (one) and :func:`store_access_points` (a batch, all or
nothing) share one set-based write path. Both check, before writing anything, that periods
are consistent (no two grid users at once, ...) and that every party is a customer or grid
user account. Rows of existing access points are locked for the transaction.

Other domains subscribe to changes by appending to :data:`PARTY_CHANGE_LISTENERS` (the
parties of some access points may have changed) or :data:`GRID_USER_CHANGE_LISTENERS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from datahub_api.access_points import repository
from datahub_api.access_points.models import (
    AccessPoint,
    MeterType,
    PartyRole,
    PhysicalMeter,
)
from datahub_api.access_points.repository import (
    AccessPointColumns,
    DetailColumns,
    InstallationColumns,
    PartyPeriodRow,
    Tenure,
    tenure_holding,
)
from datahub_api.access_points.repository import AccessPointFilter as AccessPointFilter
from datahub_api.access_points.repository import CustomerTenures as CustomerTenures
from datahub_api.access_points.schemas import (
    AccessPointBody,
    AccessPointFields,
    InstallationBody,
    PartyPeriodBody,
    Period,
    PhysicalMeterBody,
)
from datahub_api.accounts import repository as accounts_repository
from datahub_api.accounts.models import AccountRole
from datahub_api.brussels_days import days_between
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import Conflict, NotFound, PayloadTooLarge, UnprocessableContent

MAX_REPORTED_ERRORS = 50
WRITE_BATCH_SIZE = 5_000
PARTY_ACCOUNT_ROLES = frozenset({AccountRole.customer, AccountRole.grid_user})


# --- errors ------------------------------------------------------------------------------


class AccessPointNotFound(NotFound):
    code, title = "access-point-not-found", "Access point not found"


class AccessPointConflict(Conflict):
    """The periods of an access point contradict each other (two grid users at once, ...)."""

    code, title = "access-point-conflict", "Inconsistent access point"


class UnknownParty(UnprocessableContent):
    code, title = "unknown-party", "Unknown party account"


class InvalidInstallation(UnprocessableContent):
    code, title = "invalid-installation", "Installation facts do not fit the access point"


class TooManyAccessPoints(PayloadTooLarge):
    code, title = "too-many-access-points", "Too many access points in one upload"


@dataclass(frozen=True)
class RowProblem:
    """Why one access point of an upload cannot be stored."""

    line: int
    detail: str
    conflict: bool = False  # a contradiction between periods (409 when alone), not a typo


class BulkRejected(UnprocessableContent):
    """Nothing of the upload was stored; ``errors`` lists the first problems by line."""

    code, title = "bulk-rejected", "Upload refused; nothing was stored"

    def __init__(self, problems: Sequence[RowProblem], *, total: int | None = None) -> None:
        count = len(problems) if total is None else total
        first = problems[0]
        super().__init__(
            f"{count} access point(s) cannot be stored; nothing was stored. "
            f"First: line {first.line}: {first.detail}",
            extra={
                "error_count": count,
                "errors": [
                    {"line": problem.line, "detail": problem.detail}
                    for problem in problems[:MAX_REPORTED_ERRORS]
                ],
            },
        )
        self.problems = list(problems)


# --- grid-user change listeners ----------------------------------------------------------

GridUserChangeListener = Callable[[WriteSession, str, int, int | None, date], Awaitable[None]]
"""``on_grid_user_changed(session, ean, old_account_id, new_account_id, effective_date)``.

Called inside the writing transaction, after the new parties are stored, once for each date
from which ``old_account_id`` is no longer the grid user of the EAN; ``new_account_id`` is
the grid user from that date (None when nobody is). A listener that raises aborts the whole
write."""

GRID_USER_CHANGE_LISTENERS: list[GridUserChangeListener] = []

PartyChangeListener = Callable[[WriteSession, Sequence[str]], Awaitable[None]]
"""``on_parties_changed(session, eans)``: called inside the writing transaction, after the
new details are stored, with the EANs of the existing access points that were replaced (their
customers or grid users may have changed, for any dates). A listener that raises aborts the
whole write."""

PARTY_CHANGE_LISTENERS: list[PartyChangeListener] = []


@dataclass(frozen=True)
class GridUserChange:
    ean: str
    old_account_id: int
    new_account_id: int | None
    effective_date: date


def _holder_on(periods: Sequence[PartyPeriodRow], day: date) -> int | None:
    for period in periods:
        if period.valid_from <= day and (period.valid_to is None or day < period.valid_to):
            return period.account_id
    return None


def grid_user_changes(
    ean: str, old: Sequence[PartyPeriodRow], new: Sequence[PartyPeriodRow]
) -> list[GridUserChange]:
    """Where the stored grid user (``old``) is replaced by another one, or by nobody, in the
    new periods: one change per run of days with the same (old, new) pair."""
    boundaries = sorted(
        {p.valid_from for p in (*old, *new)}
        | {p.valid_to for p in (*old, *new) if p.valid_to is not None}
    )
    changes: list[GridUserChange] = []
    previous: tuple[int | None, int | None] = (None, None)
    for day in boundaries:
        pair = (_holder_on(old, day), _holder_on(new, day))
        old_holder, new_holder = pair
        if old_holder is not None and old_holder != new_holder and pair != previous:
            changes.append(GridUserChange(ean, old_holder, new_holder, day))
        previous = pair
    return changes


async def _notify(session: WriteSession, changes: Iterable[GridUserChange]) -> None:
    for change in changes:
        for listener in list(GRID_USER_CHANGE_LISTENERS):
            await listener(
                session,
                change.ean,
                change.old_account_id,
                change.new_account_id,
                change.effective_date,
            )


# --- consistency -------------------------------------------------------------------------


P = TypeVar("P", bound=Period)


def _span(period: Period) -> str:
    return f"{period.valid_from}..{period.valid_to or 'open'}"


def _overlap(a: Period, b: Period) -> bool:
    return (b.valid_to is None or a.valid_from < b.valid_to) and (
        a.valid_to is None or b.valid_from < a.valid_to
    )


def _first_overlap(periods: Sequence[P]) -> tuple[P, P] | None:
    if len(periods) < 2:
        return None
    ordered = sorted(periods, key=lambda p: p.valid_from)
    for earlier, later in itertools.pairwise(ordered):
        if _overlap(earlier, later):
            return earlier, later
    return None


def consistency_problems(fields: AccessPointFields) -> list[str]:
    """Contradictions between the periods of one access point (each a sentence)."""
    problems: list[str] = []
    grid_user_clash = _first_overlap(fields.grid_users)
    if grid_user_clash:
        a, b = grid_user_clash
        problems.append(
            f"grid users overlap: account {a.account_id} ({_span(a)}) and account "
            f"{b.account_id} ({_span(b)}); an access point has one grid user at a time"
        )
    by_customer: dict[int, list[Period]] = {}
    for customer in fields.customers:
        by_customer.setdefault(customer.account_id, []).append(customer)
    for account_id, customer_periods in sorted(by_customer.items()):
        clash = _first_overlap(customer_periods)
        if clash:
            problems.append(
                f"account {account_id} is a customer twice at once ({_span(clash[0])} and "
                f"{_span(clash[1])})"
            )
    clash = _first_overlap(fields.communication_periods)
    if clash:
        problems.append(f"communication periods overlap ({_span(clash[0])} and {_span(clash[1])})")
    by_seq: dict[str, list[PhysicalMeterBody]] = {}
    for meter in fields.physical_meters:
        by_seq.setdefault(meter.seq_number, []).append(meter)
    for seq_number, meters in sorted(by_seq.items()):
        if len(meters) < 2:  # most access points: one meter a seq_number, no clash
            continue
        clash = _first_overlap(
            [
                Period(valid_from=meter.installed_from, valid_to=meter.installed_to)
                for meter in meters
            ]
        )
        if clash:
            problems.append(
                f"two meters are installed at once on seq_number {seq_number} "
                f"({_span(clash[0])} and {_span(clash[1])})"
            )
    seen: set[str] = set()
    for sub_headpoint in fields.sub_headpoints:
        if sub_headpoint.seq_number in seen:
            problems.append(f"two sub-headpoints have seq_number {sub_headpoint.seq_number}")
        seen.add(sub_headpoint.seq_number)
    return problems


async def _party_problems(session: ReadSession, rows: Sequence[AccessPointRow]) -> list[RowProblem]:
    wanted = {party.account_id for row in rows for party in _parties(row.access_point)}
    roles = await accounts_repository.roles_by_id(session, wanted)
    problems: list[RowProblem] = []
    for row in rows:
        for account_id in sorted({party.account_id for party in _parties(row.access_point)}):
            role = roles.get(account_id)
            if role is None:
                problems.append(RowProblem(row.line, f"account {account_id} does not exist"))
            elif role not in PARTY_ACCOUNT_ROLES:
                problems.append(
                    RowProblem(
                        row.line,
                        f"account {account_id} is an {role.value} account; grid users and "
                        "customers are customer or grid_user accounts",
                    )
                )
    return problems


def _parties(fields: AccessPointFields) -> list[PartyPeriodBody]:
    return [*fields.grid_users, *fields.customers]


# --- writing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessPointRow:
    """One access point to store, and the line of the upload it came from (1 for a PUT)."""

    line: int
    access_point: AccessPointBody


@dataclass
class StoreOutcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    grid_user_changes: list[GridUserChange] = field(default_factory=list)


async def check_rows(session: ReadSession, rows: Sequence[AccessPointRow]) -> list[RowProblem]:
    """Every reason not to store the rows, in line order: duplicate EANs, contradicting
    periods, unknown or unsuitable party accounts."""
    problems: list[RowProblem] = []
    first_line: dict[str, int] = {}
    for row in rows:
        ean = row.access_point.ean
        if ean in first_line:
            problems.append(
                RowProblem(row.line, f"EAN {ean} appears twice (also line {first_line[ean]})")
            )
        else:
            first_line[ean] = row.line
        problems.extend(
            RowProblem(row.line, detail, conflict=True)
            for detail in consistency_problems(row.access_point)
        )
    problems.extend(await _party_problems(session, rows))
    problems.sort(key=lambda problem: problem.line)
    return problems


async def store_access_points(
    session: WriteSession,
    rows: Sequence[AccessPointRow],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> StoreOutcome:
    """Create or replace every access point of ``rows``, or none: raises
    :class:`BulkRejected` (422) before writing anything when a row cannot be stored.

    Access points stored exactly so already are left untouched. ``on_progress`` gets the
    number of rows written after each batch."""
    problems = await check_rows(session, rows)
    if problems:
        raise BulkRejected(problems)
    return await _write(session, rows, on_progress)


async def _write(
    session: WriteSession,
    rows: Sequence[AccessPointRow],
    on_progress: Callable[[int], None] | None,
) -> StoreOutcome:
    outcome = StoreOutcome()
    # EAN order throughout: concurrent writers lock rows in the same order.
    ordered = sorted(rows, key=lambda row: row.access_point.ean)
    for start in range(0, len(ordered), WRITE_BATCH_SIZE):
        batch = ordered[start : start + WRITE_BATCH_SIZE]
        await _write_batch(session, batch, outcome)
        if on_progress:
            on_progress(len(batch))
    await session.flush()
    await _notify(session, outcome.grid_user_changes)
    if outcome.updated:
        updated = sorted(outcome.updated)
        for listener in list(PARTY_CHANGE_LISTENERS):
            await listener(session, updated)
    return outcome


def _kept_installation_problem(
    access_point: AccessPointBody, stored: repository.StoredAccessPoint | None
) -> str | None:
    """Facts kept (no ``installation`` given) must still fit the access point."""
    if (
        access_point.installation is None
        and stored is not None
        and stored.installation_hash is not None
        and stored.energy_type is not access_point.energy_type
    ):
        return (
            f"energy_type changes from {stored.energy_type.value} to "
            f"{access_point.energy_type.value}, but the stored installation facts are "
            f"for {stored.energy_type.value}: send `installation` with the access point"
        )
    return None


async def _write_batch(
    session: WriteSession, batch: Sequence[AccessPointRow], outcome: StoreOutcome
) -> None:
    hashes = {row.access_point.ean: row.access_point.content_hash() for row in batch}
    existing = await repository.lock_existing(session, list(hashes))
    # Checked under the lock: facts stored meanwhile by another transaction count too.
    problems = [
        RowProblem(row.line, detail, conflict=True)
        for row in batch
        if (
            detail := _kept_installation_problem(
                row.access_point, existing.get(row.access_point.ean)
            )
        )
    ]
    if problems:
        raise BulkRejected(sorted(problems, key=lambda problem: problem.line))
    changed: list[AccessPointBody] = []
    installations: list[tuple[str, InstallationBody, str]] = []
    for row in batch:
        ap = row.access_point
        stored = existing.get(ap.ean)
        installation_changed = False
        if ap.installation is not None:
            installation_hash = ap.installation.content_hash()
            installation_changed = stored is None or stored.installation_hash != installation_hash
            if installation_changed:
                installations.append((ap.ean, ap.installation, installation_hash))
        if stored is not None and stored.content_hash == hashes[ap.ean]:
            if not installation_changed:
                outcome.unchanged.append(ap.ean)
            else:
                outcome.updated.append(ap.ean)
            continue
        (outcome.updated if stored else outcome.created).append(ap.ean)
        changed.append(ap)
    ids = {ean: stored.id for ean, stored in existing.items()}
    if changed:
        ids.update(await _write_changed(session, changed, existing, hashes, outcome))
    await repository.replace_installations(session, _installation_columns(installations, ids))


async def _write_changed(
    session: WriteSession,
    changed: Sequence[AccessPointBody],
    existing: dict[str, repository.StoredAccessPoint],
    hashes: dict[str, str],
    outcome: StoreOutcome,
) -> dict[str, int]:
    """Upsert the access points whose own content changed, with their details; their ids."""
    replaced_ids = [existing[ap.ean].id for ap in changed if ap.ean in existing]
    old_grid_users = await repository.grid_user_periods(session, replaced_ids)
    ids = await repository.upsert_access_points(
        session,
        AccessPointColumns(
            ean=[ap.ean for ap in changed],
            energy_type=[ap.energy_type.value for ap in changed],
            meter_type=[ap.meter_type.value for ap in changed],
            metering=[ap.metering.value for ap in changed],
            gvm=[ap.gvm for ap in changed],
            content_hash=[hashes[ap.ean] for ap in changed],
        ),
    )
    # Details of every upserted row go, not only of those locked above: an access point
    # created by a concurrent transaction since then must not keep its details twice.
    await repository.delete_details(session, list(ids.values()))
    await repository.insert_details(session, _detail_columns(changed, ids))
    for ap in changed:
        if ap.ean in existing:
            new = [PartyPeriodRow(p.account_id, p.valid_from, p.valid_to) for p in ap.grid_users]
            old = old_grid_users.get(existing[ap.ean].id, [])
            outcome.grid_user_changes.extend(grid_user_changes(ap.ean, old, new))
    return ids


def _installation_columns(
    installations: Sequence[tuple[str, InstallationBody, str]], ids: dict[str, int]
) -> InstallationColumns:
    """The column arrays of (EAN, installation facts, their content hash) triples."""
    columns = InstallationColumns.empty()
    for ean, installation, content_hash in installations:
        ap_id = ids[ean]
        columns.access_point_id.append(ap_id)
        columns.smr3.append(installation.smr3)
        columns.content_hash.append(content_hash)
        for production in installation.local_production_installations:
            columns.production_access_point_id.append(ap_id)
            columns.production_vreg_id.append(production.vreg_id)
            columns.production_type.append(production.type.value)
            columns.production_converter_power.append(
                None
                if production.converter_power is None
                else Decimal(str(production.converter_power))
            )
            columns.production_converter_power_unit.append(production.converter_power_unit.value)
            columns.production_inspection_date.append(production.inspection_date)
        for volume in installation.estimated_annual_volumes:
            columns.volume_access_point_id.append(ap_id)
            columns.volume_calculated_register.append(volume.calculated_register.value)
            columns.volume_value.append(volume.value)
            columns.volume_unit.append(volume.unit.value)
            columns.volume_period_from.append(volume.period_from)
            columns.volume_period_to.append(volume.period_to)
    return columns


def _detail_columns(changed: Sequence[AccessPointBody], ids: dict[str, int]) -> DetailColumns:
    columns = DetailColumns.empty()
    for ap in changed:
        ap_id = ids[ap.ean]
        for meter in ap.physical_meters:
            columns.meter_access_point_id.append(ap_id)
            columns.meter_seq_number.append(meter.seq_number)
            columns.meter_id.append(meter.meter_id)
            columns.meter_installed_from.append(meter.installed_from)
            columns.meter_installed_to.append(meter.installed_to)
        for sub in ap.sub_headpoints:
            columns.sub_access_point_id.append(ap_id)
            columns.sub_type.append(sub.type.value)
            columns.sub_seq_number.append(sub.seq_number)
            columns.sub_ean.append(sub.ean)
            columns.sub_vreg_id.append(sub.vreg_id)
            columns.sub_installation_type.append(
                sub.installation_type.value if sub.installation_type else None
            )
        for period in ap.communication_periods:
            columns.communication_access_point_id.append(ap_id)
            columns.communication_valid_from.append(period.valid_from)
            columns.communication_valid_to.append(period.valid_to)
        for role, parties in (
            (PartyRole.grid_user, ap.grid_users),
            (PartyRole.customer, ap.customers),
        ):
            for party in parties:
                columns.party_access_point_id.append(ap_id)
                columns.party_account_id.append(party.account_id)
                columns.party_role.append(role.value)
                columns.party_valid_from.append(party.valid_from)
                columns.party_valid_to.append(party.valid_to)
    return columns


@dataclass(frozen=True)
class PutOutcome:
    created: bool
    access_point: AccessPoint  # with details loaded


async def put_access_point(
    session: WriteSession, ean: str, fields: AccessPointFields
) -> PutOutcome:
    """Create or replace one access point. Raises :class:`AccessPointConflict` (409) for
    contradicting periods and :class:`UnknownParty` (422) for unusable party accounts."""
    body = AccessPointBody.model_validate({**fields.model_dump(exclude={"ean"}), "ean": ean})
    row = AccessPointRow(line=1, access_point=body)
    problems = await check_rows(session, [row])
    conflicts = [problem.detail for problem in problems if problem.conflict]
    if conflicts:
        raise AccessPointConflict("; ".join(conflicts))
    if problems:
        raise UnknownParty("; ".join(problem.detail for problem in problems))
    try:
        outcome = await _write(session, [row], None)
    except BulkRejected as rejected:
        raise AccessPointConflict("; ".join(p.detail for p in rejected.problems)) from None
    access_point = await repository.get_by_ean(session, ean, refresh=True)
    assert access_point is not None
    return PutOutcome(created=bool(outcome.created), access_point=access_point)


async def put_unchecked_access_point(
    session: WriteSession, ean: str, fields: AccessPointFields
) -> AccessPoint:
    """Sandbox only: register an access point whose EAN is one of Fluvius's sandbox test
    EANs (:mod:`.sandbox`), which need no GS1 check digit; ``fields`` are checked as
    always."""
    body = AccessPointBody.model_construct(**dict(fields), ean=ean)
    row = AccessPointRow(line=1, access_point=body)
    problems = await check_rows(session, [row])
    if problems:
        raise AccessPointConflict("; ".join(problem.detail for problem in problems))
    await _write(session, [row], None)
    access_point = await repository.get_by_ean(session, ean, refresh=True)
    assert access_point is not None
    return access_point


async def put_installation(
    session: WriteSession, ean: str, installation: InstallationBody
) -> AccessPoint:
    """Replace the installation facts of a registered access point; the access point with
    them loaded. Raises :class:`AccessPointNotFound` (404) and :class:`InvalidInstallation`
    (422) for facts that do not fit its energy type."""
    stored = (await repository.lock_existing(session, [ean])).get(ean)
    if stored is None:
        raise AccessPointNotFound(f"no access point with EAN {ean}")
    problems = installation.problems_for(stored.energy_type)
    if problems:
        raise InvalidInstallation("; ".join(problems))
    content_hash = installation.content_hash()
    if stored.installation_hash != content_hash:
        await repository.replace_installations(
            session, _installation_columns([(ean, installation, content_hash)], {ean: stored.id})
        )
    access_point = await repository.get_with_installation(session, ean, refresh=True)
    assert access_point is not None
    return access_point


async def find_installation(session: ReadSession, ean: str) -> AccessPoint | None:
    """The access point with only its installation facts loaded, None for an unknown EAN."""
    return await repository.get_with_installation(session, ean)


# --- queries for the API and for other domains -------------------------------------------


async def get_access_point(session: ReadSession, ean: str) -> AccessPoint:
    """The access point with its meters, sub-headpoints, communication periods and parties
    loaded; raises :class:`AccessPointNotFound` (404)."""
    access_point = await repository.get_by_ean(session, ean)
    if access_point is None:
        raise AccessPointNotFound(f"no access point with EAN {ean}")
    return access_point


async def find_access_point(session: ReadSession, ean: str) -> AccessPoint | None:
    """Like :func:`get_access_point`, None for an unknown EAN."""
    return await repository.get_by_ean(session, ean)


async def find_with_meters(session: ReadSession, ean: str) -> AccessPoint | None:
    """The access point with only its physical meters and sub-headpoints loaded (its
    communication periods and parties are not), None for an unknown EAN."""
    return await repository.get_with_meters(session, ean)


async def list_access_points(
    session: ReadSession, *, after_ean: str | None, limit: int, where: AccessPointFilter
) -> tuple[list[AccessPoint], str | None]:
    """A page in EAN order and the EAN to continue after (None on the last page)."""
    found = list(
        await repository.list_page(session, after_ean=after_ean, limit=limit + 1, where=where)
    )
    if len(found) > limit:
        return found[:limit], found[limit - 1].ean
    return found, None


async def grid_user_on(session: ReadSession, ean: str, day: date) -> int | None:
    """The account id of the grid user (netgebruiker) of the EAN on the Brussels ``day``."""
    accounts = await repository.party_accounts_on(session, ean, PartyRole.grid_user, day)
    return accounts[0] if accounts else None


async def customers_on(session: ReadSession, ean: str, day: date) -> list[int]:
    """Account ids of the customers who may consent for the EAN on the Brussels ``day``."""
    return await repository.party_accounts_on(session, ean, PartyRole.customer, day)


@dataclass(frozen=True)
class AccountAccessPoint:
    ean: str
    is_customer: bool
    is_grid_user: bool


async def access_points_of_account(
    session: ReadSession, account_id: int, day: date
) -> list[AccountAccessPoint]:
    """The EANs of which the account is customer and/or grid user on ``day``, by EAN."""
    roles: dict[str, set[PartyRole]] = {}
    for ean, role in await repository.roles_of_account_on(session, account_id, day):
        roles.setdefault(ean, set()).add(role)
    return [
        AccountAccessPoint(
            ean=ean,
            is_customer=PartyRole.customer in held,
            is_grid_user=PartyRole.grid_user in held,
        )
        for ean, held in roles.items()
    ]


async def eans_of_account(session: ReadSession, account_id: int) -> list[str]:
    """Every EAN of which the account is or was customer or grid user (its access log covers
    its own days there, also after it moved out), in order."""
    return await repository.eans_of_account(session, account_id)


async def communicating_days(session: ReadSession, ean: str, start: date, end: date) -> set[date]:
    """The Brussels days of [start, end) on which the EAN has a communicating digital meter
    (empty for an unknown EAN or a meter that is not digital)."""
    found = await repository.communication_overlapping(session, ean, start, end)
    if found is None:
        return set()
    meter_type, periods = found
    if meter_type is not MeterType.digital:
        return set()
    days: set[date] = set()
    for period in periods:
        first = max(period.valid_from, start)
        last = end if period.valid_to is None else min(period.valid_to, end)
        days.update(days_between(first, last))
    return days


async def is_communicating_on(session: ReadSession, ean: str, day: date) -> bool:
    """Whether the EAN has a communicating digital meter on the Brussels ``day``."""
    return day in await communicating_days(session, ean, day, day + timedelta(days=1))


async def meters_installed(
    session: ReadSession, ean: str, start: date, end: date
) -> list[PhysicalMeter]:
    """The physical meters installed on at least one day of [start, end), by install date."""
    return await repository.meters_installed(session, ean, start, end)


async def tenures(
    session: ReadSession, pairs: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], list[Tenure]]:
    """See :func:`repository.tenures`."""
    return await repository.tenures(session, pairs)


async def customer_tenures(session: ReadSession, account_id: int) -> list[CustomerTenures]:
    """See :func:`repository.customer_tenures`."""
    return await repository.customer_tenures(session, account_id)


async def tenure_on(session: ReadSession, ean: str, account_id: int, day: date) -> Tenure | None:
    """The account's tenure on the EAN that holds the Brussels ``day`` (None: it held no role
    there that day)."""
    found = await repository.tenures(session, [(ean, account_id)])
    return tenure_holding(found.get((ean, account_id), []), day)
