"""SQL of consent sessions, mandates and co-consent tasks.

Which mandates a caller may see is decided in :func:`visible_to` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.orm import QueryableAttribute

from datahub_api.access_points.models import AccessPoint
from datahub_api.auth.principal import Principal, Role
from datahub_api.brussels_days import brussels_date
from datahub_api.contracts.models import ContractStatus, DataAccessContract
from datahub_api.db import ReadSession, WriteSession
from datahub_api.mandates.models import (
    CoConsentStatus,
    CoConsentTask,
    ConsentSession,
    ConsentSessionStatus,
    DataServiceType,
    Mandate,
    MandateStatus,
    MandateStatusChange,
    OrganisationMandatesVersion,
    OutboxMessage,
    RenewalStatus,
)
from datahub_api.organisations.models import Organisation
from datahub_api.paper_mandates.repository import not_held

LIVE_STATUSES = (MandateStatus.requested, MandateStatus.approved)
# Payload: the organisation id whose mandates changed (see mandates/versions.py).
MANDATES_CHANGED_CHANNEL = "datahub_mandates_changed"


def visible_to(principal: Principal) -> Select[Mandate]:
    """Mandates narrowed to what ``principal`` may see: its organisation's for an ESP, the
    ones they gave or co-signed for a customer or grid user, all for an operator."""
    query = select(Mandate)
    if principal.role is Role.operator:
        return query
    if principal.role is Role.esp and principal.organisation_id is not None:
        return query.where(Mandate.organisation_id == principal.organisation_id)
    if principal.role in (Role.customer, Role.grid_user) and principal.user_id is not None:
        return query.where(
            or_(
                Mandate.given_by_account_id == principal.user_id,
                Mandate.grid_user_account_id == principal.user_id,
            )
        )
    return query.where(false())


@dataclass(frozen=True)
class MandateFilter:
    reference_number: str | None = None
    ean: str | None = None
    data_service_types: Sequence[DataServiceType] = ()
    energy_type: str | None = None
    statuses: Sequence[MandateStatus] = ()
    expiring_by: datetime | None = None
    renewal_status: RenewalStatus | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    channels: Sequence[str] = ()


def ends(mandate: type[Mandate]) -> ColumnElement[datetime]:
    """When a mandate stops reading: its expiration, or the end of the tenure of the people
    who gave it when that comes first."""
    return func.least(mandate.expiration_date, mandate.tenure_to)


def _filtered(query: Select[Mandate], f: MandateFilter) -> Select[Mandate]:
    if f.reference_number is not None:
        query = query.where(Mandate.reference_number == f.reference_number)
    if f.ean is not None:
        query = query.where(Mandate.ean == f.ean)
    if f.data_service_types:
        query = query.where(Mandate.data_service_type.in_(list(f.data_service_types)))
    if f.energy_type is not None:
        query = query.where(Mandate.energy_type == f.energy_type)
    if f.statuses:
        query = query.where(Mandate.status.in_(list(f.statuses)))
    if f.expiring_by is not None:
        query = query.where(ends(Mandate) <= f.expiring_by)
    if f.renewal_status is not None:
        query = query.where(Mandate.renewal_status == f.renewal_status)
    if f.updated_from is not None:
        query = query.where(Mandate.updated_at >= f.updated_from)
    if f.updated_to is not None:
        query = query.where(Mandate.updated_at <= f.updated_to)
    if f.channels:
        query = query.where(Mandate.channel.in_(list(f.channels)))
    return query


SqlExpression = ColumnElement[Any] | QueryableAttribute[Any]
JsonFields = Sequence[tuple[str, SqlExpression]]


@dataclass(frozen=True)
class JsonPage:
    items: str  # a JSON array
    last_id: int | None  # the last item's, None when there is none
    more: bool  # more mandates match after it


async def page_as_json(
    session: ReadSession,
    principal: Principal,
    mandate_filter: MandateFilter,
    fields: JsonFields,
    *,
    after_id: int | None,
    limit: int,
    omit_nulls: bool = False,
) -> JsonPage:
    """A page of the matching mandates in id order as one JSON array written by
    PostgreSQL: an object per mandate with ``fields`` (member name, SQL expression over
    ``mandates``), in that order, null members left out with ``omit_nulls``. Lists of
    thousands of mandates take far longer to build in Python (ORM objects, models,
    serialization) than to have PostgreSQL write them."""
    members: list[SqlExpression] = []
    for name, expression in fields:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain member name: {name!r}")
        members += [literal_column(f"'{name}'"), expression]
    query = _filtered(visible_to(principal), mandate_filter)
    if after_id is not None:
        query = query.where(Mandate.id > after_id)
    item = func.json_build_object(*members)
    if omit_nulls:
        item = func.json_strip_nulls(item)
    matching = (
        query.with_only_columns(item.label("item"), Mandate.id)
        .order_by(Mandate.id)
        .limit(limit + 1)
        .subquery()
    )
    numbered = select(
        matching.c.item, matching.c.id, func.row_number().over(order_by=matching.c.id).label("n")
    ).subquery()
    on_page = numbered.c.n <= limit
    array = func.json_agg(aggregate_order_by(numbered.c.item, numbered.c.id)).filter(on_page)
    row = (
        await session.execute(
            select(cast(array, Text), func.max(numbered.c.id).filter(on_page), func.count())
        )
    ).one()
    items, last_id, found = row
    return JsonPage(items=items or "[]", last_id=last_id, more=int(found) > limit)


def json_instant(column: SqlExpression) -> ColumnElement[Any]:
    """An instant as pydantic writes it in JSON: UTC, ``Z``, microseconds only when any."""
    utc = func.timezone("UTC", column)
    fraction = case(
        (func.to_char(utc, "US") == literal_column("'000000'"), literal_column("''")),
        else_=func.to_char(utc, ".US"),
    )
    return func.concat(
        func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS'), fraction, literal_column("'Z'")
    )


# The members of ``schemas.MandateOut``, in order (`mandate_out` in the router builds the
# same from a Mandate; a test compares the two).
MANDATE_OUT_FIELDS: JsonFields = (
    ("id", Mandate.id),
    ("ean", Mandate.ean),
    ("reference_number", Mandate.reference_number),
    ("channel", Mandate.channel),
    ("energy_type", Mandate.energy_type),
    ("data_service_type", Mandate.data_service_type),
    ("data_period_from", json_instant(Mandate.data_period_from)),
    ("data_period_to", json_instant(Mandate.data_period_to)),
    ("expiration_date", json_instant(Mandate.expiration_date)),
    ("status", Mandate.status),
    ("renewal_status", Mandate.renewal_status),
    ("source", Mandate.source),
    ("finished_reason", Mandate.finished_reason),
    ("ends_at", case((Mandate.tenure_to.is_(None), None), else_=json_instant(Mandate.tenure_to))),
    (
        "waiting_for_grid_user",
        and_(
            Mandate.status == MandateStatus.requested,
            Mandate.grid_user_account_id.is_not(None),
            Mandate.grid_user_account_id.is_distinct_from(Mandate.given_by_account_id),
        ),
    ),
    ("created_at", json_instant(Mandate.created_at)),
    ("updated_at", json_instant(Mandate.updated_at)),
)


async def get(
    session: ReadSession, principal: Principal, mandate_id: int, *, for_update: bool = False
) -> Mandate | None:
    query = visible_to(principal).where(Mandate.id == mandate_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def get_many(
    session: ReadSession, principal: Principal, mandate_ids: Sequence[int]
) -> dict[int, Mandate]:
    """The mandates of ``mandate_ids`` that ``principal`` sees, by id (one array
    parameter)."""
    query = visible_to(principal).where(
        Mandate.id == any_(bindparam("mandate_ids", list(mandate_ids), ARRAY(BigInteger)))
    )
    return {mandate.id: mandate for mandate in await session.scalars(query)}


async def get_for_update(session: WriteSession, mandate_id: int) -> Mandate | None:
    """Any organisation's mandate, locked (for the system's own changes)."""
    query = select(Mandate).where(Mandate.id == mandate_id).with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def live_mandate(
    session: WriteSession,
    organisation_id: int,
    ean: str,
    data_service_type: DataServiceType,
    reference_number: str,
) -> Mandate | None:
    query = (
        select(Mandate)
        .where(
            Mandate.organisation_id == organisation_id,
            Mandate.ean == ean,
            Mandate.data_service_type == data_service_type,
            Mandate.reference_number == reference_number,
            Mandate.status.in_(LIVE_STATUSES),
        )
        .with_for_update()
    )
    return (await session.scalars(query)).first()


def readable_at(now: datetime) -> ColumnElement[bool]:
    """Approved, neither past its expiration instant nor past the end of the tenure of the
    people who gave it, and not held (a paper mandate under check, audit or contest): a
    mandate that reads, whether or not the daily job has finished it yet."""
    return and_(
        Mandate.status == MandateStatus.approved,
        Mandate.expiration_date > now,
        or_(Mandate.tenure_to.is_(None), Mandate.tenure_to > now),
        not_held(Mandate.id),
    )


async def approved_for_read(
    session: ReadSession, organisation_id: int, ean: str, channels: Sequence[str], now: datetime
) -> list[Mandate]:
    """The organisation's mandates on ``ean`` and ``channels`` that read at ``now``
    (:func:`readable_at`) and whose channel an approved contract of the organisation covers
    on that Brussels day."""
    return await approved_for_reads(
        session, channels, now, organisation_id=organisation_id, eans=[ean]
    )


async def approved_for_reads(
    session: ReadSession,
    channels: Sequence[str],
    now: datetime,
    *,
    organisation_id: int | None = None,
    eans: Sequence[str] | None = None,
) -> list[Mandate]:
    """:func:`approved_for_read` for many EANs in one query: the mandates on ``channels``
    that read at ``now`` and whose channel an approved contract of their organisation covers
    that day, of one organisation (its whole portfolio) and/or on ``eans`` (every
    organisation's), by EAN and id."""
    today = brussels_date(now)
    contract_covers_channel = (
        select(DataAccessContract.id)
        .where(
            DataAccessContract.organisation_id == Mandate.organisation_id,
            DataAccessContract.status == ContractStatus.approved,
            DataAccessContract.valid_from <= today,
            or_(DataAccessContract.valid_to.is_(None), DataAccessContract.valid_to > today),
            Mandate.channel == any_(DataAccessContract.channels),
        )
        .exists()
    )
    query = (
        select(Mandate)
        .where(
            readable_at(now),
            Mandate.channel.in_(list(channels)),
            contract_covers_channel,
        )
        .order_by(Mandate.ean, Mandate.id)
    )
    if organisation_id is not None:
        query = query.where(Mandate.organisation_id == organisation_id)
    if eans is not None:
        query = query.where(
            Mandate.ean == any_(bindparam("eans", sorted(set(eans)), ARRAY(String)))
        )
    return list((await session.scalars(query)).all())


async def live_on_eans(session: WriteSession, eans: Sequence[str]) -> list[Mandate]:
    """The requested and approved mandates on ``eans``, locked, by id."""
    query = (
        select(Mandate)
        .where(
            Mandate.ean == any_(bindparam("eans", sorted(set(eans)), ARRAY(String))),
            Mandate.status.in_(LIVE_STATUSES),
        )
        .order_by(Mandate.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


async def tenure_ended_by(session: WriteSession, now: datetime) -> list[Mandate]:
    """Live mandates whose tenure ended by ``now`` (the daily job finishes them)."""
    query = (
        select(Mandate)
        .where(
            Mandate.status.in_(LIVE_STATUSES),
            Mandate.tenure_to.is_not(None),
            Mandate.tenure_to <= now,
        )
        .order_by(Mandate.id)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def expired_by(session: WriteSession, now: datetime) -> list[Mandate]:
    query = (
        select(Mandate)
        .where(Mandate.status.in_(LIVE_STATUSES), Mandate.expiration_date <= now)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def due_for_renewal(session: WriteSession, renew_from: datetime) -> list[Mandate]:
    query = (
        select(Mandate)
        .where(
            Mandate.status == MandateStatus.approved,
            Mandate.renewal_status.is_(None),
            Mandate.expiration_date <= renew_from,
        )
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def to_be_renewed_with_reference(
    session: WriteSession, organisation_id: int, reference_number: str
) -> list[Mandate]:
    query = (
        select(Mandate)
        .where(
            Mandate.organisation_id == organisation_id,
            Mandate.reference_number == reference_number,
            Mandate.status == MandateStatus.approved,
            Mandate.renewal_status == RenewalStatus.to_be_renewed,
        )
        .with_for_update()
    )
    return list((await session.scalars(query)).all())


def add(
    session: WriteSession,
    item: Mandate | MandateStatusChange | CoConsentTask | OutboxMessage | ConsentSession,
) -> None:
    session.add(item)


async def insert_many(session: WriteSession, rows: Sequence[dict[str, Any]], *, actor: str) -> int:
    """Insert mandates set-based, each with its first status change, for bulk loads (the
    benchmark's 10 000). ``rows`` hold :class:`Mandate` column values, with ``ean`` and
    without ``access_point_id`` (looked up here); a row naming the people who gave it must
    carry the bounds of their tenure (``tenure_from``, ``tenure_to``: see
    ``mandates/tenure.py``). Publishes no events and bumps no version: the caller does what
    its load needs."""
    eans = sorted({str(row["ean"]) for row in rows})
    found = await session.execute(
        select(AccessPoint.ean, AccessPoint.id).where(
            AccessPoint.ean == any_(bindparam("eans", eans, type_=ARRAY(String)))
        )
    )
    access_point_ids: dict[str, int] = dict(found.tuples().all())
    missing = [ean for ean in eans if ean not in access_point_ids]
    if missing:
        raise ValueError(f"no access point {missing[0]} (and {len(missing) - 1} more)")
    if not rows:
        return 0
    unbounded = [
        row
        for row in rows
        if "tenure_from" not in row
        and (row.get("given_by_account_id") or row.get("grid_user_account_id"))
    ]
    if unbounded:  # it would read beyond the tenure of the people who gave it
        raise ValueError("a mandate given by a person needs its tenure_from and tenure_to")
    inserted = await session.execute(
        insert(Mandate).returning(Mandate.id, Mandate.status),
        [{**row, "access_point_id": access_point_ids[row["ean"]]} for row in rows],
    )
    changes = [
        {"mandate_id": mandate_id, "from_status": None, "to_status": status.value, "actor": actor}
        for mandate_id, status in inserted.tuples()
    ]
    await session.execute(insert(MandateStatusChange), changes)
    return len(changes)


async def touch(session: WriteSession, mandate: Mandate) -> None:
    """Mark a mandate changed: new ``updated_at`` and version (its ETag)."""
    mandate.updated_at = await session.scalar(select(func.clock_timestamp()))  # type: ignore[assignment]
    mandate.version = (mandate.version or 0) + 1


async def bump_organisation_version(session: WriteSession, organisation_id: int) -> None:
    """Count a change of the organisation's mandates, and announce it to every process
    (``NOTIFY`` on :data:`MANDATES_CHANGED_CHANNEL`, delivered on commit; PostgreSQL sends
    a transaction's identical notifications once). One statement: the notification is sent
    from ``RETURNING``."""
    await session.execute(
        insert(OrganisationMandatesVersion)
        .values(organisation_id=organisation_id, version=1)
        .on_conflict_do_update(
            index_elements=[OrganisationMandatesVersion.organisation_id],
            set_={
                "version": OrganisationMandatesVersion.version + 1,
                "updated_at": func.now(),
            },
        )
        .returning(
            func.pg_notify(
                MANDATES_CHANGED_CHANNEL, cast(OrganisationMandatesVersion.organisation_id, Text)
            )
        )
    )


async def organisation_version(session: ReadSession, organisation_id: int) -> int:
    version = await session.scalar(
        select(OrganisationMandatesVersion.version).where(
            OrganisationMandatesVersion.organisation_id == organisation_id
        )
    )
    return int(version or 0)


# --- consent sessions ----------------------------------------------------------------


async def consent_session_by_identifier(
    session: ReadSession, identifier: str, *, for_update: bool = False
) -> ConsentSession | None:
    query = select(ConsentSession).where(ConsentSession.short_url_identifier == identifier)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def consent_session_of_organisation(
    session: ReadSession, organisation_id: int, identifier: str
) -> ConsentSession | None:
    query = select(ConsentSession).where(
        ConsentSession.short_url_identifier == identifier,
        ConsentSession.organisation_id == organisation_id,
    )
    return (await session.scalars(query)).first()


async def expired_consent_sessions(session: WriteSession, now: datetime) -> int:
    result = await session.execute(
        update(ConsentSession)
        .where(ConsentSession.status == ConsentSessionStatus.open, ConsentSession.valid_to <= now)
        .values(status=ConsentSessionStatus.expired)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- co-consent ----------------------------------------------------------------------


async def open_tasks_of(
    session: ReadSession, account_id: int
) -> list[tuple[CoConsentTask, Mandate]]:
    query = (
        select(CoConsentTask, Mandate)
        .join(Mandate, Mandate.id == CoConsentTask.mandate_id)
        .where(
            CoConsentTask.grid_user_account_id == account_id,
            CoConsentTask.status == CoConsentStatus.open,
        )
        .order_by(CoConsentTask.id)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def task_of(
    session: WriteSession, account_id: int, task_id: int
) -> tuple[CoConsentTask, Mandate] | None:
    query = (
        select(CoConsentTask, Mandate)
        .join(Mandate, Mandate.id == CoConsentTask.mandate_id)
        .where(CoConsentTask.id == task_id, CoConsentTask.grid_user_account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def overdue_tasks(
    session: WriteSession, now: datetime
) -> list[tuple[CoConsentTask, Mandate]]:
    query = (
        select(CoConsentTask, Mandate)
        .join(Mandate, Mandate.id == CoConsentTask.mandate_id)
        .where(CoConsentTask.status == CoConsentStatus.open, CoConsentTask.due_at <= now)
        .with_for_update(skip_locked=True)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def open_task_for_mandate(session: WriteSession, mandate_id: int) -> CoConsentTask | None:
    query = (
        select(CoConsentTask)
        .where(CoConsentTask.mandate_id == mandate_id, CoConsentTask.status == CoConsentStatus.open)
        .with_for_update()
    )
    return (await session.scalars(query)).first()


async def listed(session: ReadSession, principal: Principal, *, limit: int) -> list[Mandate]:
    """Up to ``limit`` mandates ``principal`` may see, by EAN and newest first (the
    portal's list)."""
    query = visible_to(principal).order_by(Mandate.ean, Mandate.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def newest_visible_with_organisation(
    session: ReadSession, principal: Principal, *, limit: int
) -> list[tuple[Mandate, str]]:
    """The newest mandates ``principal`` may see, each with its ESP's name (portal lists)."""
    query = (
        visible_to(principal)
        .join(Organisation, Organisation.id == Mandate.organisation_id)
        .add_columns(Organisation.name)
        .order_by(Mandate.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]
