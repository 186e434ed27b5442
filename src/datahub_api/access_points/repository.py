"""SQL of the access-point registry.

Writes are set-based: one statement per table for a whole batch of access points (arrays
passed as parameters and expanded with ``unnest``), never a round trip per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    exists,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, selectinload
from sqlalchemy.sql.base import ExecutableOption

from datahub_api.access_points.models import (
    AccessPoint,
    AccessPointInstallation,
    AccessPointParty,
    CommunicationPeriod,
    EnergyType,
    MeterType,
    PartyRole,
    PhysicalMeter,
)
from datahub_api.array_parameters import in_array
from datahub_api.db import ReadSession, WriteSession


def with_installation() -> list[ExecutableOption]:
    """Load options for an access point's installation facts (with their lists)."""
    installation = selectinload(AccessPoint.installation)
    return [
        installation.selectinload(AccessPointInstallation.local_production_installations),
        installation.selectinload(AccessPointInstallation.estimated_annual_volumes),
    ]


def with_details() -> list[ExecutableOption]:
    """Load options for an access point with its meters, sub-headpoints, periods, parties
    and installation facts."""
    return [
        selectinload(AccessPoint.physical_meters),
        selectinload(AccessPoint.sub_headpoints),
        selectinload(AccessPoint.communication_periods),
        selectinload(AccessPoint.parties),
        *with_installation(),
    ]


def _valid_on(
    valid_from: InstrumentedAttribute[date], valid_to: InstrumentedAttribute[date | None], day: date
) -> ColumnElement[bool]:
    return and_(valid_from <= day, or_(valid_to.is_(None), valid_to > day))


def _overlaps(
    valid_from: InstrumentedAttribute[date],
    valid_to: InstrumentedAttribute[date | None],
    start: date,
    end: date,
) -> ColumnElement[bool]:
    """The period [valid_from, valid_to) shares at least one day with [start, end)."""
    return and_(valid_from < end, or_(valid_to.is_(None), valid_to > start))


def with_meters() -> list[ExecutableOption]:
    """Load options for an access point with its meters and sub-headpoints only (what the
    metering-data faces show); its other collections stay unloaded."""
    return [
        selectinload(AccessPoint.physical_meters),
        selectinload(AccessPoint.sub_headpoints),
    ]


# --- reads -------------------------------------------------------------------------------


async def get_with_installation(
    session: ReadSession, ean: str, *, refresh: bool = False
) -> AccessPoint | None:
    """The access point with only its installation facts loaded."""
    statement = select(AccessPoint).where(AccessPoint.ean == ean).options(*with_installation())
    if refresh:
        statement = statement.execution_options(populate_existing=True)
    return (await session.scalars(statement)).first()


async def get_with_meters(session: ReadSession, ean: str) -> AccessPoint | None:
    statement = select(AccessPoint).where(AccessPoint.ean == ean).options(*with_meters())
    return (await session.scalars(statement)).first()


async def get_by_ean(
    session: ReadSession, ean: str, *, details: bool = True, refresh: bool = False
) -> AccessPoint | None:
    statement = select(AccessPoint).where(AccessPoint.ean == ean)
    if details:
        statement = statement.options(*with_details())
    if refresh:
        statement = statement.execution_options(populate_existing=True)
    return (await session.scalars(statement)).first()


@dataclass(frozen=True)
class AccessPointFilter:
    energy_type: EnergyType | None = None
    meter_type: MeterType | None = None
    gvm: bool | None = None
    communicating_on: date | None = None
    ean_prefix: str | None = None  # digits only (the portal's search)


def _communicating_on(day: date) -> ColumnElement[bool]:
    return and_(
        AccessPoint.meter_type == MeterType.digital,
        exists().where(
            CommunicationPeriod.access_point_id == AccessPoint.id,
            _valid_on(CommunicationPeriod.valid_from, CommunicationPeriod.valid_to, day),
        ),
    )


