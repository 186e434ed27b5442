"""The SLA tracker: when an EAN-day counts as delivered, the roll-ups, the report and its
late items, who sees which figures, the breach event and the bad input.

Deliveries happen at the database's clock (the test's "now"), so days long past are late
and yesterday's are on time; the report's own ``now`` decides pending vs missing. Every
count is checked against one made here from the raw day blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.contracts.models import Channel
from datahub_api.db import Database
from datahub_api.meter_data.blocks import unpack_slots, unpack_states
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import ValidationState
from datahub_api.sla import repository
from datahub_api.sla import service as sla_service
from datahub_api.sla.figures import Figures
from datahub_api.sla.service import GroupBy, SlaChannel

from ..support.environment import scrape_metrics
from ..support.meter_data import day_rows
from ..support.parties import Esp, make_esp
from ..support.sla_world import (
    GVM_METER,
    add_mandate,
    days,
    gvm_point,
    ingest,
    put_point,
    roll_up,
    roll_up_mandate_changes,
)

OPERATOR = Principal(subject="t", role=Role.operator, scopes=frozenset({Scope.sla_all}))


# --- helpers -----------------------------------------------------------------------------


async def raw_deliveries(
    database: Database, eans: Iterable[str], first: date, end: date
) -> dict[tuple[str, date], tuple[datetime | None, datetime | None]]:
    """Per EAN-day, straight from the raw day blocks and their kept versions: (informative,
    validated) delivery. Informative: the latest ``completed_at`` of its interval blocks when
    every one is complete. Validated: per block, the write time of its first version (current
    or superseded) holding every slot with a ``VAL`` state (decoded here), and the latest of
    those when every block has one."""
    async with database.read_sessions() as session:
        rows = (
            await session.execute(
                text(
                    """
                    SELECT ean, meter_id, direction, register, day, completed_at,
                           last_inserted_at, expected_slots, packed_values, packed_states, true
                    FROM meter_day_blocks
                    WHERE ean = ANY(:eans) AND day >= :first AND day < :end
                      AND granularity IN (1, 2)
                    UNION ALL
                    SELECT ean, meter_id, direction, register, day, completed_at,
                           last_inserted_at, expected_slots, packed_values, packed_states, false
                    FROM meter_day_block_history
                    WHERE ean = ANY(:eans) AND day >= :first AND day < :end
                      AND granularity IN (1, 2)
                    """
                ),
                {"eans": list(eans), "first": first, "end": end},
            )
        ).all()
    completed: dict[tuple[str, date], dict[tuple[Any, ...], datetime | None]] = {}
    validated: dict[tuple[Any, ...], datetime | None] = {}
    for (
        ean,
        meter,
        direction,
        register,
        day,
        done,
        written,
        expected,
        values,
        states,
        current,
    ) in rows:
        block = (ean, meter, direction, register, day)
        if current:
            completed.setdefault((ean, day), {})[block] = done
        slots = unpack_slots(values)
        codes = unpack_states(states, slots)
        all_val = len(slots) == expected and all(
            value >= 0 and code == ValidationState.VAL
            for value, code in zip(slots, codes, strict=True)
        )
        first_val = validated.get(block)
        if all_val and (first_val is None or written < first_val):
            validated[block] = written
        else:
            validated.setdefault(block, first_val)
    found: dict[tuple[str, date], tuple[datetime | None, datetime | None]] = {}
    for key, blocks in completed.items():
        informative = [when for when in blocks.values() if when is not None]
        checked = [when for block in blocks if (when := validated.get(block)) is not None]
        found[key] = (
            max(informative) if len(informative) == len(blocks) else None,
            max(checked) if len(checked) == len(blocks) else None,
        )
    return found


async def independent_counts(
    database: Database,
    eans: Iterable[str],
    first: date,
    end: date,
    now: datetime,
    target_days: int,
    communicating: Callable[[str, date], bool],
    *,
    validated: bool = False,
) -> dict[str, int]:
    """Counts made straight from the raw day blocks (see :func:`raw_deliveries`) of the
    EAN-days for which ``communicating(ean, day)`` holds (the counted ones)."""
    eans = list(eans)
    deliveries = await raw_deliveries(database, eans, first, end)
    counts = {"expected": 0, "on_time": 0, "late": 0, "missing": 0, "pending": 0}
    for ean in eans:
        for day in days(first, end - timedelta(days=1)):
            if not communicating(ean, day):
                continue
            counts["expected"] += 1
            delivered = deliveries.get((ean, day), (None, None))[1 if validated else 0]
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


def as_dict(figures: Figures) -> dict[str, int]:
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

    # An ESP whose API mandate on the late starter begins on the 20th counts from then on.
    esp = await make_esp(app, "SLA mid-month", channels=[Channel.api])
    await add_mandate(app, esp, late_starter, date(2024, 2, 20), date(2030, 1, 1))
    await roll_up_mandate_changes(app)  # the job's next run
    async with database.read_sessions() as session:
        own = await sla_service.report(
            session,
            Principal(
                subject="e", role=Role.esp, scopes=frozenset({Scope.mandates_read}),
                organisation_id=esp.organisation_id,
            ),
            app.state.settings, channel=SlaChannel.api, start=FEB_2024[0], end=FEB_2024[1],
            group_by=GroupBy.day, organisation_id=None, now=now,
        )  # fmt: skip
    assert as_dict(own.total) == await independent_counts(
        database, [late_starter], *FEB_2024, now, 3, lambda e, d: d >= date(2024, 2, 20)
    )
    assert own.total.expected == 10
    assert own.total.late == 1  # the 20th; the 21st lacks its injection (missing)
    assert [group.figures.expected for group in own.groups[:19]] == [0] * 19


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

    metrics = await scrape_metrics(app, client)
    assert 'datahub_sla_target_share{channel="api"} 0.95' in metrics.text


# --- validated data (NPS historical) and the NPS channel's GVM headpoints ------------------


async def ean_day(database: Database, ean: str, day: date) -> dict[str, Any]:
    async with database.read_sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT streams, complete_streams, validated_streams, delivered_at, "
                    "validated_at, counted, gvm_headpoint FROM sla_ean_days "
                    "WHERE ean = :e AND day = :d"
                ),
                {"e": ean, "d": day},
            )
        ).one()
    return dict(row._mapping)


async def test_validated_delivery_dst_gas_leap_day_partial_and_corrections(app: FastAPI) -> None:
    """A day is validated when every slot of every stream first holds a VAL value; read,
    estimated or failed values are not validated; corrections never move the first time."""
    database: Database = app.state.database
    power = await put_point(app)
    gas = await put_point(
        app,
        energy_type="G",
        physical_meters=[{"seq_number": "1", "meter_id": "GAS1", "installed_from": "2024-01-01"}],
    )
    leap = date(2024, 2, 29)
    # Leap day: read first (informative), then validated in two halves.
    await ingest(app, day_rows(power, leap))
    await ingest(app, day_rows(power, leap, slots=range(48), state="VAL"))
    half = await ean_day(database, power, leap)
    assert half["delivered_at"] is not None
    assert half["validated_at"] is None
    await ingest(app, day_rows(power, leap, slots=range(48, 96), state="VAL"))
    done = await ean_day(database, power, leap)
    assert done["validated_at"] is not None
    assert done["validated_at"] > done["delivered_at"]
    # Validated at once: validated when delivered.
    day = date(2024, 2, 27)
    await ingest(app, day_rows(power, day, state="VAL"))
    at_once = await ean_day(database, power, day)
    assert at_once["validated_at"] == at_once["delivered_at"] is not None
    # A correction to an estimate and back to validated: the first time stays.
    day = date(2024, 2, 25)
    await ingest(app, day_rows(power, day, state="VAL"))
    first = await ean_day(database, power, day)
    await ingest(app, day_rows(power, day, slots=[7], value="0.5", state="EST"))
    await ingest(app, day_rows(power, day, slots=[7], value="0.6", state="VAL"))
    again = await ean_day(database, power, day)
    assert again["validated_at"] == first["validated_at"] is not None
    assert again["validated_streams"] == 1
    async with database.read_sessions() as session:
        block_validated = await session.scalar(
            text(
                "SELECT validated_at FROM meter_day_blocks WHERE ean = :e AND day = :d "
                "AND granularity = 1"
            ),
            {"e": power, "d": day},
        )
    assert block_validated == first["validated_at"]
    # Not validated: one estimated slot, failed validation, read values.
    mixed = [
        *day_rows(power, date(2024, 2, 24), slots=range(95), state="VAL"),
        *day_rows(power, date(2024, 2, 24), slots=[95], state="EST"),
        *day_rows(power, date(2024, 2, 23), state="NVAL"),
        *day_rows(power, date(2024, 2, 22)),
    ]
    await ingest(app, mixed)
    for day in (date(2024, 2, 22), date(2024, 2, 23), date(2024, 2, 24)):
        row = await ean_day(database, power, day)
        assert row["delivered_at"] is not None
        assert (row["validated_streams"], row["validated_at"]) == (0, None)
    # Offtake validated, injection only read: the day is not validated.
    day = date(2024, 2, 21)
    await ingest(
        app,
        [*day_rows(power, day, state="VAL"), *day_rows(power, day, direction="injection")],
    )
    two = await ean_day(database, power, day)
    assert (two["streams"], two["validated_streams"], two["validated_at"]) == (2, 1, None)
    assert two["delivered_at"] is not None
    # DST days, quarter-hours 92/100 and gas hours 23/25, all validated; a day one slot short.
    rows = []
    for day in (date(2025, 3, 30), date(2025, 10, 26)):
        rows += day_rows(power, day, state="VAL")
        rows += day_rows(
            gas, day, meter_id="GAS1", granularity=Granularity.PT1H, unit="m3", state="VAL"
        )
    rows += day_rows(power, date(2025, 10, 27), slots=range(95), state="VAL")
    rows += day_rows(
        gas, date(2025, 10, 27), meter_id="GAS1", granularity=Granularity.PT1H, unit="m3",
        slots=range(23), state="VAL",
    )  # fmt: skip
    await ingest(app, rows)
    for ean in (power, gas):
        for day in (date(2025, 3, 30), date(2025, 10, 26)):
            assert (await ean_day(database, ean, day))["validated_at"] is not None
        assert (await ean_day(database, ean, date(2025, 10, 27)))["validated_at"] is None

    # Rebuilding the EAN-days from the blocks (bulk loads, the demo) gives the same times.
    tracked_query = text(
        "SELECT ean, day, streams, complete_streams, validated_streams, delivered_at, "
        "validated_at FROM sla_ean_days ORDER BY ean, day"
    )
    async with database.read_sessions() as session:
        tracked = (await session.execute(tracked_query)).all()
    async with database.write_sessions() as session:
        await repository.rebuild_from_blocks(session, date(2024, 1, 1), date(2026, 1, 1))
        await session.commit()
    async with database.read_sessions() as session:
        assert (await session.execute(tracked_query)).all() == tracked

    # The roll-up and the DSO-wide validated report agree with the raw blocks.
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await roll_up(app, days(*FEB_2024)[:-1], now)
    async with database.read_sessions() as session:
        validated = await repository.rolled_up_days(session, *FEB_2024, "validated")
        informative = await repository.rolled_up_days(session, *FEB_2024)
    settings = app.state.settings
    expected = await independent_counts(
        database, [power, gas], *FEB_2024, now, 15, lambda e, d: True, validated=True
    )
    figures = sla_service.figures_of(validated, settings.sla_targets["nps_historical"], now)
    assert as_dict(figures) == expected
    assert expected["late"] == 3  # the 25th, 27th and 29th, validated years later
    assert expected["missing"] == 29 * 2 - 3
    informed = sla_service.figures_of(informative, settings.sla_targets["nps"], now)
    assert as_dict(informed) == await independent_counts(
        database, [power, gas], *FEB_2024, now, 5, lambda e, d: True
    )
    assert informed.late == 7  # every day with data: the 21st-25th, 27th and 29th


async def test_nps_gvm_headpoints_validated_line_and_mandates_starting_mid_month(
    app: FastAPI,
) -> None:
    """On the NPS channel a GVM headpoint with a meter counts; an ESP counts only the days
    of its NPS mandates (one starting mid-month), for informative and validated data."""
    database: Database = app.state.database
    esp_a = await make_esp(app, "NPS A")
    esp_b = await make_esp(app, "NPS B", channels=[Channel.nps])
    gvm = await put_point(app, **gvm_point())
    # A GVM meter installed mid-month: its days count from the 10th.
    new_gvm = await put_point(app, **gvm_point("2024-02-10"))
    await add_mandate(app, esp_a, gvm, date(2024, 2, 15), date(2030, 1, 1), "nps")
    await add_mandate(app, esp_a, new_gvm, date(2024, 2, 1), date(2030, 1, 1), "nps")
    # B's mandate ends mid-month (data_period_to is the start of the 20th: exclusive).
    await add_mandate(app, esp_b, gvm, date(2024, 1, 1), date(2024, 2, 20), "nps")
    # An API mandate of A on the same EAN does not widen its NPS days.
    await add_mandate(app, esp_a, gvm, date(2024, 2, 1), date(2030, 1, 1), "api")
    rows = []
    for day in days(date(2024, 2, 1), date(2024, 2, 29)):
        if day.day % 3 == 0:
            continue  # never arrives
        rows += day_rows(gvm, day, meter_id=GVM_METER, state="VAL" if day.day % 2 else "READ")
    for day in days(date(2024, 2, 12), date(2024, 2, 20)):
        rows += day_rows(new_gvm, day, meter_id=GVM_METER, state="VAL")
    await ingest(app, rows)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await roll_up(app, days(*FEB_2024)[:-1], now)
    first_day = await ean_day(database, new_gvm, date(2024, 2, 12))
    assert (first_day["counted"], first_day["gvm_headpoint"]) == (False, True)

    def of_a(ean: str, day: date) -> bool:
        return day >= (date(2024, 2, 15) if ean == gvm else date(2024, 2, 10))

    def installed(ean: str, day: date) -> bool:
        return ean == gvm or day >= date(2024, 2, 10)

    settings = app.state.settings
    async with database.read_sessions() as session:
        reports = {
            (channel, who): await sla_service.report(
                session,
                principal,
                settings,
                channel=channel,
                start=FEB_2024[0],
                end=FEB_2024[1],
                group_by=GroupBy.month,
                organisation_id=None,
                now=now,
            )
            for channel in (SlaChannel.nps, SlaChannel.nps_historical, SlaChannel.api)
            for who, principal in (
                ("a", esp_principal(esp_a)),
                ("operator", OPERATOR),
            )
        }
    for channel, target_days in ((SlaChannel.nps, 5), (SlaChannel.nps_historical, 15)):
        validated = channel is SlaChannel.nps_historical
        mine = await independent_counts(
            database, [gvm, new_gvm], *FEB_2024, now, target_days, of_a, validated=validated
        )
        assert as_dict(reports[(channel, "a")].total) == mine, channel
        assert mine["expected"] == 15 + 20
        everyone = await independent_counts(
            database, [gvm, new_gvm], *FEB_2024, now, target_days, installed, validated=validated
        )
        dso = reports[(channel, "operator")]
        assert as_dict(dso.total) == everyone, channel
        assert everyone["expected"] == 29 + 20
        assert dso.exclusions is None
        per = {org: as_dict(figures) for org, figures in dso.per_organisation.items()}
        assert per[esp_a.organisation_id] == mine
        assert per[esp_b.organisation_id] == await independent_counts(
            database, [gvm], *FEB_2024, now, target_days, lambda e, d: d < date(2024, 2, 20),
            validated=validated,
        )  # fmt: skip
        assert per[esp_b.organisation_id]["expected"] == 19
    assert (
        reports[(SlaChannel.nps_historical, "a")].total.late
        < reports[(SlaChannel.nps, "a")].total.late
    )  # read-only days are delivered but never validated
    # The API channel counts communicating digital meters only: GVM days are excluded.
    api = reports[(SlaChannel.api, "operator")]
    assert api.total.expected == 0
    assert api.exclusions is not None
    assert api.exclusions.no_digital_meter == 29 + 20

    # The month is under target on both NPS levels: one sla.breached event for each.
    async with database.write_sessions() as session:
        await sla_service.publish_breaches(session, settings, [FEB_2024[0]], now)
        await session.commit()
    async with database.read_sessions() as session:
        payloads = (
            await session.scalars(
                text(
                    "SELECT payload FROM events WHERE type = 'sla.breached' "
                    "AND organisation_id = :org"
                ),
                {"org": esp_a.organisation_id},
            )
        ).all()
    by_channel = {payload["channel"]: payload for payload in payloads}
    assert set(by_channel) == {"nps", "nps_historical"}
    assert by_channel["nps_historical"]["data"] == "validated"
    assert by_channel["nps_historical"]["target_days"] == 15
    assert by_channel["nps"]["data"] == "informative"


def esp_principal(esp: Esp) -> Principal:
    return Principal(
        subject="esp",
        role=Role.esp,
        scopes=frozenset({Scope.nps, Scope.mandates_read}),
        organisation_id=esp.organisation_id,
    )


async def test_nps_historical_routes_pending_missing_late_items_chart_and_gauges(
    app: FastAPI,
    client: httpx.AsyncClient,
    bearer: Callable[..., dict[str, str]],
    two_esps: tuple[Esp, Esp],
) -> None:
    database: Database = app.state.database
    esp_a, esp_b = two_esps  # B has an API contract only
    today = today_in_brussels()
    first = today - timedelta(days=30)
    gvm = await put_point(app, **gvm_point())
    mandate_start = first + timedelta(days=3)
    await add_mandate(app, esp_a, gvm, mandate_start, today + timedelta(days=365), "nps")
    read_only = {today - timedelta(days=25), today - timedelta(days=5)}
    rows = []
    for day in days(first, today - timedelta(days=2)):
        rows += day_rows(gvm, day, meter_id=GVM_METER, state="READ" if day in read_only else "VAL")
    await ingest(app, rows)
    await roll_up(app, days(first, today - timedelta(days=1)), datetime.now(UTC))

    headers_a = bearer(Role.esp, [Scope.nps], organisation_id=esp_a.organisation_id)
    headers_b = bearer(Role.esp, [Scope.mandates_read], organisation_id=esp_b.organisation_id)
    operator = bearer(Role.operator, [Scope.sla_all])
    window = {"channel": "nps_historical", "from": first.isoformat(), "to": today.isoformat()}
    answer = await client.get("/api/v1/sla/report", params=window, headers=headers_a)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["channel"] == "nps_historical"
    assert body["target"] == {"days": 15, "share": 0.95}
    expected = await independent_counts(
        database, [gvm], mandate_start, today, datetime.now(UTC), 15, lambda e, d: True,
        validated=True,
    )  # fmt: skip
    total = body["total"]
    assert {k: total[k] for k in expected} == expected
    # Validated now: days over 15 days old are late, younger ones on time; the read-only day
    # 25 days back is missing, the one 5 days back and yesterday pending.
    assert expected["missing"] == 1
    assert expected["pending"] == 2
    assert expected["late"] >= 1
    assert expected["on_time"] >= 10
    informative = (
        await client.get(
            "/api/v1/sla/report", params={**window, "channel": "nps"}, headers=headers_a
        )
    ).json()
    assert informative["target"] == {"days": 5, "share": 0.95}
    assert informative["total"]["missing"] == 0  # the read-only days are delivered
    assert informative["total"]["expected"] == total["expected"]

    items = (await client.get("/api/v1/sla/late-items", params=window, headers=headers_a)).json()[
        "items"
    ]
    statuses = {item["day"]: item["status"] for item in items}
    assert statuses[(today - timedelta(days=25)).isoformat()] == "missing"
    assert len(items) == expected["late"] + expected["missing"]
    assert min(date.fromisoformat(item["day"]) for item in items) >= mandate_start
    late = next(item for item in items if item["status"] == "late")
    assert datetime.fromisoformat(late["deadline"]) - datetime.fromisoformat(
        late["foreseen_at"]
    ) == timedelta(days=15)
    dso_items = (
        await client.get("/api/v1/sla/late-items", params=window, headers=operator)
    ).json()["items"]
    assert {item["ean"] for item in dso_items} == {gvm}
    assert len(dso_items) >= len(items)  # the operator also sees the days before A's mandate

    # No NPS contract: a clear 403; bad channel: 422 naming the choices.
    refused = await client.get("/api/v1/sla/report", params=window, headers=headers_b)
    assert refused.status_code == 403
    assert "nps" in refused.json()["detail"]
    bad = await client.get(
        "/api/v1/sla/report", params={**window, "channel": "nps_validated"}, headers=operator
    )
    assert bad.status_code == 422
    assert "nps_historical" in bad.text

    chart = await client.get(
        "/api/v1/sla/chart",
        params={"channel": "nps_historical", "month": f"{today:%Y-%m}"},
        headers=headers_a,
    )
    assert chart.status_code == 200, chart.text
    assert b"validated data" in chart.content

    metrics = await scrape_metrics(app, client)
    assert 'datahub_sla_target_share{channel="nps_historical"} 0.95' in metrics.text
    assert 'datahub_sla_share_on_time{channel="nps_historical"}' in metrics.text
