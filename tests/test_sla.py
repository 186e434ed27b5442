"""The SLA tracker: when an EAN-day counts as delivered, the roll-ups, the report and its
late items, who sees which figures, the breach event and the bad input.

Deliveries happen at the database's clock (the test's "now"), so days long past are late
and yesterday's are on time; the report's own ``now`` decides pending vs missing. Every
count is checked against one made here from the raw day blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.db import Database
from datahub_api.meter_data import service as meter_service
from datahub_api.meter_data.ingest_parser import BatchBuilder, CsvReader
from datahub_api.meter_data.models import Granularity
from datahub_api.sla import repository
from datahub_api.sla import service as sla_service
from datahub_api.sla.service import GroupBy, SlaChannel

from .access_point_data import access_point_body, fresh_ean
from .meter_data_helpers import HEADER, day_rows
from .parties import Esp, make_esp

OPERATOR = Principal(subject="t", role=Role.operator, scopes=frozenset({Scope.sla_all}))


# --- helpers -----------------------------------------------------------------------------


async def put_point(app: FastAPI, ean: str | None = None, **over: object) -> str:
    from datahub_api.access_points import service as access_points_service
    from datahub_api.access_points.schemas import AccessPointFields

    ean = ean or fresh_ean()
    body = access_point_body(since="2024-01-01")
    body.update(over)
    async with app.state.database.write_sessions() as session:
        await access_points_service.put_access_point(
            session, ean, AccessPointFields.model_validate(body)
        )
        await session.commit()
    return ean


async def ingest(app: FastAPI, rows: Iterable[list[str]], *, track: bool = True) -> None:
    """Store readings through the real ingest (parser, merge, tracking), one transaction."""
    builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e5, max_blocks=10**6)
    CsvReader(builder).feed([HEADER, *(",".join(row) for row in rows)])
    async with app.state.database.write_sessions() as session:
        await meter_service.store_batch(session, builder.batch, track_sla=track)
        await session.commit()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def roll_up(app: FastAPI, rolled: list[date], now: datetime) -> None:
    async with app.state.database.write_sessions() as session:
        await repository.roll_up(session, rolled, now)
        await session.commit()


async def add_mandate(
    app: FastAPI, esp: Esp, ean: str, start: date, end: date, channel: str = "api"
) -> None:
    async with app.state.database.write_sessions() as session:
        point_id = await session.scalar(
            text("SELECT id FROM access_points WHERE ean = :ean"), {"ean": ean}
        )
        await session.execute(
            text(
                "INSERT INTO mandates (organisation_id, ean, access_point_id, reference_number, "
                "channel, energy_type, data_service_type, data_period_from, data_period_to, "
                "expiration_date, status, source, version) VALUES (:org, :ean, :point, :ref, "
                ":channel, 'E', 'VH_kwartier_uur', :start, :end, :end, 'approved', 'sandbox', 1)"
            ),
            {
                "org": esp.organisation_id,
                "ean": ean,
                "point": point_id,
                "ref": f"sla-{ean}-{channel}",
                "channel": channel,
                "start": day_start(start),
                "end": day_start(end),
            },
        )
        await session.commit()


async def independent_counts(
    database: Database,
    eans: Iterable[str],
    first: date,
    end: date,
    now: datetime,
    target_days: int,
    communicating: Callable[[str, date], bool],
) -> dict[str, int]:
    """Counts made straight from the raw day blocks: per EAN-day, delivered at the latest
    ``completed_at`` of its interval blocks when every one is complete."""
    async with database.read_sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT ean, day, completed_at FROM meter_day_blocks "
                    "WHERE ean = ANY(:eans) AND day >= :first AND day < :end "
                    "AND granularity IN (1, 2)"
                ),
                {"eans": list(eans), "first": first, "end": end},
            )
        ).all()
    blocks: dict[tuple[str, date], list[datetime | None]] = {}
    for ean, day, completed in rows:
        blocks.setdefault((ean, day), []).append(completed)
    counts = {"expected": 0, "on_time": 0, "late": 0, "missing": 0, "pending": 0}
    for ean in eans:
        for day in days(first, end - timedelta(days=1)):
            if not communicating(ean, day):
                continue
            counts["expected"] += 1
            found = blocks.get((ean, day), [])
            complete = [c for c in found if c is not None]
            delivered = max(complete) if found and len(complete) == len(found) else None
            deadline = day_start(day + timedelta(days=1)) + timedelta(days=target_days)
            if delivered is not None and delivered <= deadline:
                counts["on_time"] += 1
            elif delivered is not None:
                counts["late"] += 1
            elif now > deadline:
                counts["missing"] += 1
            else:
                counts["pending"] += 1
    return counts


def as_dict(figures: sla_service.Figures) -> dict[str, int]:
    return {
        "expected": figures.expected,
        "on_time": figures.on_time,
        "late": figures.late,
        "missing": figures.missing,
        "pending": figures.pending,
    }


# --- delivery rules ----------------------------------------------------------------------

FEB_2024 = (date(2024, 2, 1), date(2024, 3, 1))


async def test_delivery_dst_gas_leap_day_partial_corrections_and_mid_month_meter(
    app: FastAPI,
) -> None:
    database: Database = app.state.database
    power = await put_point(app)
    gas = await put_point(
        app,
        energy_type="G",
        physical_meters=[{"seq_number": "1", "meter_id": "GAS1", "installed_from": "2024-01-01"}],
    )
    # Installed since January, communicating only from 15 February.
    late_starter = await put_point(app, communication_periods=[{"valid_from": "2024-02-15"}])

    # Leap day: half first, the rest in a later batch -> delivered by the second batch.
    await ingest(app, day_rows(power, date(2024, 2, 29), slots=range(50)))
    async with database.read_sessions() as session:
        partial = await session.scalar(
            text("SELECT delivered_at FROM sla_ean_days WHERE ean = :e AND day = '2024-02-29'"),
            {"e": power},
        )
    assert partial is None
    await ingest(app, day_rows(power, date(2024, 2, 29), slots=range(50, 96)))
    # A full day, then a correction of one value: the first delivery stays.
    await ingest(app, day_rows(power, date(2024, 2, 27)))
    async with database.read_sessions() as session:
        first_delivery = await session.scalar(
            text("SELECT delivered_at FROM sla_ean_days WHERE ean = :e AND day = '2024-02-27'"),
            {"e": power},
        )
    await ingest(app, day_rows(power, date(2024, 2, 27), slots=[5], value="9.999"))
    # DST days: 92 and 100 quarter-hours; gas per hour 23 and 25; one gas hour missing.
    await ingest(
        app,
        [
            *day_rows(power, date(2025, 3, 30)),
            *day_rows(power, date(2025, 10, 26)),
            *day_rows(power, date(2025, 10, 27), slots=range(95)),
        ],
    )
    gas_rows = []
    for day in (date(2025, 3, 30), date(2025, 10, 26)):
        gas_rows += day_rows(gas, day, meter_id="GAS1", granularity=Granularity.PT1H, unit="m3")
    gas_rows += day_rows(
        gas, date(2025, 10, 27), meter_id="GAS1", granularity=Granularity.PT1H, unit="m3",
        slots=range(23),
    )  # fmt: skip
    await ingest(app, gas_rows)
    # Offtake and injection: the day is delivered when both are complete.
    await ingest(
        app,
        [
            *day_rows(late_starter, date(2024, 2, 10)),
            *day_rows(late_starter, date(2024, 2, 20)),
            *day_rows(late_starter, date(2024, 2, 21)),
            *day_rows(late_starter, date(2024, 2, 21), direction="injection", slots=range(10)),
        ],
    )

    async with database.read_sessions() as session:
        rows = {
            (ean, day): (streams, complete, delivered)
            for ean, day, streams, complete, delivered in await session.execute(
                text("SELECT ean, day, streams, complete_streams, delivered_at FROM sla_ean_days")
            )
        }
        block_completed = await session.scalar(
            text("SELECT completed_at FROM meter_day_blocks WHERE ean = :e AND day = '2024-02-29'"),
            {"e": power},
        )
    assert rows[(power, date(2024, 2, 29))][2] == block_completed
    assert rows[(power, date(2024, 2, 27))][2] == first_delivery
    for day in (date(2025, 3, 30), date(2025, 10, 26)):
        assert rows[(power, day)][2] is not None
        assert rows[(gas, day)][2] is not None
    assert rows[(power, date(2025, 10, 27))] == (1, 0, None)
    assert rows[(gas, date(2025, 10, 27))] == (1, 0, None)
    assert rows[(late_starter, date(2024, 2, 21))] == (2, 1, None)
    assert rows[(late_starter, date(2024, 2, 20))][2] is not None

    # Roll up February 2024; the meter that starts mid-month counts from the 15th only.
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await roll_up(app, days(FEB_2024[0], FEB_2024[1] - timedelta(days=1)), now)
    async with database.read_sessions() as session:
        excluded = await session.scalar(
            text("SELECT excluded_reason FROM sla_ean_days WHERE ean = :e AND day = '2024-02-10'"),
            {"e": late_starter},
        )
        found = await sla_service.report(
            session, OPERATOR, app.state.settings, channel=SlaChannel.api,
            start=FEB_2024[0], end=FEB_2024[1], group_by=GroupBy.day, organisation_id=None,
            now=now,
        )  # fmt: skip
    assert excluded == "not_communicating"

    def communicating(ean: str, day: date) -> bool:
        return ean != late_starter or day >= date(2024, 2, 15)

    expected = await independent_counts(
        database, [power, gas, late_starter], *FEB_2024, now, 3, communicating
    )
    assert as_dict(found.total) == expected
    assert expected["expected"] == 29 + 29 + 15
    assert found.total.on_time == 0  # delivered years after the days
    assert found.total.late == 3  # power 27th and 29th, late starter 20th
    assert found.exclusions is not None
    assert found.exclusions.not_communicating == 1
    assert len(found.groups) == 29
    assert found.groups[28].figures.late == 1  # the leap day
    assert found.total.share_on_time == 0


async def test_delivery_instants_and_dst_deadline(app: FastAPI) -> None:
    """Delays and on-time are measured from the end of the Brussels day, also on DST days."""
    database: Database = app.state.database
    ean = await put_point(app)
    cases = {
        # day: delivered (UTC)
        date(2025, 3, 30): datetime(2025, 4, 2, 21, 59, tzinfo=UTC),  # 71h59 after 22:00Z
        date(2025, 10, 26): datetime(2025, 10, 30, 0, 0, tzinfo=UTC),  # 73 h after 23:00Z
    }
    for day, at in cases.items():
        async with database.write_sessions() as session:
            await repository.record_deliveries(
                session, repository.DeliveryDeltas([ean], [day], [1], [1], [0]), at
            )
            await session.commit()
    await roll_up(app, list(cases), datetime(2026, 1, 1, tzinfo=UTC))
    async with database.read_sessions() as session:
        counted = await repository.rolled_up_days(session, date(2025, 3, 1), date(2025, 11, 1))
    by_day = {c.day: c for c in counted}
    assert by_day[date(2025, 3, 30)].delays == {72: 1}
    assert by_day[date(2025, 10, 26)].delays == {73: 1}
    figures = sla_service.figures_of(
        counted, app.state.settings.sla_targets["api"], datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert figures.on_time == 1
    assert figures.late == 1


# --- the routes, isolation and events ----------------------------------------------------


@pytest.fixture
async def two_esps(app: FastAPI) -> tuple[Esp, Esp]:
    return await make_esp(app, "SLA A"), await make_esp(app, "SLA B", channels=[Channel.api])


async def test_report_late_items_isolation_and_bad_input(
    app: FastAPI,
    client: httpx.AsyncClient,
    bearer: Callable[..., dict[str, str]],
    two_esps: tuple[Esp, Esp],
) -> None:
    database: Database = app.state.database
    esp_a, esp_b = two_esps
    today = today_in_brussels()
    first = today - timedelta(days=20)
    x, y = await put_point(app), await put_point(app)
    # ESP A's mandate on X starts mid-period; B has Y for the whole period.
    await add_mandate(app, esp_a, x, today - timedelta(days=10), today + timedelta(days=365))
    await add_mandate(app, esp_b, y, first, today + timedelta(days=365))
    delivered = [
        d for d in days(first, today - timedelta(days=2)) if d != today - timedelta(days=8)
    ]
    await ingest(app, [row for d in delivered for row in day_rows(x, d)])
    await ingest(app, [row for d in delivered for row in day_rows(y, d)])
    now = datetime.now(UTC)
    await roll_up(app, days(first, today - timedelta(days=1)), now)

    headers_a = bearer(Role.esp, [Scope.mandates_read], organisation_id=esp_a.organisation_id)
    headers_b = bearer(Role.esp, [Scope.mandates_read], organisation_id=esp_b.organisation_id)
    operator = bearer(Role.operator, [Scope.sla_all])
    window = {"channel": "api", "from": first.isoformat(), "to": today.isoformat()}

    answer = await client.get("/api/v1/sla/report", params=window, headers=headers_a)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    mandate_start = today - timedelta(days=10)
    expected = await independent_counts(
        database, [x], mandate_start, today, datetime.now(UTC), 3, lambda e, d: True
    )
    total = body["total"]
    assert {k: total[k] for k in expected} == expected
    assert total["pending"] == 1
    assert total["on_time"] == 2
    assert body["organisation_id"] == esp_a.organisation_id
    assert body["target"] == {"days": 3, "share": 0.95}
    assert total["met"] is False
    assert 0 <= total["share_on_time"] <= 1
    assert body["per_organisation"] == []
    assert body["excluded"] is None

    # The operator: DSO-wide (both EANs, whole period) and per ESP.
    answer = await client.get(
        "/api/v1/sla/report", params={**window, "group_by": "day"}, headers=operator
    )
    assert answer.status_code == 200, answer.text
    dso = answer.json()
    both = await independent_counts(
        database, [x, y], first, today, datetime.now(UTC), 3, lambda e, d: True
    )
    assert {k: dso["total"][k] for k in both} == both
    assert len(dso["groups"]) == 20
    per = {row["organisation_id"]: row for row in dso["per_organisation"]}
    assert per[esp_a.organisation_id]["expected"] == total["expected"]
    assert per[esp_b.organisation_id]["expected"] == 20

    # Late items: A sees X's only, from its mandate on; B never sees X.
    items_a = (await client.get("/api/v1/sla/late-items", params=window, headers=headers_a)).json()[
        "items"
    ]
    assert {item["ean"] for item in items_a} == {x}
    assert min(date.fromisoformat(item["day"]) for item in items_a) >= mandate_start
    statuses = {item["day"]: item["status"] for item in items_a}
    assert statuses.get((today - timedelta(days=8)).isoformat()) == "missing"
    assert statuses.get((today - timedelta(days=5)).isoformat()) == "late"
    assert len(items_a) == expected["late"] + expected["missing"]
    items_b = (await client.get("/api/v1/sla/late-items", params=window, headers=headers_b)).json()[
        "items"
    ]
    assert x not in {item["ean"] for item in items_b}
    assert "missing" in {item["status"] for item in items_b}
    filtered = await client.get(
        "/api/v1/sla/late-items", params={**window, "ean": x}, headers=headers_b
    )
    assert filtered.status_code == 200
    assert filtered.json()["items"] == []
    # Paging through the operator's list gives each item once.
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        params = {**window, "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/sla/late-items", params=params, headers=operator)).json()
        seen += [(item["day"], item["ean"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == both["late"] + both["missing"]

    # Another ESP's figures, DSO-wide scope, a channel without contract: clear 403s.
    other = await client.get(
        "/api/v1/sla/report",
        params={**window, "organisation_id": esp_a.organisation_id},
        headers=headers_b,
    )
    assert other.status_code == 403
    assert "own organisation" in other.json()["detail"]
    nps = await client.get(
        "/api/v1/sla/report", params={**window, "channel": "nps"}, headers=headers_b
    )
    assert nps.status_code == 403
    assert "nps" in nps.json()["detail"]
    token = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": esp_b.client_id,
            "client_secret": esp_b.client_secret,
            "scope": "sla:all",
        },
    )
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_scope"
    forged = bearer(Role.esp, [Scope.sla_all], organisation_id=esp_b.organisation_id)
    assert (
        await client.get("/api/v1/sla/report", params=window, headers=forged)
    ).status_code == 403

    # Bad input.
    for params, needle in (
        ({**window, "channel": "fax"}, "channel"),
        ({**window, "to": (first - timedelta(days=1)).isoformat()}, "after"),
        ({**window, "from": "2020-01-01"}, "at most"),
    ):
        bad = await client.get("/api/v1/sla/report", params=params, headers=operator)
        assert bad.status_code == 422, params
        assert needle in bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")

    chart = await client.get(
        "/api/v1/sla/chart", params={"channel": "api", "month": f"{today:%Y-%m}"}, headers=headers_a
    )
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in chart.content


async def test_roll_up_job_publishes_a_breach_once_and_gauges(
    app: FastAPI, client: httpx.AsyncClient, two_esps: tuple[Esp, Esp]
) -> None:
    database: Database = app.state.database
    esp_a, _esp_b = two_esps
    ean = await put_point(app)
    await add_mandate(app, esp_a, ean, date(2024, 2, 1), date(2030, 1, 1))
    await ingest(
        app, [row for d in days(date(2024, 2, 1), date(2024, 2, 10)) for row in day_rows(ean, d)]
    )
    now = datetime(2024, 3, 20, 12, tzinfo=UTC)
    for _ in range(2):  # twice: the second run finds nothing new to tell
        async with database.write_sessions() as session:
            rolled = await sla_service.roll_up(session, app.state.settings, now)
            await session.commit()
    assert date(2024, 2, 5) in rolled or rolled == []
    async with database.read_sessions() as session:
        events = (
            await session.execute(
                text(
                    "SELECT organisation_id, type, payload FROM events WHERE type = 'sla.breached'"
                )
            )
        ).all()
    assert len(events) == 1
    organisation_id, _, payload = events[0]
    assert organisation_id == esp_a.organisation_id
    assert payload["channel"] == "api"
    assert payload["month"] == "2024-02"
    assert payload["share_on_time"] == 0.0
    assert payload["missing"] == 19

    metrics = await client.get("/metrics")
    assert 'datahub_sla_target_share{channel="api"} 0.95' in metrics.text