async def list_page(
    session: ReadSession, *, after_ean: str | None, limit: int, where: AccessPointFilter
) -> Sequence[AccessPoint]:
    """Up to ``limit`` access points with details, ordered by EAN, after ``after_ean``."""
    statement = select(AccessPoint).order_by(AccessPoint.ean).limit(limit)
    if after_ean is not None:
        statement = statement.where(AccessPoint.ean > after_ean)
    if where.energy_type is not None:
        statement = statement.where(AccessPoint.energy_type == where.energy_type)
    if where.meter_type is not None:
        statement = statement.where(AccessPoint.meter_type == where.meter_type)
    if where.gvm is not None:
        statement = statement.where(AccessPoint.gvm.is_(where.gvm))
    if where.communicating_on is not None:
        statement = statement.where(_communicating_on(where.communicating_on))
    if where.ean_prefix:
        if not where.ean_prefix.isdigit():
            raise ValueError("ean_prefix: digits only")
        statement = statement.where(AccessPoint.ean.startswith(where.ean_prefix))
    return (await session.scalars(statement.options(*with_details()))).all()


def _parties_on(ean: str, role: PartyRole, day: date) -> ColumnElement[bool]:
    return and_(
        AccessPoint.ean == ean,
        AccessPointParty.role == role,
        _valid_on(AccessPointParty.valid_from, AccessPointParty.valid_to, day),
    )


async def party_accounts_on(
    session: ReadSession, ean: str, role: PartyRole, day: date
) -> list[int]:
    """Ids of the accounts that hold ``role`` for the EAN on ``day``, ascending."""
    statement = (
        select(AccessPointParty.account_id)
        .join(AccessPoint, AccessPoint.id == AccessPointParty.access_point_id)
        .where(_parties_on(ean, role, day))
        .order_by(AccessPointParty.account_id)
    )
    return list((await session.scalars(statement)).all())


async def roles_of_account_on(
    session: ReadSession, account_id: int, day: date
) -> list[tuple[str, PartyRole]]:
    """(EAN, role) pairs the account holds on ``day``, ordered by EAN."""
    statement = (
        select(AccessPoint.ean, AccessPointParty.role)
        .join(AccessPoint, AccessPoint.id == AccessPointParty.access_point_id)
        .where(
            AccessPointParty.account_id == account_id,
            _valid_on(AccessPointParty.valid_from, AccessPointParty.valid_to, day),
        )
        .order_by(AccessPoint.ean, AccessPointParty.role)
    )
    return [(ean, role) for ean, role in (await session.execute(statement)).all()]


async def eans_of_account(session: ReadSession, account_id: int) -> list[str]:
    """Every EAN of which the account is or was customer or grid user, in order."""
    statement = (
        select(AccessPoint.ean)
        .join(AccessPointParty, AccessPoint.id == AccessPointParty.access_point_id)
        .where(AccessPointParty.account_id == account_id)
        .distinct()
        .order_by(AccessPoint.ean)
    )
    return list((await session.scalars(statement)).all())


async def communication_overlapping(
    session: ReadSession, ean: str, start: date, end: date
) -> tuple[MeterType, list[CommunicationPeriod]] | None:
    """The meter type and the communication periods that touch [start, end); None for an
    unknown EAN."""
    meter_type = await session.scalar(select(AccessPoint.meter_type).where(AccessPoint.ean == ean))
    if meter_type is None:
        return None
    statement = (
        select(CommunicationPeriod)
        .join(AccessPoint, AccessPoint.id == CommunicationPeriod.access_point_id)
        .where(
            AccessPoint.ean == ean,
            _overlaps(CommunicationPeriod.valid_from, CommunicationPeriod.valid_to, start, end),
        )
        .order_by(CommunicationPeriod.valid_from)
    )
    return meter_type, list((await session.scalars(statement)).all())


async def meters_installed(
    session: ReadSession, ean: str, start: date, end: date
) -> list[PhysicalMeter]:
    """The physical meters of the EAN installed on at least one day of [start, end)."""
    statement = (
        select(PhysicalMeter)
        .join(AccessPoint, AccessPoint.id == PhysicalMeter.access_point_id)
        .where(
            AccessPoint.ean == ean,
            _overlaps(PhysicalMeter.installed_from, PhysicalMeter.installed_to, start, end),
        )
        .order_by(PhysicalMeter.installed_from, PhysicalMeter.seq_number)
    )
    return list((await session.scalars(statement)).all())


# --- writes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAccessPoint:
    id: int
    ean: str
    content_hash: str
    energy_type: EnergyType
    installation_hash: str | None  # None: no installation facts stored


