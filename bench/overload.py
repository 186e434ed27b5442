"""Overload: one API process saturated by one-day reads, without congestion collapse.

Runs on the demo world loaded by ``storage_bytes_per_value`` (ESP A's quarter-hour EANs).
A real server process (``bench/server.py``: uvicorn, default admission settings) answers
``GET /api/v1/access-points/{ean}/meter-data`` for one Brussels day as JSON:

1. unloaded: one client, one request at a time, for ``UNLOADED_SECONDS``;
2. ``LOW`` (16) clients, each sending its next request as soon as it has an answer;
3. ``HIGH`` (256) clients, the same.

Each phase counts only the answers that arrive after its first ``WARM_UP_SECONDS``. A client
shed with 503 waits what ``Retry-After`` says (jittered, as well-behaved clients do) before
its next request. Figures:

* ``overload_throughput_256_vs_16``: 200 answers per second with 256 clients over those with
  16; target 0.9 or more (a saturated node keeps its throughput);
* ``overload_admitted_p99_256_ms``: p99 of the 200 answers with 256 clients, against the
  unloaded p99 measured in the same run; target ``ADMITTED_P99_TARGET`` times it or less.
  A process runs at most ``DATAHUB_MAX_IN_FLIGHT`` (8) requests at once on its one CPU, so
  what it admits takes up to about 8 times its unloaded time; more would be queueing that
  grows with the load (without admission control: 100 to 900 times);
* ``overload_resets``: transport errors (connections reset or refused, timeouts) and answers
  other than 200 and 503, over all phases; target 0.

``python -m bench.overload [--small] [--runs N]`` runs these figures alone (on a fresh
benchmark database with a small demo world) and prints the median of ``N`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import psutil

from bench.figures import Figure
from bench.server import free_port, serve
from datahub_api.db import Database

from .meter_data_reads import readable_eans

LOW = 16
HIGH = 256
FULL_SECONDS = 20.0
SMALL_SECONDS = 4.0
WARM_UP_SECONDS = 2.0
SMALL_WARM_UP_SECONDS = 1.0
UNLOADED_SECONDS = {"full": 10.0, "small": 2.0}
# An admitted request shares the CPU with at most the default DATAHUB_MAX_IN_FLIGHT (4) - 1
# others and waits at most about as long again: twice the limit.
ADMITTED_P99_TARGET = 8.0
THROUGHPUT_TARGET = 0.9


@dataclass
class Phase:
    """What one phase saw, counting only the answers after its warm-up."""

    clients: int
    seconds: float
    served: list[float] = field(default_factory=list)  # latencies of the 200s, s
    shed: list[float] = field(default_factory=list)  # latencies of the 503s, s
    failures: int = 0  # transport errors and other statuses
    cpu_seconds: float = 0.0  # the server's CPU time over the whole phase
    wall_seconds: float = 0.0
    samples: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return len(self.served) / self.seconds

    @property
    def p99_ms(self) -> float:
        return _p99(self.served) * 1000

    def describe(self) -> str:
        shed_p99 = _p99(self.shed) * 1000 if self.shed else 0.0
        return (
            f"{self.clients:4} clients: {self.throughput:6.1f} served/s, p50 "
            f"{statistics.median(self.served) * 1000 if self.served else 0:7.1f} ms, p99 "
            f"{self.p99_ms:7.1f} ms; {len(self.shed) / self.seconds:6.1f} shed/s (p99 "
            f"{shed_p99:.1f} ms); {self.failures} failures; server CPU "
            f"{self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0:.0%}"
        )


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def _token(base_url: str, client_id: str, secret: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class Connection:
    """One kept-alive HTTP/1.1 connection, spoken to directly: a client costs the shared
    CPU next to nothing per request (httpx's connection pool, with 256 connections, cost
    more per request than the server), so the figures are the server's."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str) -> tuple[int, dict[str, str], bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n{self.head}\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise RuntimeError(f"{status} without Content-Length: {headers}")
        body = await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body

    async def close(self) -> None:
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def drive(
    server: psutil.Process,
    base_url: str,
    headers: dict[str, str],
    targets: list[tuple[str, date]],
    clients: int,
    seconds: float,
    warm_up: float,
) -> Phase:
    """``clients`` closed-loop clients, each on its own connection, for ``warm_up`` +
    ``seconds``; what they saw after the warm-up."""
    assert base_url.startswith("http://127.0.0.1:"), "the load runs on loopback only"
    port = int(base_url.rsplit(":", 1)[1])
    phase = Phase(clients, seconds)
    started = time.monotonic()
    cpu_before = sum(server.cpu_times()[:2])
    counted_from, deadline = started + warm_up, started + warm_up + seconds

    async def one_client(n: int) -> None:
        rng = random.Random(n)
        connection = Connection("127.0.0.1", port, headers)
        try:
            while time.monotonic() < deadline:
                ean, day = rng.choice(targets)
                target = (
                    f"/api/v1/access-points/{ean}/meter-data?from={day.isoformat()}"
                    f"&to={(day + timedelta(days=1)).isoformat()}"
                )
                began = time.perf_counter()
                status, what, wait = 0, "", 0.0
                try:
                    status, answer, body = await connection.get(target)
                    if status == 503:
                        wait = float(answer.get("retry-after", "1"))
                    elif status != 200:
                        what = f"{status} {body[:200]!r}"
                except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
                    what = repr(exc)
                    await connection.close()
                elapsed = time.perf_counter() - began
                now = time.monotonic()
                if counted_from <= now <= deadline:
                    if status == 200:
                        phase.served.append(elapsed)
                    elif status == 503:
                        phase.shed.append(elapsed)
                if what:  # failures count whenever they happen
                    phase.failures += 1
                    if len(phase.samples) < 5:
                        phase.samples.append(what)
                if wait:
                    await asyncio.sleep(min(wait * rng.uniform(0.5, 1.5), deadline - now))
        finally:
            await connection.close()

    await asyncio.gather(*(one_client(n) for n in range(clients)))
    phase.cpu_seconds = sum(server.cpu_times()[:2]) - cpu_before
    phase.wall_seconds = time.monotonic() - started
    return phase


