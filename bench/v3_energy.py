"""``v3_month_vs_limit``: one EAN-month of quarter-hours through ``GET /v3/api/mandate/energy``.

An ESP with an approved ``api`` contract and a ``VH_kwartier_uur`` mandate reads March 2026
(offtake and injection, 2 x 2972 quarter-hours: the month holds the spring DST day) of a
digital meter from uvicorn in another process, over loopback: token check, rate limit, the
mandate gate, the access record and its commit, the body. The limit is the same body built
in-process from the same blocks: read the blocks, assemble the series, shape and serialise
them with the route's own code (:mod:`datahub_api.fluvius_v3.energy`), no HTTP and no gate.
Both are medians of sequential runs in the same process run; target: at most 3x.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from bench.esp import add_api_esp
from bench.figures import Figure
from bench.server import free_port, serve
from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import make_ean
from datahub_api.access_points.models import AccessPoint
from datahub_api.access_points.schemas import AccessPointFields
from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.brussels_days import BRUSSELS, day_start, days_between
from datahub_api.db import Database
from datahub_api.fluvius_v3 import energy
from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.mandates import service as mandates_service
from datahub_api.mandates.models import DataServiceType
from datahub_api.meter_data import repository
from datahub_api.meter_data import service as meter_data_service
from datahub_api.meter_data.blocks import expected_slots, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import FIELDS, BatchBuilder, CsvReader
from datahub_api.meter_data.reads import Piece
from datahub_api.meter_data.series import ReadWindow, assemble

NAME = "v3_month_vs_limit"
TARGET = 3.0
MONTH = (date(2026, 3, 1), date(2026, 4, 1))
EAN = make_ean(7_000_001)
METER = "1SAG7000000001"


@dataclass(frozen=True)
class Reader:
    client_id: str
    secret: str


def _readings() -> list[str]:
    lines = [",".join(FIELDS)]
    for day in days_between(*MONTH):
        for slot in range(expected_slots(day, Granularity.PT15M)):
            start = slot_start(day, Granularity.PT15M, slot).astimezone(BRUSSELS).isoformat()
            hour = slot // 4
            offtake = 80 + (slot * 37) % 400 + (300 if 17 <= hour < 21 else 0)
            injection = (slot * 53) % 700 if 9 <= hour < 17 else 0
            state = "EST" if slot % 97 == 5 else "READ"
            lines.append(f"{EAN},{METER},offtake,total,{start},PT15M,{offtake / 1000},kWh,{state}")
            lines.append(f"{EAN},{METER},injection,total,{start},PT15M,{injection / 1000},kWh,READ")
    return lines


async def _prepare(database: Database) -> Reader:
    """The access point, its month of quarter-hours, an ESP and its mandate."""
    async with database.write_sessions() as session:
        await access_points_service.put_access_point(
            session,
            EAN,
            AccessPointFields.model_validate(
                {
                    "energy_type": "E",
                    "meter_type": "DM",
                    "physical_meters": [
                        {"seq_number": "1", "meter_id": METER, "installed_from": "2024-01-01"}
                    ],
                    "communication_periods": [{"valid_from": "2024-01-01"}],
                }
            ),
        )
        bench_esp = await add_api_esp(session, "Bench ESP", 7_000_001)
        esp = Principal(
            subject=bench_esp.client_id,
            role=Role.esp,
            scopes=ESP_SCOPES,
            organisation_id=bench_esp.organisation_id,
        )
        await mandates_service.make_sandbox_mandate(
            session,
            esp,
            mandates_service.MockMandate(
                reference_number="bench",
                ean=EAN,
                data_service_type=DataServiceType.quarter_hourly,
                data_period_from=datetime(2025, 1, 1, tzinfo=UTC),
                data_period_to=datetime(2027, 1, 1, tzinfo=UTC),
                status=None,
                expiration=None,
                renewal_status=None,
            ),
        )
        await session.commit()
    builder = BatchBuilder(now=datetime.now(UTC), max_value_per_hour=1e5, max_blocks=10_000)
    CsvReader(builder).feed(_readings())
    async with database.write_sessions() as session:
        await meter_data_service.store_batch(session, builder.batch)
        await session.commit()
    return Reader(bench_esp.client_id, bench_esp.client_secret)


async def _in_process_body(
    database: Database, access_point: AccessPoint, window: ReadWindow
) -> bytes:
    """The route's body without HTTP and gate: the same blocks, shaped and serialised by the
    route's own code (the access point, registry data, is read once beforehand)."""
    async with database.read_sessions() as session:
        blocks = await repository.read_blocks(session, EAN, window.first_day, window.end_day)
    headpoint = energy.HeadpointBuilder(
        access_point,
        energy.meters_in(access_point, (window.first_day, window.end_day)),
        [window.granularity],
        energy.wanted_units(frozenset(v3.ComplexEnergyType), "E"),
        fill_gaps=True,
    )
    headpoint.add(Piece(window, assemble(blocks, window)))
    return energy.energy_json(headpoint.body())


async def _timed(run: Callable[[], Awaitable[bytes]]) -> tuple[float, bytes]:
    started = time.perf_counter()
    body = await run()
    return (time.perf_counter() - started) * 1000, body


def _without_fetch_time(body: bytes) -> bytes:
    return body.split(b',"_meta"', 1)[0]


async def v3_month_vs_limit(
    database: Database,
    url: str,
    data_dir: Path,
    *,
    small: bool,
) -> Figure:
    reader = await _prepare(database)
    window = ReadWindow(day_start(MONTH[0]), day_start(MONTH[1]), Granularity.PT15M)
    params = {
        "ean": EAN,
        "periodType": "readTime",
        "granularity": "hourly_quarterhourly",
        "from": window.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": window.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    times = 5 if small else 41
    async with database.read_sessions() as session:
        access_point = await access_points_service.find_with_meters(session, EAN)
    assert access_point is not None

    async def in_process() -> bytes:
        return await _in_process_body(database, access_point, window)

    port = free_port()
    server = serve(url, data_dir, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            token = await client.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": reader.client_id,
                    "client_secret": reader.secret,
                },
            )
            token.raise_for_status()
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

            async def over_http() -> bytes:
                response = await client.get(
                    "/v3/api/mandate/energy", params=params, headers=headers
                )
                if response.status_code != 200:
                    raise RuntimeError(
                        f"energy read failed: {response.status_code} {response.text}"
                    )
                return response.content

            # Warm up, then alternate the two so that both see the same machine.
            await over_http()
            await in_process()
            route_times, limit_times = [], []
            for _ in range(times):
                route_ms, route_body = await _timed(over_http)
                limit_ms, limit_body = await _timed(in_process)
                route_times.append(route_ms)
                limit_times.append(limit_ms)
    finally:
        server.terminate()
        server.wait(timeout=30)
    route_ms, limit_ms = statistics.median(route_times), statistics.median(limit_times)
    if _without_fetch_time(route_body) != _without_fetch_time(limit_body):
        raise RuntimeError("the route's body differs from the in-process body")
    ratio = route_ms / limit_ms
    slots = window.bucket_count()
    print(
        f"  {slots} quarter-hours x 2 series, {len(route_body) / 1e6:.2f} MB: route p50 "
        f"{route_ms:.1f} ms, in-process p50 {limit_ms:.1f} ms",
        flush=True,
    )
    return Figure(
        NAME, round(route_ms, 2), "ms", round(limit_ms, 2), round(ratio, 3), TARGET,
        ratio <= TARGET,
    )  # fmt: skip


__all__ = ["NAME", "Figure", "v3_month_vs_limit"]