async def lock_existing(session: WriteSession, eans: Sequence[str]) -> dict[str, StoredAccessPoint]:
    """Lock the rows of the EANs that exist (in EAN order, so concurrent batches never
    deadlock) until the transaction ends."""
    result = await session.execute(
        select(
            AccessPoint.id,
            AccessPoint.ean,
            AccessPoint.content_hash,
            AccessPoint.energy_type,
            AccessPointInstallation.content_hash.label("installation_hash"),
        )
        .outerjoin(
            AccessPointInstallation, AccessPointInstallation.access_point_id == AccessPoint.id
        )
        .where(in_array(AccessPoint.ean, eans))
        .order_by(AccessPoint.ean)
        .with_for_update(of=AccessPoint)
    )
    return {
        row.ean: StoredAccessPoint(
            row.id, row.ean, row.content_hash, row.energy_type, row.installation_hash
        )
        for row in result
    }


@dataclass(frozen=True)
class PartyPeriodRow:
    account_id: int
    valid_from: date
    valid_to: date | None


async def grid_user_periods(
    session: ReadSession, access_point_ids: Sequence[int]
) -> dict[int, list[PartyPeriodRow]]:
    """Stored grid-user periods per access point id."""
    result = await session.execute(
        select(
            AccessPointParty.access_point_id,
            AccessPointParty.account_id,
            AccessPointParty.valid_from,
            AccessPointParty.valid_to,
        )
        .where(
            in_array(AccessPointParty.access_point_id, access_point_ids),
            AccessPointParty.role == PartyRole.grid_user,
        )
        .order_by(AccessPointParty.access_point_id, AccessPointParty.valid_from)
    )
    periods: dict[int, list[PartyPeriodRow]] = {}
    for row in result:
        periods.setdefault(row.access_point_id, []).append(
            PartyPeriodRow(row.account_id, row.valid_from, row.valid_to)
        )
    return periods


@dataclass
class AccessPointColumns:
    """Column arrays of a batch of access points (the i-th entry of each is one row)."""

    ean: list[str]
    energy_type: list[str]
    meter_type: list[str]
    metering: list[str]
    gvm: list[bool]
    content_hash: list[str]


_UPSERT_ACCESS_POINTS = text(
    """
    INSERT INTO access_points (ean, energy_type, meter_type, metering, gvm, content_hash)
    SELECT * FROM unnest(
        CAST(:ean AS varchar[]), CAST(:energy_type AS varchar[]), CAST(:meter_type AS varchar[]),
        CAST(:metering AS varchar[]), CAST(:gvm AS boolean[]), CAST(:content_hash AS varchar[])
    )
    ON CONFLICT (ean) DO UPDATE SET
        energy_type = excluded.energy_type,
        meter_type = excluded.meter_type,
        metering = excluded.metering,
        gvm = excluded.gvm,
        content_hash = excluded.content_hash,
        updated_at = now()
    RETURNING id, ean
    """
)


async def upsert_access_points(
    session: WriteSession, columns: AccessPointColumns
) -> dict[str, int]:
    """Insert or update the access points themselves; their ids by EAN."""
    result = await session.execute(_UPSERT_ACCESS_POINTS, vars(columns))
    return {row.ean: row.id for row in result}


_DELETE_DETAILS = [
    text(f"DELETE FROM {table} WHERE access_point_id = ANY(CAST(:ids AS integer[]))")  # noqa: S608
    for table in (
        "physical_meters",
        "sub_headpoints",
        "communication_periods",
        "access_point_parties",
    )
]


async def delete_details(session: WriteSession, access_point_ids: Sequence[int]) -> None:
    """Remove meters, sub-headpoints, communication periods and parties of access points."""
    if not access_point_ids:
        return
    for statement in _DELETE_DETAILS:
        await session.execute(statement, {"ids": list(access_point_ids)})


@dataclass
class DetailColumns:
    """Column arrays of the details of a batch of access points."""

    meter_access_point_id: list[int]
    meter_seq_number: list[str]
    meter_id: list[str]
    meter_installed_from: list[date]
    meter_installed_to: list[date | None]

    sub_access_point_id: list[int]
    sub_type: list[str]
    sub_seq_number: list[str]
    sub_ean: list[str | None]
    sub_vreg_id: list[str | None]
    sub_installation_type: list[str | None]

    communication_access_point_id: list[int]
    communication_valid_from: list[date]
    communication_valid_to: list[date | None]

    party_access_point_id: list[int]
    party_account_id: list[int]
    party_role: list[str]
    party_valid_from: list[date]
    party_valid_to: list[date | None]

    @classmethod
    def empty(cls) -> DetailColumns:
        return cls(**{name: [] for name in cls.__dataclass_fields__})