async def unloaded(
    server: psutil.Process,
    base_url: str,
    headers: dict[str, str],
    targets: list[tuple[str, date]],
    seconds: float,
) -> Phase:
    return await drive(server, base_url, headers, targets, 1, seconds, warm_up=0.5)


@dataclass(frozen=True)
class Run:
    unloaded: Phase
    low: Phase
    high: Phase
    load_average: float


async def measure(
    server: psutil.Process,
    base_url: str,
    headers: dict[str, str],
    targets: list[tuple[str, date]],
    *,
    small: bool,
) -> Run:
    seconds = SMALL_SECONDS if small else FULL_SECONDS
    warm_up = SMALL_WARM_UP_SECONDS if small else WARM_UP_SECONDS
    idle_seconds = UNLOADED_SECONDS["small" if small else "full"]
    idle = await unloaded(server, base_url, headers, targets, idle_seconds)
    low = await drive(server, base_url, headers, targets, LOW, seconds, warm_up)
    high = await drive(server, base_url, headers, targets, HIGH, seconds, warm_up)
    return Run(idle, low, high, os.getloadavg()[0])


def figures(run: Run) -> list[Figure]:
    ratio = run.high.throughput / run.low.throughput if run.low.throughput else 0.0
    unloaded_ms = run.unloaded.p99_ms
    p99_ratio = run.high.p99_ms / unloaded_ms if unloaded_ms else float("inf")
    failures = run.unloaded.failures + run.low.failures + run.high.failures
    return [
        Figure(
            f"overload_throughput_{HIGH}_vs_{LOW}", round(run.high.throughput, 1), "req/s",
            round(run.low.throughput, 1), round(ratio, 3), THROUGHPUT_TARGET,
            ratio >= THROUGHPUT_TARGET,
        ),
        Figure(
            f"overload_admitted_p99_{HIGH}_ms", round(run.high.p99_ms, 1), "ms p99",
            round(unloaded_ms, 1), round(p99_ratio, 2), ADMITTED_P99_TARGET,
            bool(run.high.served) and p99_ratio <= ADMITTED_P99_TARGET,
        ),
        Figure("overload_resets", failures, "count", 0, failures, 0, failures == 0),
    ]  # fmt: skip


