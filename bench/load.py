"""Load and soak: a realistic mix against one uvicorn process, on loopback only.

Runs on the demo world loaded by ``storage_bytes_per_value``: its ESP A's backend and a
head-end hammer the service for ``FULL_SECONDS`` (60 s; ``SMALL_SECONDS`` with ``--small``)
with ``USERS`` concurrent httpx clients, each picking, in proportion to its weight:

* ``poll``: ``GET /api/v1/mandates`` with ``If-None-Match`` (the ETag of its last answer),
  as an ESP backend polls for new consent (mostly 304);
* ``day``: one EAN-day of quarter-hours as JSON;
* ``month``: one EAN-month as CSV (streamed);
* ``changes``: ``GET /api/v1/meter-data/changes?after=<its cursor>``, the incremental sync;
* ``ingest``: a head-end batch (a day of quarter-hours for ``INGEST_EANS`` access points of
  their own, a new day each time, so every batch writes).

Figures: ``load_error_rate`` (answers other than 200/304, and transport errors, over all
requests; target 0), ``load_rss_growth`` (the server's resident memory at the end over the
level after the warm-up, ``WARM_UP_SHARE`` of the run; target under 10 %) and
``load_p99_<route>_ms`` per route, against a limit measured in the same run: what queueing
predicts for a server that runs one request at a time, from the unloaded p50 of every route
(one client, nothing else running): the route's own unloaded p50 plus ln(100) (a queue's
p99 over its mean) times ``USERS`` times the mix's weighted mean unloaded p50. A p99 over it
means a stall beyond CPU sharing: lock waits, a starved connection pool, a blocked loop.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import psutil

from bench.figures import Figure
from bench.server import free_port, serve
from datahub_api.access_points.ean import make_ean
from datahub_api.auth import service as auth_service
from datahub_api.auth.principal import Role
from datahub_api.brussels_days import BRUSSELS
from datahub_api.db import Database
from datahub_api.meter_data.blocks import expected_slots, slot_start
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.ingest_parser import FIELDS

from .meter_data_reads import readable_eans

FULL_SECONDS = 60.0
SMALL_SECONDS = 8.0
USERS = 8
WARM_UP_SHARE = 0.2
INGEST_EANS = 5
WEIGHTS = {"poll": 40, "day": 25, "month": 5, "changes": 20, "ingest": 10}
BASELINE_CALLS = 7
# The p99 of a queue's waiting time is ln(100) = 4.6 times its mean (exponential tail).
P99_OVER_MEAN = math.log(100)
RSS_GROWTH_LIMIT = 0.10


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    baseline: dict[str, float] = field(default_factory=dict)  # unloaded p50 per route, s

    def record(self, route: str, seconds: float, ok: bool, what: str) -> None:
        self.latencies[route].append(seconds)
        if not ok:
            self.errors[route] += 1
            if len(self.samples) < 5:
                self.samples.append(f"{route}: {what}")


@dataclass
class User:
    """One ESP backend's state: its last ETag and its change-feed cursor."""

    etag: str | None = None
    cursor: str | None = None


