"""The service under benchmark: one uvicorn process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(
    url: str, data_dir: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The service in one uvicorn process, with a rate limit no benchmark client reaches
    and without the in-process job worker: a periodic job (the daily mandate run, say)
    would otherwise compete for the CPU, and change the mandates being polled, mid-run.
    ``env`` adds or overrides settings."""
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "DATAHUB_DATA_DIR": str(data_dir),
        "DATAHUB_LOG_LEVEL": "WARNING",
        "DATAHUB_RATE_LIMIT_REQUESTS": str(10**9),
        "DATAHUB_RUN_WORKER_IN_PROCESS": "false",
        "DATAHUB_SHUTDOWN_DELAY_SECONDS": "0",  # no load balancer to leave: stop at once
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "datahub_api.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=environment)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the benchmark server did not start")