_INSERT_METERS = text(
    """
    INSERT INTO physical_meters (access_point_id, seq_number, meter_id, installed_from,
                                 installed_to)
    SELECT * FROM unnest(
        CAST(:meter_access_point_id AS integer[]), CAST(:meter_seq_number AS varchar[]),
        CAST(:meter_id AS varchar[]), CAST(:meter_installed_from AS date[]),
        CAST(:meter_installed_to AS date[])
    )
    """
)
_INSERT_SUB_HEADPOINTS = text(
    """
    INSERT INTO sub_headpoints (access_point_id, type, seq_number, ean, vreg_id,
                                installation_type)
    SELECT * FROM unnest(
        CAST(:sub_access_point_id AS integer[]), CAST(:sub_type AS varchar[]),
        CAST(:sub_seq_number AS varchar[]), CAST(:sub_ean AS varchar[]),
        CAST(:sub_vreg_id AS varchar[]), CAST(:sub_installation_type AS varchar[])
    )
    """
)
_INSERT_COMMUNICATION = text(
    """
    INSERT INTO communication_periods (access_point_id, valid_from, valid_to)
    SELECT * FROM unnest(
        CAST(:communication_access_point_id AS integer[]),
        CAST(:communication_valid_from AS date[]), CAST(:communication_valid_to AS date[])
    )
    """
)
_INSERT_PARTIES = text(
    """
    INSERT INTO access_point_parties (access_point_id, account_id, role, valid_from, valid_to)
    SELECT * FROM unnest(
        CAST(:party_access_point_id AS integer[]), CAST(:party_account_id AS integer[]),
        CAST(:party_role AS varchar[]), CAST(:party_valid_from AS date[]),
        CAST(:party_valid_to AS date[])
    )
    """
)


async def insert_details(session: WriteSession, columns: DetailColumns) -> None:
    """Insert the details of a batch: one statement per table."""
    values = vars(columns)
    for statement, prefix in (
        (_INSERT_METERS, "meter_"),
        (_INSERT_SUB_HEADPOINTS, "sub_"),
        (_INSERT_COMMUNICATION, "communication_"),
        (_INSERT_PARTIES, "party_"),
    ):
        chosen = {name: value for name, value in values.items() if name.startswith(prefix)}
        if chosen[f"{prefix}access_point_id"]:
            await session.execute(statement, chosen)


@dataclass
class InstallationColumns:
    """Column arrays of the installation facts of a batch of access points."""

    access_point_id: list[int]
    smr3: list[bool]
    content_hash: list[str]

    production_access_point_id: list[int]
    production_vreg_id: list[str | None]
    production_type: list[str]
    production_converter_power: list[Decimal | None]
    production_converter_power_unit: list[str]
    production_inspection_date: list[date | None]

    volume_access_point_id: list[int]
    volume_calculated_register: list[str]
    volume_value: list[int]
    volume_unit: list[str]
    volume_period_from: list[date]
    volume_period_to: list[date]

    @classmethod
    def empty(cls) -> InstallationColumns:
        return cls(**{name: [] for name in cls.__dataclass_fields__})


_UPSERT_INSTALLATIONS = text(
    """
    INSERT INTO access_point_installations (access_point_id, smr3, content_hash)
    SELECT * FROM unnest(
        CAST(:access_point_id AS integer[]), CAST(:smr3 AS boolean[]),
        CAST(:content_hash AS varchar[])
    )
    ON CONFLICT (access_point_id) DO UPDATE SET
        smr3 = excluded.smr3,
        content_hash = excluded.content_hash,
        updated_at = now()
    """
)
_DELETE_INSTALLATION_LISTS = [
    text(f"DELETE FROM {table} WHERE access_point_id = ANY(CAST(:ids AS integer[]))")  # noqa: S608
    for table in ("local_production_installations", "estimated_annual_volumes")
]
_INSERT_PRODUCTION = text(
    """
    INSERT INTO local_production_installations (access_point_id, vreg_id, type, converter_power,
                                                converter_power_unit, inspection_date)
    SELECT * FROM unnest(
        CAST(:production_access_point_id AS integer[]), CAST(:production_vreg_id AS varchar[]),
        CAST(:production_type AS varchar[]), CAST(:production_converter_power AS numeric[]),
        CAST(:production_converter_power_unit AS varchar[]),
        CAST(:production_inspection_date AS date[])
    )
    """
)
_INSERT_VOLUMES = text(
    """
    INSERT INTO estimated_annual_volumes (access_point_id, calculated_register, value, unit,
                                          period_from, period_to)
    SELECT * FROM unnest(
        CAST(:volume_access_point_id AS integer[]), CAST(:volume_calculated_register AS varchar[]),
        CAST(:volume_value AS bigint[]), CAST(:volume_unit AS varchar[]),
        CAST(:volume_period_from AS date[]), CAST(:volume_period_to AS date[])
    )
    """
)


