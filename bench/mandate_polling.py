"""Mandate polling with 10 000 mandates of one ESP (issue 4), on a server in another process.

* ``poll_304_vs_healthz``: requests per second of ``GET /api/v1/mandates`` with a current
  ``If-None-Match`` (a 304 each time) over those of ``/healthz``, on the same server in the
  same run, each the median of interleaved rounds; target 0.5 or more.
* ``mandates_page_1000_p50_ms``: median time of one 1 000-mandate page of
  ``/api/v1/mandates`` (every page of the 10 000 in turn); limit 50 ms.
* ``v3_mandates_all_p50_ms``: median time of ``GET /v3/api/mandate`` answering all
  10 000; limit 300 ms.

The load generator is a bare HTTP/1.1 keep-alive client on asyncio streams (a fraction of
the server's cost per request, so the server is what is measured), in this process; the
server is uvicorn in another. ``python -m bench`` runs this after its own figures;
``python -m bench.mandate_polling [--small]`` runs it alone on a fresh database. The small
size (500 mandates, pages of 100, short rounds) only checks that it all works.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.esp import BenchEsp, add_api_esp
from bench.figures import Figure
from bench.server import free_port, serve
from datahub_api.access_points import service as access_points_service
from datahub_api.access_points.ean import make_ean
from datahub_api.access_points.schemas import AccessPointBody
from datahub_api.contracts.models import Channel
from datahub_api.db import Database
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.models import DataServiceType, MandateSource, MandateStatus


@dataclass(frozen=True)
class Sizes:
    mandates: int
    page: int
    rounds: int  # interleaved throughput rounds of each route
    round_seconds: float
    connections: int
    page_samples: int
    v3_samples: int


FULL = Sizes(
    mandates=10_000,
    page=1_000,
    rounds=7,
    round_seconds=2.0,
    connections=8,
    page_samples=50,
    v3_samples=25,
)
SMALL = Sizes(
    mandates=500,
    page=100,
    rounds=3,
    round_seconds=0.3,
    connections=4,
    page_samples=10,
    v3_samples=5,
)
EAN_BASE = 7_000_000


# --- the ESP and its mandates --------------------------------------------------------


async def make_esp(database: Database) -> BenchEsp:
    async with database.write_sessions() as session:
        esp = await add_api_esp(session, "Polling Bench ESP", 4_242_424)
        await session.commit()
    return esp


async def load_mandates(database: Database, esp: BenchEsp, count: int) -> None:
    """``count`` access points with one mandate each, in every status a real ESP has."""
    eans = [make_ean(EAN_BASE + n) for n in range(count)]
    rows = [
        access_points_service.AccessPointRow(
            line,
            AccessPointBody.model_validate(
                {
                    "ean": ean,
                    "energy_type": "E" if line % 5 else "G",
                    "meter_type": "DM",
                    "physical_meters": [
                        {
                            "seq_number": "1",
                            "meter_id": f"1SAG{line:010d}",
                            "installed_from": "2020-01-01",
                        }
                    ],
                    "communication_periods": [{"valid_from": "2020-01-01"}],
                }
            ),
        )
        for line, ean in enumerate(eans, start=1)
    ]
    now = datetime.now(UTC).replace(microsecond=0)
    statuses = [MandateStatus.approved] * 7 + [
        MandateStatus.requested,
        MandateStatus.rejected,
        MandateStatus.finished,
    ]
    services = [DataServiceType.quarter_hourly, DataServiceType.daily]
    mandates = []
    for n, ean in enumerate(eans):
        start = now - timedelta(days=n % 700)
        mandates.append(
            {
                "organisation_id": esp.organisation_id,
                "ean": ean,
                "reference_number": f"BENCH-{n:06d}",
                "channel": Channel.api.value,
                "energy_type": "E" if (n + 1) % 5 else "G",
                "data_service_type": services[n % 2],
                "data_period_from": start,
                "data_period_to": start + timedelta(days=730),
                "expiration_date": start + timedelta(days=730),
                "status": statuses[n % len(statuses)],
                "source": MandateSource.sandbox,
                "version": 1,
            }
        )
    async with database.write_sessions() as session:
        await access_points_service.store_access_points(session, rows)
        await mandates_repository.insert_many(session, mandates, actor="bench")
        await mandates_repository.bump_organisation_version(session, esp.organisation_id)
        await session.commit()


# --- the server ----------------------------------------------------------------------


# --- a bare keep-alive client --------------------------------------------------------


def raw_request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _one_connection(
    port: int, request: bytes, status: int, deadline: float, counts: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    expected = f"HTTP/1.1 {status} ".encode()
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(expected):
                raise RuntimeError(f"expected {status}, got {head[:200]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            counts.append(1)
    finally:
        writer.close()


async def requests_per_second(
    port: int, request: bytes, status: int, seconds: float, connections: int
) -> float:
    counts: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_one_connection(port, request, status, deadline, counts) for _ in range(connections))
    )
    return len(counts) / (time.perf_counter() - started)


async def median_ms(client: httpx.AsyncClient, paths: list[str], headers: dict[str, str]) -> float:
    timings = []
    for path in paths:
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        timings.append(elapsed * 1000)
    return statistics.median(timings)


# --- the figures ---------------------------------------------------------------------


async def run(database: Database, url: str, data_dir: Path, *, small: bool) -> list[Figure]:
    sizes = SMALL if small else FULL
    esp = await make_esp(database)
    started = time.perf_counter()
    await load_mandates(database, esp, sizes.mandates)
    print(
        f"  loaded {sizes.mandates} mandates in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    port = free_port()
    server = serve(url, data_dir, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            token = await client.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": esp.client_id,
                    "client_secret": esp.client_secret,
                },
            )
            token.raise_for_status()
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            return await _measure(client, port, bearer, sizes)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _measure(
    client: httpx.AsyncClient, port: int, bearer: dict[str, str], sizes: Sizes
) -> list[Figure]:
    # Every page, in cursor order: the page figure's sample paths, and a check of the load.
    pages = []
    cursor = None
    seen = 0
    while True:
        path = f"/api/v1/mandates?limit={sizes.page}" + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(path, headers=bearer)).raise_for_status().json()
        pages.append(path)
        seen += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    if seen != sizes.mandates:
        raise RuntimeError(f"expected {sizes.mandates} mandates, listed {seen}")
    etag = (await client.get("/api/v1/mandates", headers=bearer)).headers["etag"]

    healthz = raw_request("/healthz", {})
    poll = raw_request("/api/v1/mandates", {**bearer, "If-None-Match": etag})
    await requests_per_second(port, healthz, 200, sizes.round_seconds / 2, sizes.connections)
    await requests_per_second(port, poll, 304, sizes.round_seconds / 2, sizes.connections)
    health_rates, poll_rates = [], []
    for _ in range(sizes.rounds):
        health_rates.append(
            await requests_per_second(port, healthz, 200, sizes.round_seconds, sizes.connections)
        )
        poll_rates.append(
            await requests_per_second(port, poll, 304, sizes.round_seconds, sizes.connections)
        )
    health_rate, poll_rate = statistics.median(health_rates), statistics.median(poll_rates)
    ratio = poll_rate / health_rate
    print(
        f"  /healthz {health_rate:,.0f} requests/s, 304 polls {poll_rate:,.0f} requests/s "
        f"(medians of {sizes.rounds} rounds of {sizes.round_seconds} s, "
        f"{sizes.connections} connections)",
        flush=True,
    )

    page_paths = [pages[n % len(pages)] for n in range(sizes.page_samples)]
    page_ms = await median_ms(client, page_paths, bearer)
    v3_paths = ["/v3/api/mandate"] * sizes.v3_samples
    v3 = (await client.get("/v3/api/mandate", headers=bearer)).raise_for_status().json()
    api_mandates = len(v3["data"]["mandates"])
    if api_mandates != sizes.mandates:
        raise RuntimeError(f"expected {sizes.mandates} mandates on /v3, got {api_mandates}")
    v3_ms = await median_ms(client, v3_paths, bearer)
    return [
        Figure(
            "poll_304_vs_healthz", round(poll_rate), "requests/s", round(health_rate),
            round(ratio, 3), 0.5, ratio >= 0.5,
        ),
        Figure(
            f"mandates_page_{FULL.page}_p50_ms", round(page_ms, 1), "ms", 50,
            round(page_ms / 50, 3), 1.0, page_ms <= 50,
        ),
        Figure(
            "v3_mandates_all_p50_ms", round(v3_ms, 1), "ms", 300, round(v3_ms / 300, 3), 1.0,
            v3_ms <= 300,
        ),
    ]  # fmt: skip


def main() -> None:
    """Run these figures alone on a fresh benchmark database."""
    from bench.__main__ import BENCH_DIR, _fresh_database
    from datahub_api import embedded_postgres
    from datahub_api.db import create_database, normalize_database_url
    from datahub_api.schema_migrations import upgrade_to_head
    from datahub_api.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m bench.mandate_polling")
    parser.add_argument("--small", action="store_true", help="Small sizes: a smoke test.")
    small = parser.parse_args().small
    embedded = None
    BENCH_DIR.mkdir(exist_ok=True)
    if configured := os.environ.get("DATABASE_URL"):
        server_url = normalize_database_url(configured)
    else:
        embedded = embedded_postgres.start(BENCH_DIR / "pg", database="postgres")
        server_url = embedded.url("postgres")
    data_dir = BENCH_DIR / "data"

    async def measure() -> list[Figure]:
        url = await _fresh_database(server_url)
        await asyncio.to_thread(upgrade_to_head, url)
        database = create_database(url, Settings.model_construct(data_dir=data_dir))
        try:
            return await run(database, url, data_dir, small=small)
        finally:
            await database.dispose()

    try:
        figures = asyncio.run(measure())
    finally:
        if embedded is not None:
            embedded.release()
    for f in figures:
        print(f"{f.name:26} {f.value:>12,} {f.limit:>12,} {f.ratio:>8} {f.target:>8} {f.passed}")


if __name__ == "__main__":
    main()
