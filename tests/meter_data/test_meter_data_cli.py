"""`datahub-api ingest FILE...`: streamed files, chunks, gzip, refusals with file:line."""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta
from pathlib import Path

from datahub_api.db import create_database
from datahub_api.meter_data import repository
from datahub_api.meter_data.granularity import Granularity
from datahub_api.schema_migrations import upgrade_to_head_async

from ..support.cli import run_cli
from ..support.database import create_scratch_database
from ..support.environment import make_settings
from ..support.meter_data import HEADER, csv_body, day_rows, one, register

FIRST = date(2026, 10, 24)  # then the 25-hour day


async def test_ingest_files_in_chunks(server_url: str, tmp_path: Path) -> None:
    url = await create_scratch_database(server_url, "ingest")
    await upgrade_to_head_async(url)
    database = create_database(url, make_settings())
    try:
        ean = await register(database)
        gas = await register(database, energy_type="G")
        rows = [row for n in range(3) for row in day_rows(ean, FIRST + timedelta(days=n))]
        readings = tmp_path / "readings.csv"
        readings.write_bytes(csv_body(rows))
        gas_lines = [
            json.dumps(dict(zip(HEADER.split(","), row, strict=True)))
            for row in day_rows(gas, FIRST, granularity=Granularity.PT1H, unit="m3")
        ]
        gas_file = tmp_path / "gas.ndjson.gz"
        gas_file.write_bytes(gzip.compress(("\n".join(gas_lines) + "\n").encode()))
        env = {"DATABASE_URL": url, "DATAHUB_DATA_DIR": str(tmp_path)}

        result = run_cli("ingest", str(readings), str(gas_file), "--chunk-rows", "50", env=env)
        assert result.returncode == 0, result.stderr
        assert f"ingested {96 + 100 + 96} readings from {readings} in 6 chunk(s)" in result.stderr
        assert "ingested 24 readings" in result.stderr
        async with database.read_sessions() as session:
            blocks = await repository.read_blocks(session, ean, FIRST, FIRST + timedelta(3))
            [gas_block] = await repository.read_blocks(session, gas, FIRST, FIRST + timedelta(1))
        assert [(b.key.day, b.filled_slots, b.expected_slots) for b in blocks] == [
            (FIRST, 96, 96),
            (FIRST + timedelta(1), 100, 100),
            (FIRST + timedelta(2), 96, 96),
        ]
        assert blocks[1].values == list(range(1, 101))
        assert blocks[0].version == 2  # its day was split over two chunks: created, filled
        assert gas_block.filled_slots == 24

        again = run_cli("ingest", str(readings), env=env)
        assert again.returncode == 0
        assert "0 created, 0 filled, 0 corrected, 3 unchanged" in again.stderr

        bad = tmp_path / "bad.csv"
        bad.write_bytes(
            csv_body([*day_rows(ean, FIRST, value="0.5"), one(ean, "2026-10-24T00:07:00+02:00")])
        )
        refused = run_cli("ingest", str(bad), env=env)
        assert refused.returncode == 1
        assert f"{bad}:98: start:" in refused.stderr
        assert "nothing of that chunk was stored" in refused.stderr
        async with database.read_sessions() as session:
            [first] = await repository.read_blocks(session, ean, FIRST, FIRST + timedelta(1))
        assert first == blocks[0]  # the refused file changed nothing

        unknown = run_cli("ingest", str(tmp_path / "readings.xlsx"), env=env)
        assert unknown.returncode == 2
    finally:
        await database.dispose()