def report(run: Run) -> None:
    print(f"  overload (load average {run.load_average:.2f}):", flush=True)
    for phase in (run.unloaded, run.low, run.high):
        print(f"    {phase.describe()}", flush=True)
        for sample in phase.samples:
            print(f"      failure: {sample}", flush=True)


async def run(
    database: Database,
    url: str,
    data_dir: Path,
    *,
    small: bool,
    runs: int = 1,
    env: dict[str, str] | None = None,
) -> list[Figure]:
    """The figures of ``runs`` runs on one server process: each figure's median (the resets:
    the most of any run)."""
    esp, eans, first, end = await readable_eans(database, data_dir, 20 if small else 60)
    targets = [(ean, first + timedelta(days=n)) for ean in eans for n in range((end - first).days)]
    port = free_port()
    server = serve(url, data_dir, port, env)
    try:
        base_url = f"http://127.0.0.1:{port}"
        process = psutil.Process(server.pid)
        headers = await _token(base_url, esp["client_id"], esp["client_secret"])
        found = []
        for _ in range(runs):
            one = await measure(process, base_url, headers, targets, small=small)
            report(one)
            found.append(figures(one))
        rss = process.memory_info().rss
        print(f"    server RSS at the end {rss / 2**20:.0f} MB", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return [_summary(list(same)) for same in zip(*found, strict=True)]


def _summary(figures: list[Figure]) -> Figure:
    """The run with the median ratio; for the resets, the worst run (each must have none)."""
    ordered = sorted(figures, key=lambda f: f.ratio)
    return ordered[-1] if figures[0].name == "overload_resets" else ordered[len(ordered) // 2]


def main() -> None:
    """Run these figures alone on a fresh benchmark database with a small demo world."""
    from bench.__main__ import BENCH_DIR, _fresh_database, _settings
    from datahub_api import embedded_postgres
    from datahub_api.db import create_database, normalize_database_url
    from datahub_api.demo.service import DemoParameters, seed_demo_world
    from datahub_api.schema_migrations import upgrade_to_head

    parser = argparse.ArgumentParser(prog="python -m bench.overload")
    parser.add_argument("--small", action="store_true", help="Small sizes: a smoke test.")
    parser.add_argument("--runs", type=int, default=1, help="Runs; each figure's median.")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A setting of the server (e.g. DATAHUB_MAX_IN_FLIGHT=4); repeatable.",
    )
    arguments = parser.parse_args()
    env = dict(item.split("=", 1) for item in arguments.set)
    embedded = None
    BENCH_DIR.mkdir(exist_ok=True)
    if configured := os.environ.get("DATABASE_URL"):
        server_url = normalize_database_url(configured)
    else:
        embedded = embedded_postgres.start(BENCH_DIR / "pg", database="postgres")
        server_url = embedded.url("postgres")
    data_dir = BENCH_DIR / "data"

    async def go() -> list[Figure]:
        url = await _fresh_database(server_url)
        await asyncio.to_thread(upgrade_to_head, url)
        database = create_database(url, _settings(data_dir))
        try:
            async with database.write_sessions() as session:
                await seed_demo_world(
                    session, _settings(data_dir), DemoParameters(eans=20, days=90, seed=42),
                    replace=True,
                )  # fmt: skip
                await session.commit()
            return await run(
                database, url, data_dir, small=arguments.small, runs=arguments.runs, env=env
            )
        finally:
            await database.dispose()

    try:
        found = asyncio.run(go())
    finally:
        if embedded is not None:
            embedded.release()
    for f in found:
        print(f"{f.name:32} {f.value:>10,} {f.limit:>10,} {f.ratio:>8} {f.target:>6} {f.passed}")


if __name__ == "__main__":
    main()
