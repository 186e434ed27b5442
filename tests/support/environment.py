"""The test environment: where test data lives, which xdist worker runs, the settings every
test app starts from, and free ports."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from datahub_api.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


TEST_DATA_DIR = PROJECT_ROOT / ".datahub-test"


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# One key-encryption key for every app and process a test starts on a worker's database:
# the signing keys stay in that database between tests (KEPT_TABLES), so a process with a
# key of its own (a data dir's local one) could not read them. A Fernet key: 32 bytes.
TEST_KEY_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"datahub-api test suite: 32 bytes").decode()


def make_settings(**overrides: Any) -> Settings:
    # Tests run jobs themselves (JobQueue.run_until_idle), so no worker runs in the app.
    values: dict[str, Any] = {
        "data_dir": TEST_DATA_DIR / f"data-{worker_id()}",
        "run_worker_in_process": False,
        "key_encryption_key": SecretStr(TEST_KEY_ENCRYPTION_KEY),
    }
    values.update(overrides)
    return Settings.model_construct(**values)  # defaults only: no environment leaks in


METRICS_TOKEN = "test-scraper-token"


async def scrape_metrics(app: FastAPI, client: httpx.AsyncClient) -> httpx.Response:
    """``/metrics`` as the scraper the settings name (by default nobody may scrape)."""
    app.state.settings.metrics_token = SecretStr(METRICS_TOKEN)
    return await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
