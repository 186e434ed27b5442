"""What other domains ask the registry (parties, communication, meters on Brussels days,
both DST days of 2026 included) and the grid-user change hook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import FastAPI

from datahub_api.access_points import service
from datahub_api.access_points.models import PhysicalMeter
from datahub_api.access_points.repository import PartyPeriodRow
from datahub_api.access_points.schemas import AccessPointBody, AccessPointPut
from datahub_api.brussels_days import brussels_date, day_length, day_start
from datahub_api.db import Database, WriteSession

from ..support.access_point_data import access_point_body, add_accounts, fresh_ean

SPRING = date(2026, 3, 29)  # 23 hours in Brussels
AUTUMN = date(2026, 10, 25)  # 25 hours in Brussels


def test_brussels_days_on_the_dst_days() -> None:
    assert day_length(SPRING) == timedelta(hours=23)
    assert day_length(AUTUMN) == timedelta(hours=25)
    assert day_length(date(2026, 6, 1)) == timedelta(hours=24)
    assert day_start(SPRING) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert day_start(AUTUMN) == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert brussels_date(datetime(2026, 3, 28, 22, 59, tzinfo=UTC)) == date(2026, 3, 28)
    assert brussels_date(datetime(2026, 3, 28, 23, 0, tzinfo=UTC)) == SPRING
    assert brussels_date(datetime(2026, 10, 24, 21, 59, tzinfo=UTC)) == date(2026, 10, 24)
    assert brussels_date(datetime(2026, 10, 24, 22, 0, tzinfo=UTC)) == AUTUMN
    assert brussels_date(datetime(2026, 10, 25, 22, 59, tzinfo=UTC)) == AUTUMN
    with pytest.raises(ValueError, match="naive"):
        brussels_date(datetime(2026, 1, 1))


async def _put(database: Database, ean: str, body: dict[str, object]) -> service.PutOutcome:
    async with database.write_sessions() as session:
        outcome = await service.put_access_point(session, ean, AccessPointPut.model_validate(body))
        await session.commit()
    return outcome


async def test_parties_communication_and_meters_on_brussels_days(app: FastAPI) -> None:
    database: Database = app.state.database
    old_occupant, new_occupant, tenant = await add_accounts(app, 3)
    ean = fresh_ean()
    since = "2020-01-01"
    await _put(
        database,
        ean,
        access_point_body(
            grid_users=[
                {"account_id": old_occupant, "valid_from": since, "valid_to": str(SPRING)},
                {"account_id": new_occupant, "valid_from": str(SPRING)},
            ],
            customers=[
                {"account_id": old_occupant, "valid_from": since, "valid_to": str(SPRING)},
                {"account_id": tenant, "valid_from": str(SPRING)},
                {"account_id": new_occupant, "valid_from": str(SPRING)},
            ],
            physical_meters=[
                {
                    "seq_number": "1",
                    "meter_id": "OLD",
                    "installed_from": since,
                    "installed_to": str(AUTUMN),
                },
                {"seq_number": "1", "meter_id": "NEW", "installed_from": str(AUTUMN)},
            ],
            communication_periods=[
                {"valid_from": str(SPRING), "valid_to": str(AUTUMN)},
                {"valid_from": "2026-11-01"},
            ],
        ),
    )
    day_before_spring = SPRING - timedelta(days=1)
    async with database.read_sessions() as session:
        assert await service.grid_user_on(session, ean, day_before_spring) == old_occupant
        assert await service.grid_user_on(session, ean, SPRING) == new_occupant
        assert await service.grid_user_on(session, ean, date(2019, 12, 31)) is None
        assert await service.customers_on(session, ean, day_before_spring) == [old_occupant]
        assert await service.customers_on(session, ean, SPRING) == sorted([tenant, new_occupant])

        before = await service.access_points_of_account(session, old_occupant, day_before_spring)
        assert before == [service.AccountAccessPoint(ean, is_customer=True, is_grid_user=True)]
        assert await service.access_points_of_account(session, old_occupant, SPRING) == []
        assert await service.access_points_of_account(session, tenant, SPRING) == [
            service.AccountAccessPoint(ean, is_customer=True, is_grid_user=False)
        ]

        spring_days = await service.communicating_days(
            session, ean, date(2026, 3, 27), date(2026, 3, 31)
        )
        assert spring_days == {SPRING, date(2026, 3, 30)}
        autumn_days = await service.communicating_days(
            session, ean, date(2026, 10, 23), date(2026, 11, 3)
        )
        assert autumn_days == {
            date(2026, 10, 23),
            date(2026, 10, 24),
            date(2026, 11, 1),
            date(2026, 11, 2),
        }
        year = await service.communicating_days(session, ean, date(2026, 1, 1), date(2027, 1, 1))
        assert len(year) == (AUTUMN - SPRING).days + (date(2027, 1, 1) - date(2026, 11, 1)).days

        # An instant is first turned into its Brussels day.
        for instant, expected in [
            (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), False),  # 23:59 on the 28th
            (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), True),  # 00:30 on the 29th (CET)
            (datetime(2026, 10, 24, 21, 30, tzinfo=UTC), True),  # 23:30 on the 24th (CEST)
            (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), False),  # 00:30 on the 25th
        ]:
            day = brussels_date(instant)
            assert await service.is_communicating_on(session, ean, day) is expected, instant

        def ids(meters: list[PhysicalMeter]) -> list[str]:
            return [meter.meter_id for meter in meters]

        one_day = timedelta(days=1)
        assert ids(await service.meters_installed(session, ean, AUTUMN - one_day, AUTUMN)) == [
            "OLD"
        ]
        assert ids(await service.meters_installed(session, ean, AUTUMN, AUTUMN + one_day)) == [
            "NEW"
        ]
        assert ids(
            await service.meters_installed(session, ean, AUTUMN - one_day, AUTUMN + one_day)
        ) == ["OLD", "NEW"]

        loaded = await service.get_access_point(session, ean)
        assert [p.meter_id for p in loaded.physical_meters] == ["OLD", "NEW"]

        unknown = fresh_ean()
        assert await service.grid_user_on(session, unknown, SPRING) is None
        assert await service.communicating_days(session, unknown, SPRING, AUTUMN) == set()
        assert await service.find_access_point(session, unknown) is None
        with pytest.raises(service.AccessPointNotFound):
            await service.get_access_point(session, unknown)


async def test_a_meter_that_is_not_digital_never_communicates(app: FastAPI) -> None:
    database: Database = app.state.database
    ean = fresh_ean()
    await _put(database, ean, access_point_body(meter_type="KM", communication_periods=[]))
    async with database.read_sessions() as session:
        assert not await service.is_communicating_on(session, ean, SPRING)
        assert await service.communicating_days(session, ean, SPRING, AUTUMN) == set()


Call = tuple[str, int, int | None, date]


@pytest.fixture
def grid_user_changes() -> Iterator[list[Call]]:
    calls: list[Call] = []

    async def record(
        session: WriteSession, ean: str, old: int, new: int | None, effective: date
    ) -> None:
        assert isinstance(session, WriteSession)
        calls.append((ean, old, new, effective))

    service.GRID_USER_CHANGE_LISTENERS.append(record)
    yield calls
    service.GRID_USER_CHANGE_LISTENERS.remove(record)


async def test_grid_user_change_calls_the_listeners(
    app: FastAPI, grid_user_changes: list[Call]
) -> None:
    database: Database = app.state.database
    landlord, buyer = await add_accounts(app, 2)
    ean = fresh_ean()
    since = "2020-01-01"
    first = access_point_body(grid_user=landlord, since=since)
    await _put(database, ean, first)
    assert grid_user_changes == []  # a new access point changes nobody's grid-user role

    sold = access_point_body(
        since=since,
        grid_users=[
            {"account_id": landlord, "valid_from": since, "valid_to": str(SPRING)},
            {"account_id": buyer, "valid_from": str(SPRING)},
        ],
    )
    await _put(database, ean, sold)
    assert grid_user_changes == [(ean, landlord, buyer, SPRING)]

    await _put(database, ean, sold)  # the same again: no change, no call
    assert len(grid_user_changes) == 1

    left = access_point_body(
        since=since,
        grid_users=[
            {"account_id": landlord, "valid_from": since, "valid_to": str(SPRING)},
            {"account_id": buyer, "valid_from": str(SPRING), "valid_to": str(AUTUMN)},
        ],
    )
    await _put(database, ean, left)
    assert grid_user_changes[1:] == [(ean, buyer, None, AUTUMN)]


async def test_bulk_upserts_call_the_listeners_too(
    app: FastAPI, grid_user_changes: list[Call]
) -> None:
    database: Database = app.state.database
    before, after = await add_accounts(app, 2)
    ean = fresh_ean()
    await _put(database, ean, access_point_body(grid_user=before))
    moved = access_point_body(
        ean,
        grid_users=[
            {"account_id": before, "valid_from": "2024-01-01", "valid_to": str(AUTUMN)},
            {"account_id": after, "valid_from": str(AUTUMN)},
        ],
    )
    rows = [service.AccessPointRow(1, AccessPointBody.model_validate(moved))]
    async with database.write_sessions() as session:
        outcome = await service.store_access_points(session, rows)
        await session.commit()
    assert outcome.updated == [ean]
    assert grid_user_changes == [(ean, before, after, AUTUMN)]


async def test_a_failing_listener_aborts_the_write(app: FastAPI) -> None:
    database: Database = app.state.database
    first, second = await add_accounts(app, 2)
    ean = fresh_ean()
    await _put(database, ean, access_point_body(grid_user=first))

    async def refuse(*_: object) -> None:
        raise RuntimeError("mandates could not be ended")

    service.GRID_USER_CHANGE_LISTENERS.append(refuse)
    try:
        with pytest.raises(RuntimeError, match="could not be ended"):
            await _put(database, ean, access_point_body(grid_user=second))
    finally:
        service.GRID_USER_CHANGE_LISTENERS.remove(refuse)
    async with database.read_sessions() as session:
        assert await service.grid_user_on(session, ean, SPRING) == first


def _period(account: int, start: str, end: str | None = None) -> PartyPeriodRow:
    return PartyPeriodRow(
        account, date.fromisoformat(start), date.fromisoformat(end) if end else None
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([], [_period(1, "2024-01-01")], []),
        ([_period(1, "2024-01-01")], [_period(1, "2024-01-01")], []),
        (
            [_period(1, "2024-01-01")],
            [_period(1, "2024-01-01", "2026-03-29"), _period(2, "2026-03-29")],
            [(1, 2, SPRING)],
        ),
        # The new grid user's start moves earlier: the old one loses days from then on.
        (
            [_period(1, "2024-01-01", "2026-10-25"), _period(2, "2026-10-25")],
            [_period(1, "2024-01-01", "2026-03-29"), _period(2, "2026-03-29")],
            [(1, 2, SPRING)],
        ),
        # ... or later: nobody lost a day they held before, except the later grid user.
        (
            [_period(1, "2024-01-01", "2026-03-29"), _period(2, "2026-03-29")],
            [_period(1, "2024-01-01", "2026-10-25"), _period(2, "2026-10-25")],
            [(2, 1, SPRING)],
        ),
        ([_period(1, "2024-01-01")], [], [(1, None, date(2024, 1, 1))]),
        (
            [
                _period(1, "2024-01-01"),
            ],
            [
                _period(1, "2024-01-01", "2025-01-01"),
                _period(2, "2025-01-01", "2026-01-01"),
                _period(3, "2026-01-01"),
            ],
            [(1, 2, date(2025, 1, 1)), (1, 3, date(2026, 1, 1))],
        ),
    ],
)
def test_grid_user_changes_between_timelines(
    old: list[PartyPeriodRow],
    new: list[PartyPeriodRow],
    expected: list[tuple[int, int | None, date]],
) -> None:
    changes = service.grid_user_changes("541448800000004312", old, new)
    assert [(c.old_account_id, c.new_account_id, c.effective_date) for c in changes] == expected
