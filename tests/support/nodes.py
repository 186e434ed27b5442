"""Real `datahub-api worker` and `datahub-api serve` processes on a test's database, for the
scale-out tests: the environment they share (as the machines of one deployment would), and
starting, waiting for, stopping, killing and reading the logs of them. Every test that runs
real nodes or workers (tests/multinode, test_keys_across_nodes) starts them here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from datahub_api.db import libpq_url

from .environment import TEST_KEY_ENCRYPTION_KEY, free_port

PUBLIC_URL = "http://datahub.example"  # the load balancer's name: the tokens' issuer
# Short enough for a test, as an operator could set them: a worker killed mid-job is taken
# for dead after 2 s without a heartbeat, and its jobs are looked for every second.
HEARTBEAT_SECONDS = 0.5
STALLED_SECONDS = 2.0


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)


def node_env(database_url: str, encryption_key: str, data_dir: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DATAHUB_") and k != "DATABASE_URL"
    }
    env.update(
        {
            "DATABASE_URL": libpq_url(database_url),
            "DATAHUB_DATA_DIR": str(data_dir),
            "DATAHUB_KEY_ENCRYPTION_KEY": encryption_key,
            "DATAHUB_PUBLIC_BASE_URL": PUBLIC_URL,
            "DATAHUB_RUN_WORKER_IN_PROCESS": "false",
            "DATAHUB_RATE_LIMIT_REQUESTS": str(10**6),
            "DATAHUB_LOG_LEVEL": "WARNING",
            "DATAHUB_SHUTDOWN_DELAY_SECONDS": "0",  # no load balancer waits on the tests' nodes
        }
    )
    return env


def deployment_env(
    database_url: str, data_dir: Path, export_dir: Path, **settings: str
) -> dict[str, str]:
    """One machine's environment: its own data dir, the shared database, key-encryption key,
    public URL and history-export directory (a volume every node mounts)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DATAHUB_") and k != "DATABASE_URL"
    }
    env.update(
        {
            "DATABASE_URL": libpq_url(database_url),
            "DATAHUB_DATA_DIR": str(data_dir),
            "DATAHUB_KEY_ENCRYPTION_KEY": TEST_KEY_ENCRYPTION_KEY,
            "DATAHUB_PUBLIC_BASE_URL": PUBLIC_URL,
            "DATAHUB_HISTORY_EXPORT_DIR": str(export_dir),
            "DATAHUB_RUN_WORKER_IN_PROCESS": "false",
            "DATAHUB_RATE_LIMIT_REQUESTS": str(10**6),
            "DATAHUB_WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "DATAHUB_WORKER_STALLED_SECONDS": str(STALLED_SECONDS),
            "DATAHUB_LOG_FORMAT": "json",
            "DATAHUB_LOG_LEVEL": "WARNING",
            # No load balancer waits on the tests' nodes (test_shutdown sets its own).
            "DATAHUB_SHUTDOWN_DELAY_SECONDS": "0",
        }
    )
    env.update({f"DATAHUB_{name.upper()}": value for name, value in settings.items()})
    return env


def start_api_node(env: dict[str, str], folder: Path, *options: str) -> Node:
    """`datahub-api serve` on a free port, with ``options`` (e.g. ``--workers 2``)."""
    port = free_port()
    log = folder / f"node-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "datahub_api.cli", "serve", "--port", str(port), *options],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Node(process, f"http://127.0.0.1:{port}", log)


def wait_ready(node: Node, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert node.process.poll() is None, node.log.read_text()
        try:
            if httpx.get(f"{node.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"node {node.url} did not start:\n{node.log.read_text()}")


async def wait_ready_nodes(*nodes: Node) -> None:
    await asyncio.gather(*(asyncio.to_thread(wait_ready, node) for node in nodes))


def stop_node(node: Node) -> None:
    if node.process.poll() is None:
        node.process.terminate()
        try:
            node.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no goodbye, no last heartbeat, the job left `doing`."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_records(self) -> list[dict[str, object]]:
        """The worker's JSON log lines (other lines, such as the console's, left out)."""
        records = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records


def start_worker(env: dict[str, str], folder: Path, name: str, concurrency: int = 2) -> Worker:
    log = folder / f"worker-{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "datahub_api.cli", "worker", "--concurrency", str(concurrency)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(process, log)


async def live_workers(engine: AsyncEngine) -> int:
    """Workers registered in the queue (each writes its heartbeat there)."""
    async with engine.connect() as connection:
        return int(
            (await connection.execute(text("SELECT count(*) FROM procrastinate_workers"))).scalar()
            or 0
        )


@dataclass(frozen=True)
class FinishedJob:
    task: str
    job_id: int
    arguments: dict[str, Any]


def finished_jobs(worker: Worker) -> list[FinishedJob]:
    """The jobs the worker's log says ended well (procrastinate logs each at INFO, with the
    job in the record's extra fields)."""
    done = []
    for record in worker.log_records():
        job = record.get("job")
        if record.get("action") == "job_success" and isinstance(job, dict):
            done.append(
                FinishedJob(str(job["task_name"]), int(job["id"]), dict(job["task_kwargs"]))
            )
    return done