class Mix:
    def __init__(
        self,
        client: httpx.AsyncClient,
        esp: dict[str, str],
        head_end: dict[str, str],
        eans: list[str],
        window: tuple[date, date],
        ingest_points: list[tuple[str, str]],
    ) -> None:
        self.client = client
        self.esp = esp
        self.head_end = head_end
        self.eans = eans
        self.first, self.end = window
        self.ingest_points = ingest_points
        self.next_ingest_day = date(2020, 1, 2)  # the points are metered since 2020
        self.rng = random.Random(7)

    def _day(self) -> date:
        span = (self.end - self.first).days - 1
        return self.first + timedelta(days=self.rng.randrange(max(span, 1)))

    async def poll(self, user: User) -> httpx.Response:
        headers = dict(self.esp)
        if user.etag:
            headers["If-None-Match"] = user.etag
        response = await self.client.get("/api/v1/mandates", headers=headers)
        user.etag = response.headers.get("etag", user.etag)
        return response

    async def day(self, user: User) -> httpx.Response:
        day = self._day()
        params = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
        ean = self.rng.choice(self.eans)
        return await self.client.get(
            f"/api/v1/access-points/{ean}/meter-data", params=params, headers=self.esp
        )

    async def month(self, user: User) -> httpx.Response:
        start = max(self.first, self._day() - timedelta(days=30))
        params = {
            "from": start.isoformat(),
            "to": (start + timedelta(days=30)).isoformat(),
            "format": "csv",
        }
        ean = self.rng.choice(self.eans)
        async with self.client.stream(
            "GET", f"/api/v1/access-points/{ean}/meter-data", params=params, headers=self.esp
        ) as response:
            async for _ in response.aiter_bytes():
                pass
        return response

    async def changes(self, user: User) -> httpx.Response:
        params = {"limit": "200"}
        if user.cursor:
            params["after"] = user.cursor
        response = await self.client.get(
            "/api/v1/meter-data/changes", params=params, headers=self.esp
        )
        if response.status_code == 200:
            user.cursor = response.json().get("next_cursor") or user.cursor
        return response

    async def ingest(self, user: User) -> httpx.Response:
        day = self.next_ingest_day
        self.next_ingest_day += timedelta(days=1)
        starts = [
            slot_start(day, Granularity.PT15M, slot).astimezone(BRUSSELS).isoformat()
            for slot in range(expected_slots(day, Granularity.PT15M))
        ]
        lines = [",".join(FIELDS)]
        for ean, meter in self.ingest_points:
            lines.extend(
                f"{ean},{meter},offtake,total,{start},PT15M,{self.rng.randint(20, 900) / 1000},"
                "kWh,READ"
                for start in starts
            )
        return await self.client.post(
            "/api/v1/ingest/meter-readings",
            content=("\n".join(lines) + "\n").encode(),
            headers={**self.head_end, "Content-Type": "text/csv"},
        )


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def unloaded_p50(mix: Mix) -> dict[str, float]:
    """Each route's p50 with one client and nothing else running (after one warm-up call):
    what its p99 under load is measured against."""
    found = {}
    for route in WEIGHTS:
        user = User()
        seconds = []
        for n in range(BASELINE_CALLS + 1):
            began = time.perf_counter()
            response = await getattr(mix, route)(user)
            if response.status_code not in (200, 304):
                raise RuntimeError(f"{route}: {response.status_code} {response.text[:300]}")
            if n:
                seconds.append(time.perf_counter() - began)
        found[route] = statistics.median(seconds)
    return found


