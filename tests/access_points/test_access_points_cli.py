"""`datahub-api access-points import FILE`: NDJSON or CSV, all or nothing, clear lines."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from datahub_api.accounts import repository as accounts_repository
from datahub_api.db import create_database

from ..support.access_point_data import access_point_body, fresh_ean
from ..support.cli import run_cli
from ..support.database import create_scratch_database
from ..support.environment import make_settings


async def _accounts(url: str, count: int) -> list[int]:
    database = create_database(url, make_settings())
    try:
        async with database.write_sessions() as session:
            ids = await accounts_repository.add_accounts(
                session,
                accounts_repository.NewAccounts(
                    username=[f"cli-{i}" for i in range(count)],
                    password_hash=["x"] * count,
                    display_name=[f"CLI person {i}" for i in range(count)],
                    email=[None] * count,
                    role=["customer"] * count,
                ),
            )
            await session.commit()
            return ids
    finally:
        await database.dispose()


async def _stored(url: str) -> dict[str, str]:
    database = create_database(url, make_settings())
    try:
        async with database.read_sessions() as session:
            rows = await session.execute(text("SELECT ean, energy_type FROM access_points"))
            return {row.ean: row.energy_type for row in rows}
    finally:
        await database.dispose()


async def test_import_is_all_or_nothing_with_line_numbers(server_url: str, tmp_path: Path) -> None:
    url = await create_scratch_database(server_url, "import")
    env = {"DATABASE_URL": url, "DATAHUB_DATA_DIR": str(tmp_path)}

    not_migrated = tmp_path / "one.ndjson"
    not_migrated.write_text(json.dumps(access_point_body(fresh_ean())) + "\n")
    refused = run_cli("access-points", "import", str(not_migrated), env=env)
    assert refused.returncode == 1
    assert "run `datahub-api migrate`" in refused.stderr

    assert run_cli("migrate", env=env).returncode == 0
    grid_user, tenant = await _accounts(url, 2)
    eans = [fresh_ean() for _ in range(3)]
    ndjson = tmp_path / "access-points.ndjson"
    ndjson.write_text(
        "\n".join(
            json.dumps(access_point_body(ean, grid_user=grid_user, customer_ids=(tenant,)))
            for ean in eans
        )
        + "\n"
    )
    imported = run_cli("access-points", "import", str(ndjson), env=env)
    assert imported.returncode == 0, imported.stderr
    assert f"imported 3 access points from {ndjson}: 3 created" in imported.stderr
    assert "storing" in imported.stderr  # the progress bars
    assert await _stored(url) == dict.fromkeys(eans, "E")

    new_ean = fresh_ean()
    bad_csv = tmp_path / "access-points.csv"
    bad_csv.write_text(
        "ean,energy_type,meter_type,grid_user_account_id,parties_valid_from\n"
        f"{eans[0]},G,KM,{grid_user},2024-01-01\n"
        f"{new_ean},E,DM,{grid_user},\n"  # line 3: a grid user without a date
        f"{eans[1]},G,KM,,\n"
        "541448800000004313,E,DM,,\n"  # line 5: wrong check digit
    )
    rejected = run_cli("access-points", "import", str(bad_csv), env=env)
    assert rejected.returncode == 1
    lines = rejected.stderr.strip().splitlines()
    assert f"{bad_csv}:3: parties_valid_from: needed with a grid user or customers" in lines
    assert any(line.startswith(f"{bad_csv}:5: ean:") and "check digit" in line for line in lines)
    assert "2 access point(s)" in lines[-1]
    assert "nothing was stored" in lines[-1]
    assert "Traceback" not in rejected.stderr
    assert await _stored(url) == dict.fromkeys(eans, "E")

    unknown_account = tmp_path / "unknown.csv"
    unknown_account.write_text(
        "ean,energy_type,meter_type,customer_account_ids,parties_valid_from\n"
        f"{eans[0]},G,KM,,\n"
        f"{new_ean},E,DM,{tenant}|999999,2024-01-01\n"
    )
    rejected = run_cli("access-points", "import", str(unknown_account), env=env)
    assert rejected.returncode == 1
    assert f"{unknown_account}:3: account 999999 does not exist" in rejected.stderr
    assert await _stored(url) == dict.fromkeys(eans, "E")

    good_csv = tmp_path / "fixed.csv"
    good_csv.write_text(f"ean,energy_type,meter_type\n{eans[0]},G,KM\n{new_ean},E,DM\n")
    fixed = run_cli("access-points", "import", str(good_csv), env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert "1 created, 1 updated, 0 unchanged" in fixed.stderr
    assert await _stored(url) == {**dict.fromkeys(eans, "E"), eans[0]: "G", new_ean: "E"}


def test_help_lists_the_import_command() -> None:
    assert "access-points" in run_cli("--help").stdout
    assert "import" in run_cli("access-points", "--help").stdout


def test_import_refuses_an_unknown_file_kind(tmp_path: Path) -> None:
    path = tmp_path / "access-points.xlsx"
    path.write_bytes(b"")
    result = run_cli("access-points", "import", str(path))
    assert result.returncode == 2
    assert "cannot tell the format" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
