"""The one-machine trial of the reference topology (``docker-compose.yml``): checked with
``docker compose config`` where the docker CLI and its compose plugin exist, and read as YAML
everywhere: every role of docs/deployment.md is there and the API nodes and workers share
one database setting, one key, one Redis and one export volume."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support.environment import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
NODES = ("api-1", "api-2", "worker-1", "worker-2")


def _compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    found = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    return docker if found.returncode == 0 else None


def test_docker_compose_config_accepts_the_topology(tmp_path: Path) -> None:
    docker = _compose_plugin()
    if docker is None:
        pytest.skip("no docker CLI with the compose plugin on this machine")
    checked = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_ROOT,
        env={"DATAHUB_KEY_ENCRYPTION_KEY": "x" * 43 + "=", "PATH": "/usr/bin:/bin"},
    )
    assert checked.returncode == 0, checked.stderr


def test_every_role_of_the_reference_topology_is_there() -> None:
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"primary", "replica", "pgbouncer", "redis", "migrate", "balancer", *NODES} <= set(
        services
    )
    environments = [services[name]["environment"] for name in NODES]
    shared = (
        "DATABASE_URL",
        "DATAHUB_DIRECT_DATABASE_URL",
        "DATAHUB_READ_DATABASE_URL",
        "DATAHUB_REDIS_URL",
        "DATAHUB_KEY_ENCRYPTION_KEY",
        "DATAHUB_HISTORY_EXPORT_DIR",
    )
    for name in shared:
        assert len({str(env[name]) for env in environments}) == 1, name
    assert all(env["DATAHUB_RUN_WORKER_IN_PROCESS"] == "false" for env in environments)
    assert "pgbouncer:6432" in environments[0]["DATABASE_URL"]
    assert "primary:5432" in environments[0]["DATAHUB_DIRECT_DATABASE_URL"]
    assert all("exports:/exports" in services[name]["volumes"] for name in NODES)
    for mounted in ("docs/trial/replication.sh", "docs/trial/nginx.conf"):
        assert (PROJECT_ROOT / mounted).is_file(), mounted