async def drive(
    base_url: str, server_pid: int, mix_of: Callable[[httpx.AsyncClient], Awaitable[Mix]],
    seconds: float,
) -> tuple[Tally, float, float, int]:  # fmt: skip
    """Run the mix; the tally, RSS after the warm-up and at the end, and requests made."""
    assert base_url.startswith("http://127.0.0.1:"), "the load runs on loopback only"
    process = psutil.Process(server_pid)
    tally = Tally()
    limits = httpx.Limits(max_connections=USERS * 2, max_keepalive_connections=USERS * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        mix = await mix_of(client)
        baseline = await unloaded_p50(mix)
        routes = list(WEIGHTS)
        weights = [WEIGHTS[r] for r in routes]
        started = time.monotonic()
        deadline = started + seconds
        warm_until = started + seconds * WARM_UP_SHARE
        warm_rss: list[float] = []

        async def user_loop(n: int) -> None:
            user = User()
            rng = random.Random(n)
            while time.monotonic() < deadline:
                route = rng.choices(routes, weights)[0]
                began = time.perf_counter()
                try:
                    response = await getattr(mix, route)(user)
                    ok = response.status_code in (200, 304)
                    what = f"{response.status_code} {response.text[:200] if not ok else ''}"
                except httpx.HTTPError as exc:
                    ok, what = False, repr(exc)
                tally.record(route, time.perf_counter() - began, ok, what)

        async def sample_rss() -> None:
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                if not warm_rss and time.monotonic() >= warm_until:
                    warm_rss.append(process.memory_info().rss)

        await asyncio.gather(sample_rss(), *(user_loop(n) for n in range(USERS)))
        end_rss = process.memory_info().rss
    count = sum(len(v) for v in tally.latencies.values())
    tally.baseline = baseline
    return tally, float(warm_rss[0] if warm_rss else end_rss), float(end_rss), count


async def run(
    database: Database,
    url: str,
    data_dir: Path,
    register_points: Callable[[Database, list[tuple[str, str]]], Awaitable[None]],
    *,
    small: bool,
) -> list[Figure]:
    seconds = SMALL_SECONDS if small else FULL_SECONDS
    esp, eans, first, end = await readable_eans(database, data_dir, 60 if not small else 20)
    points = [(make_ean(8_000_000 + n), f"1SAG{8_000_000 + n:010d}") for n in range(INGEST_EANS)]
    await register_points(database, points)
    async with database.write_sessions() as session:
        created = await auth_service.create_client(
            session, name="load head-end", role=Role.head_end, organisation_id=None
        )
        await session.commit()

    async def mix_of(client: httpx.AsyncClient) -> Mix:
        esp_headers = await _token(client, esp["client_id"], esp["client_secret"])
        head_end = await _token(client, created.client.client_id, created.secret)
        return Mix(client, esp_headers, head_end, eans, (first, end), points)

    port = free_port()
    server = serve(url, data_dir, port)
    try:
        tally, warm, final, count = await drive(
            f"http://127.0.0.1:{port}", server.pid, mix_of, seconds
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    errors = sum(tally.errors.values())
    rate = errors / count if count else 1.0
    growth = (final - warm) / warm
    print(
        f"  load: {count} requests in {seconds:.0f} s ({count / seconds:.0f}/s, {USERS} users), "
        f"{errors} errors; RSS {warm / 2**20:.0f} -> {final / 2**20:.0f} MB",
        flush=True,
    )
    for sample in tally.samples:
        print(f"    error: {sample}", flush=True)
    figures = [
        Figure("load_error_rate", round(rate, 5), "share", 0.0, round(rate, 5), 0.0, errors == 0),
        Figure(
            "load_rss_growth", round(growth, 4), "share", RSS_GROWTH_LIMIT,
            round(growth / RSS_GROWTH_LIMIT, 3), 1.0, growth < RSS_GROWTH_LIMIT,
        ),
    ]  # fmt: skip
    # The mix's mean cost of a request, unloaded: with every user busy, a request waits
    # for about USERS of them on a server that runs one at a time.
    mean_service_ms = (
        sum(WEIGHTS[r] * tally.baseline[r] for r in WEIGHTS) / sum(WEIGHTS.values()) * 1000
    )
    for route in WEIGHTS:
        latencies = tally.latencies.get(route, [])
        p99_ms = _p99(latencies) * 1000
        unloaded_ms = tally.baseline[route] * 1000
        limit = round(unloaded_ms + P99_OVER_MEAN * USERS * mean_service_ms, 1)
        print(
            f"    {route:8} {len(latencies):6} requests, p50 "
            f"{(statistics.median(latencies) * 1000 if latencies else 0):7.1f} ms, "
            f"p99 {p99_ms:7.1f} ms (unloaded p50 {unloaded_ms:.1f} ms)",
            flush=True,
        )
        figures.append(
            Figure(
                f"load_p99_{route}_ms", round(p99_ms, 1), "ms p99", limit,
                round(p99_ms / limit, 3), 1.0, bool(latencies) and p99_ms <= limit,
            )
        )  # fmt: skip
    return figures