async def replace_installations(session: WriteSession, columns: InstallationColumns) -> None:
    """Store the installation facts of a batch of access points, replacing what they held:
    one statement per table."""
    if not columns.access_point_id:
        return
    values = vars(columns)
    await session.execute(
        _UPSERT_INSTALLATIONS,
        {name: values[name] for name in ("access_point_id", "smr3", "content_hash")},
    )
    for statement in _DELETE_INSTALLATION_LISTS:
        await session.execute(statement, {"ids": columns.access_point_id})
    for statement, prefix in ((_INSERT_PRODUCTION, "production_"), (_INSERT_VOLUMES, "volume_")):
        chosen = {name: value for name, value in values.items() if name.startswith(prefix)}
        if chosen[f"{prefix}access_point_id"]:
            await session.execute(statement, chosen)


@dataclass(frozen=True)
class Tenure:
    """An unbroken span of Brussels days [start, end) during which an account held a role
    (customer or grid user) on an access point; ``end`` None: still open."""

    start: date
    end: date | None

    def holds(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def overlaps(self, start: date, end: date) -> bool:
        """Shares at least one day with [start, end)."""
        return self.start < end and (self.end is None or start < self.end)


async def tenures(
    session: ReadSession, pairs: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], list[Tenure]]:
    """Every tenure of each (EAN, account) pair, in order, in one query: the account's
    party periods on the EAN (as customer or grid user) merged where they touch or overlap.
    Pairs whose account never held a role on the EAN are left out.

    Data from outside a tenure belongs to another occupant and is not the account's to
    share."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    statement = (
        select(
            AccessPoint.ean,
            AccessPointParty.account_id,
            AccessPointParty.valid_from,
            AccessPointParty.valid_to,
        )
        .join(AccessPoint, AccessPoint.id == AccessPointParty.access_point_id)
        .where(
            AccessPoint.ean == any_(bindparam("eans", [ean for ean, _ in wanted], ARRAY(String))),
            AccessPointParty.account_id
            == any_(bindparam("accounts", [account for _, account in wanted], ARRAY(Integer))),
        )
        .order_by(AccessPoint.ean, AccessPointParty.account_id, AccessPointParty.valid_from)
    )
    periods: dict[tuple[str, int], list[tuple[date, date | None]]] = {}
    for row in (await session.execute(statement)).all():
        periods.setdefault((row.ean, row.account_id), []).append((row.valid_from, row.valid_to))
    wanted_set = set(wanted)
    return {pair: merged_tenures(found) for pair, found in periods.items() if pair in wanted_set}


@dataclass(frozen=True)
class CustomerTenures:
    """An access point the account is or was the customer of, with its spans as customer."""

    ean: str
    energy_type: EnergyType
    meter_type: MeterType
    tenures: list[Tenure]


async def customer_tenures(session: ReadSession, account_id: int) -> list[CustomerTenures]:
    """Every access point of which the account is or was the customer (not merely the grid
    user: a landlord's days are the tenants'), its customer periods merged, by EAN."""
    statement = (
        select(
            AccessPoint.ean,
            AccessPoint.energy_type,
            AccessPoint.meter_type,
            AccessPointParty.valid_from,
            AccessPointParty.valid_to,
        )
        .join(AccessPoint, AccessPoint.id == AccessPointParty.access_point_id)
        .where(
            AccessPointParty.account_id == account_id,
            AccessPointParty.role == PartyRole.customer,
        )
        .order_by(AccessPoint.ean, AccessPointParty.valid_from)
    )
    found: dict[str, tuple[EnergyType, MeterType, list[tuple[date, date | None]]]] = {}
    for row in (await session.execute(statement)).all():
        entry = found.setdefault(row.ean, (row.energy_type, row.meter_type, []))
        entry[2].append((row.valid_from, row.valid_to))
    return [
        CustomerTenures(ean, energy, meter, merged_tenures(periods))
        for ean, (energy, meter, periods) in found.items()
    ]


def merged_tenures(periods: Sequence[tuple[date, date | None]]) -> list[Tenure]:
    """``periods`` (ordered by start) merged into unbroken spans: a period that starts on or
    before the end of the span so far extends it."""
    spans: list[Tenure] = []
    for valid_from, valid_to in periods:
        if spans:
            last = spans[-1]
            if last.end is None or valid_from <= last.end:
                end = None if last.end is None or valid_to is None else max(last.end, valid_to)
                spans[-1] = Tenure(last.start, end)
                continue
        spans.append(Tenure(valid_from, valid_to))
    return spans


def tenure_holding(spans: Sequence[Tenure], day: date) -> Tenure | None:
    """The span of ``spans`` that holds ``day``, if any."""
    return next((span for span in spans if span.holds(day)), None)


# --- for meter-data ingest ---------------------------------------------------------------


@dataclass(frozen=True)
class MeterPeriod:
    meter_id: str
    installed_from: date
    installed_to: date | None  # exclusive; None = still installed

    def installed_on(self, day: date) -> bool:
        return self.installed_from <= day and (self.installed_to is None or day < self.installed_to)


@dataclass(frozen=True)
class MeteringRegistration:
    """What meter-data ingest checks readings against."""

    ean: str
    energy_type: EnergyType
    meters: list[MeterPeriod]


def _locking_for_metering(eans: Sequence[str]) -> Select[int, str, EnergyType]:
    return (
        select(AccessPoint.id, AccessPoint.ean, AccessPoint.energy_type)
        .where(in_array(AccessPoint.ean, sorted(set(eans))))
        .order_by(AccessPoint.ean)
        .with_for_update(key_share=True)
    )


async def lock_as_ingest_does(session: WriteSession, eans: Sequence[str]) -> None:
    """Take the lock :func:`lock_for_metering` takes on the access points of ``eans``, in
    its order: a writer of these EANs' derived rows (the SLA tracker's EAN-days) that takes
    it first never waits for an ingest while holding a row that ingest waits for."""
    await session.execute(_locking_for_metering(eans))


async def lock_for_metering(
    session: WriteSession, eans: Sequence[str]
) -> dict[str, MeteringRegistration]:
    """Lock the access points of ``eans`` that exist (``FOR NO KEY UPDATE``, in EAN order)
    until the transaction ends, and return their energy type and meter periods.

    The lock conflicts with registry writes (``FOR UPDATE``) and with other ingests of the
    same EANs, so readings are checked and stored against one registry state, and two
    batches never write the same day block at once."""
    locked = await session.execute(_locking_for_metering(eans))
    found = {row.id: MeteringRegistration(row.ean, row.energy_type, []) for row in locked}
    if found:
        meters = await session.execute(
            select(
                PhysicalMeter.access_point_id,
                PhysicalMeter.meter_id,
                PhysicalMeter.installed_from,
                PhysicalMeter.installed_to,
            )
            .where(in_array(PhysicalMeter.access_point_id, found))
            .order_by(PhysicalMeter.access_point_id, PhysicalMeter.installed_from)
        )
        for row in meters:
            found[row.access_point_id].meters.append(
                MeterPeriod(row.meter_id, row.installed_from, row.installed_to)
            )
    return {registration.ean: registration for registration in found.values()}


async def energy_types(session: ReadSession, eans: Sequence[str]) -> dict[str, EnergyType]:
    """The energy type of each registered EAN among ``eans``."""
    if not eans:
        return {}
    result = await session.execute(
        select(AccessPoint.ean, AccessPoint.energy_type).where(in_array(AccessPoint.ean, eans))
    )
    return {row.ean: row.energy_type for row in result}


async def lock_new_ean(session: WriteSession, ean: str) -> None:
    """Until the transaction ends, one registrar at a time for ``ean`` (a row that does not
    exist yet cannot be locked): two sandbox mock mandates on a new test EAN register it
    once."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('access-point'), hashtext(:ean))"),
        {"ean": ean},
    )
