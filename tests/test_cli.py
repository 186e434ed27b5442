"""The command line: help, clear one-line errors, db-url, seed-demo and the embedded server."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from datahub_api import embedded_postgres
from datahub_api.brussels_days import today_in_brussels
from datahub_api.cli.support import file_read_whole

from .support.cli import run_cli
from .support.database import create_scratch_database


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "seed-demo", "openapi", "db-url"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("not a url at all", 2, "DATABASE_URL is not a database URL"),
        ("mysql://root@127.0.0.1/test", 2, "DATABASE_URL must point at PostgreSQL"),
        (
            "postgresql://nobody@127.0.0.1:1/none",
            1,
            "cannot reach the database at 127.0.0.1:1/none",
        ),
    ],
)
def test_bad_database_url_is_one_clear_line(
    url: str, code: int, message: str, tmp_path: Path
) -> None:
    result = run_cli("migrate", env={"DATABASE_URL": url, "DATAHUB_DATA_DIR": str(tmp_path)})
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_db_url_prints_the_configured_server(tmp_path: Path) -> None:
    result = run_cli("db-url", env={"DATABASE_URL": "postgresql+asyncpg://u:p@db.example:6543/hub"})
    assert result.returncode == 0
    assert result.stdout.strip() == "postgresql://u:p@db.example:6543/hub"


async def test_seed_demo_is_deterministic_and_refuses_to_double_load(
    server_url: str, tmp_path: Path
) -> None:
    url = await create_scratch_database(server_url, "seed")
    env = {"DATABASE_URL": url, "DATAHUB_DATA_DIR": str(tmp_path)}
    written = tmp_path / "demo-credentials.json"

    def build(*options: str) -> tuple[date | None, dict[str, Any]]:
        """The credentials of one build, and its Brussels day (None if midnight fell in it)."""
        day = today_in_brussels()
        result = run_cli("seed-demo", "--seed", "7", *options, env=env)
        assert result.returncode == 0, result.stderr
        return (day if today_in_brussels() == day else None), json.loads(written.read_text())

    day, credentials = build()
    assert credentials["base_url"] == "http://127.0.0.1:8000"
    assert oct(written.stat().st_mode & 0o777) == "0o600"

    again = run_cli("seed-demo", "--seed", "7", env=env)
    assert again.returncode == 1
    assert "already holds a demo world" in again.stderr

    # The world is the seed's world as it stands now: the same seed gives the same world,
    # but a day block whose delivery, correction or validation time passes between two
    # builds counts in the second, and a Brussels midnight between them moves every date
    # (then the pair is built again, on the new day).
    day_again, rebuilt = build("--replace")
    if day is None or day_again != day:
        day, credentials = build("--replace")
        day_again, rebuilt = build("--replace")
        assert day is not None
        assert day_again == day
    earlier, later = credentials.pop("meter_data"), rebuilt.pop("meter_data")
    assert rebuilt == credentials
    assert later["days"] == earlier["days"]
    for count in ("day_blocks", "corrected_blocks", "validated_blocks"):
        assert earlier[count] <= later[count] <= earlier[count] * 1.001 + 5, count


def test_embedded_server_lifecycle(tmp_path: Path) -> None:
    """seed-demo on an empty data dir leaves the embedded server stopped; db-url leaves it
    running; a run killed with SIGKILL leaves a data dir that the next run starts from."""
    env = {"DATAHUB_DATA_DIR": str(tmp_path)}
    pg_dir = tmp_path / "pg"

    seeded = run_cli("seed-demo", "--eans", "5", "--days", "2", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert not embedded_postgres.is_running(pg_dir)

    url = run_cli("db-url", env=env)
    assert url.returncode == 0, url.stderr
    assert url.stdout.strip().startswith("postgresql://postgres@/datahub?host=")
    assert embedded_postgres.is_running(pg_dir)
    again = run_cli("db-url", env=env)
    assert again.stdout == url.stdout  # reused, not restarted
    assert run_cli("db-stop", env=env).returncode == 0
    assert not embedded_postgres.is_running(pg_dir)

    # A holder of the server killed hard: its pid stays in the handle list, and the
    # postmaster keeps running. The next process joins, and its clean exit stops it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import time; from pathlib import Path; from datahub_api import embedded_postgres;"
                f"embedded_postgres.start(Path({str(pg_dir)!r})); print('up', flush=True);"
                "time.sleep(600)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "up"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert embedded_postgres.is_running(pg_dir)
    migrated = run_cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    deadline = time.monotonic() + 10
    while embedded_postgres.is_running(pg_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not embedded_postgres.is_running(pg_dir)


def test_db_url_is_a_libpq_url_psql_can_use() -> None:
    result = run_cli("db-url", env={"DATABASE_URL": "postgres://a@h:5/d"})
    assert make_url(result.stdout.strip()).drivername == "postgresql"


def test_docs_document_every_setting() -> None:
    """The README opens with the two commands; docs/configuration.md's table names every
    setting."""
    from datahub_api.settings import Settings

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert readme.startswith("# datahub-api\n\n```sh\nmake run")
    table = (root / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        variable = "DATABASE_URL" if name == "database_url" else f"DATAHUB_{name.upper()}"
        assert f"| `{variable}` |" in table, f"{variable} is not in docs/configuration.md"


async def test_operator_commands_run_the_contract_lifecycle(
    server_url: str, tmp_path: Path
) -> None:
    url = await create_scratch_database(server_url, "operator_cli")
    env = {"DATABASE_URL": url, "DATAHUB_DATA_DIR": str(tmp_path)}
    assert run_cli("migrate", env=env).returncode == 0
    made = run_cli(
        "organisations",
        "create",
        "--name",
        "Coach",
        "--enterprise-number",
        "BE0403.170.701",
        "--email",
        "ops@coach.example",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["enterprise_number"] == "0403170701"
    bad = run_cli(
        "organisations",
        "create",
        "--name",
        "X",
        "--enterprise-number",
        "0403.170.702",
        "--email",
        "x@x.example",
        env=env,
    )
    assert bad.returncode == 2
    assert "check number" in bad.stderr
    client = run_cli(
        "clients", "create", "--name", "coach backend", "--organisation", "0403170701", env=env
    )
    assert client.returncode == 0, client.stderr
    client_id = json.loads(client.stdout)["client_id"]
    rotated = run_cli("clients", "rotate-secret", client_id, "--overlap-hours", "0", env=env)
    assert json.loads(rotated.stdout)["client_secret"] != json.loads(client.stdout)["client_secret"]
    assert json.loads(run_cli("clients", "revoke", client_id, env=env).stdout)["revoked"] is True
    unknown = run_cli("contracts", "approve", "1234567890", env=env)
    assert unknown.returncode == 1
    assert "No contract 1234567890" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    first = run_cli("keys", "list", env=env)
    assert first.returncode == 0, first.stderr
    rotated_key = run_cli("keys", "rotate", env=env)
    assert rotated_key.returncode == 0, rotated_key.stderr
    kid = json.loads(rotated_key.stdout)["kid"]
    listed = json.loads(run_cli("keys", "list", env=env).stdout)
    assert listed["signing"] == kid
    # The key before still verifies the tokens it signed; no key file in the data dir.
    assert listed["keys"] == [kid, *json.loads(first.stdout)["keys"]]
    assert not (tmp_path / "keys").exists()
    # A key folder (a mounted secret) instead: `keys rotate` writes the next file there.
    folder = tmp_path / "mounted-keys"
    in_folder = {**env, "DATAHUB_SIGNING_KEY_DIR": str(folder)}
    empty = run_cli("keys", "list", env=in_folder)
    assert empty.returncode == 1
    assert "no signing key in" in empty.stderr
    assert "Traceback" not in empty.stderr
    made = json.loads(run_cli("keys", "rotate", env=in_folder).stdout)["kid"]
    assert json.loads(run_cli("keys", "list", env=in_folder).stdout)["signing"] == made
    assert len(list(folder.glob("*-key.pem"))) == 1


def test_a_file_read_whole_pauses_the_collector_and_leaves_no_cycle_frozen() -> None:
    class Row:
        other: Row | None = None

    try:
        with file_read_whole():
            assert not gc.isenabled()
            cycle = Row()
            cycle.other = cycle
            collected = weakref.ref(cycle)
            del cycle
            rows = [Row() for _ in range(3)]
        assert gc.isenabled()
        assert collected() is None  # the garbage cycle was collected before the freeze
        assert gc.get_freeze_count() >= len(rows)  # the rows held are out of collections
    finally:
        gc.unfreeze()
