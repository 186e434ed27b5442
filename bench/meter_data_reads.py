"""Reading metering data back: ``native_year_vs_limit`` and ``csv_stream_rss_mb``.

Runs on the demo world loaded by ``storage_bytes_per_value`` (its ESP A holds quarter-hour
mandates on digital meters with a year of data):

* ``native_year_vs_limit``: p50 of ``GET /api/v1/access-points/{ean}/meter-data`` for one
  EAN-year of quarter-hours as JSON (uvicorn in another process, httpx on loopback) over the
  p50 of the in-process limit: fetching the same day blocks and serialising their values
  and states with orjson. Target: at most 4.
* ``csv_stream_rss_mb``: growth of the server's resident memory while it streams 100
  EAN-years of CSV (sampled every 20 ms, peak minus the level after a warm-up request).
  Limit: 50 MB.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from sqlalchemy import text

from datahub_api.auth.principal import ESP_SCOPES, Principal, Role
from datahub_api.brussels_days import day_start, today_in_brussels
from datahub_api.db import Database
from datahub_api.demo.service import credentials_path
from datahub_api.errors import DatahubError
from datahub_api.mandates.access import authorize_read
from datahub_api.meter_data import repository
from datahub_api.meter_data.granularity import Granularity
from datahub_api.meter_data.models import Direction

REQUESTS = 15
CSV_EAN_YEARS = 100


async def readable_eans(
    database: Database, data_dir: Path, days: int
) -> tuple[dict[str, Any], list[str], date, date]:
    """ESP A's credentials, the EANs it may read a whole window of quarter-hours of, and
    the window (the ``days`` Brussels days before today)."""
    credentials = orjson.loads(credentials_path(data_dir).read_bytes())
    esp = credentials["esps"][0]
    end = today_in_brussels()
    start = end - timedelta(days=days)
    async with database.read_sessions() as session:
        organisation_id = await session.scalar(
            text("SELECT id FROM organisations WHERE enterprise_number = :number"),
            {"number": esp["enterprise_number"]},
        )
        candidates = (
            await session.scalars(
                text(
                    "SELECT DISTINCT ean FROM mandates WHERE organisation_id = :organisation "
                    "AND status = 'approved' AND data_service_type = 'VH_kwartier_uur' "
                    "ORDER BY ean"
                ),
                {"organisation": organisation_id},
            )
        ).all()
        principal = Principal(
            subject=esp["client_id"],
            role=Role.esp,
            scopes=ESP_SCOPES,
            organisation_id=organisation_id,
        )
        eans = []
        for ean in candidates:
            try:
                await authorize_read(
                    session,
                    principal,
                    ean,
                    start=day_start(start),
                    end=day_start(end),
                    granularities=[Granularity.PT15M],
                    channels=("api", "nps"),
                )
            except DatahubError:
                continue
            eans.append(ean)
    if not eans:
        raise RuntimeError("the demo world has no EAN ESP A may read a whole window of")
    return esp, eans, start, end


async def _in_process_limit(
    database: Database, ean: str, start: date, end: date
) -> tuple[float, int]:
    """Seconds to fetch the blocks and serialise them with orjson; the values count."""
    async with database.read_sessions() as session:
        started = time.perf_counter()
        blocks = await repository.read_blocks(session, ean, start, end, direction=Direction.offtake)
        body = orjson.dumps([{"values": b.values, "states": b.states} for b in blocks])
        seconds = time.perf_counter() - started
    assert body
    return seconds, sum(len(b.values) for b in blocks)


async def _token(client: httpx.AsyncClient, esp: dict[str, Any]) -> dict[str, str]:
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": esp["client_id"],
            "client_secret": esp["client_secret"],
        },
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class _PeakRss:
    """Samples a process's resident memory in a thread; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def measure(
    database: Database, base_url: str, server_pid: int, data_dir: Path, days: int
) -> dict[str, Any]:
    """Timings and memory of the native reads (figures built by the caller)."""
    esp, eans, start, end = await readable_eans(database, data_dir, days)
    window = {"from": start.isoformat(), "to": end.isoformat(), "direction": "offtake"}
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        headers = await _token(client, esp)
        route_seconds, limit_seconds = [], []
        for n in range(REQUESTS + 1):
            ean = eans[n % len(eans)]
            started = time.perf_counter()
            response = await client.get(
                f"/api/v1/access-points/{ean}/meter-data", params=window, headers=headers
            )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"read failed: {response.status_code} {response.text[:300]}")
            limit, values = await _in_process_limit(database, ean, start, end)
            if n:  # the first round warms caches on both sides
                route_seconds.append(elapsed)
                limit_seconds.append(limit)
        csv_params = {**window, "format": "csv"}
        warm = await client.get(
            f"/api/v1/access-points/{eans[0]}/meter-data", params=csv_params, headers=headers
        )
        warm.raise_for_status()
        baseline = psutil.Process(server_pid).memory_info().rss
        streamed = 0
        with _PeakRss(server_pid) as rss:
            for n in range(CSV_EAN_YEARS):
                async with client.stream(
                    "GET",
                    f"/api/v1/access-points/{eans[n % len(eans)]}/meter-data",
                    params=csv_params,
                    headers=headers,
                ) as response:
                    response.raise_for_status()
                    async for chunk in response.aiter_bytes():
                        streamed += len(chunk)
    return {
        "route_p50": statistics.median(route_seconds),
        "limit_p50": statistics.median(limit_seconds),
        "values": values,
        "eans": len(eans),
        "rss_growth_mb": max(0, rss.peak - baseline) / 2**20,
        "csv_mb": streamed / 2**20,
    }
