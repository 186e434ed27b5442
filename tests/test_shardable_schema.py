"""The meter-data schema stays shardable by EAN (docs/scaling.md): on a distributed
PostgreSQL (Citus) the EAN-keyed tables would be distributed by ``ean``, which needs the EAN
in every primary key and unique constraint of theirs (a partition and its parent alike),
and no foreign key from them to a table that is not distributed or replicated alongside
them. Checked on the migrated database, partitions included, so a new constraint or table
that would break it fails here."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.meter_data.models import BLOCKS_TABLE, HISTORY_TABLE

# The tables that grow with EANs times days: distributed by EAN when one primary is outgrown.
EAN_KEYED = (BLOCKS_TABLE, HISTORY_TABLE, "sla_ean_days")

CONSTRAINTS = text(
    """
    SELECT rel.relname AS table_name,
           con.conname AS name,
           con.contype::text AS kind,
           array(SELECT att.attname::text FROM pg_attribute att
                 WHERE att.attrelid = con.conrelid AND att.attnum = ANY(con.conkey)) AS columns
    FROM pg_constraint con
    JOIN pg_class rel ON rel.oid = con.conrelid
    WHERE rel.relname = ANY(:tables)
       OR rel.oid IN (SELECT inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                      WHERE p.relname = ANY(:tables))
    """
)

UNIQUE_INDEXES = text(
    """
    SELECT t.relname AS table_name, i.relname AS name,
           array(SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = t.oid AND a.attnum = ANY(x.indkey)) AS columns
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    WHERE x.indisunique AND (t.relname = ANY(:tables)
       OR t.oid IN (SELECT inhrelid FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent
                    WHERE p.relname = ANY(:tables)))
    """
)


async def test_every_unique_key_of_the_ean_keyed_tables_holds_the_ean(app: FastAPI) -> None:
    async with app.state.database.write_sessions() as session:
        # A yearly partition exists once data of that year is stored; make one to check it.
        await session.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {BLOCKS_TABLE}_y2031 PARTITION OF {BLOCKS_TABLE} "
                "FOR VALUES FROM ('2031-01-01') TO ('2032-01-01')"
            )
        )
        constraints = (await session.execute(CONSTRAINTS, {"tables": list(EAN_KEYED)})).all()
        indexes = (await session.execute(UNIQUE_INDEXES, {"tables": list(EAN_KEYED)})).all()
        await session.rollback()
    tables = {row.table_name for row in constraints}
    assert set(EAN_KEYED) <= tables
    assert f"{BLOCKS_TABLE}_y2031" in tables  # partitions are checked too
    keys = [row for row in constraints if row.kind in ("p", "u")]
    assert keys
    assert [(r.table_name, r.name) for r in keys if "ean" not in r.columns] == []
    assert len(indexes) >= len(keys)  # a key has its index
    assert [(r.table_name, r.name) for r in indexes if "ean" not in r.columns] == []
    foreign = [(r.table_name, r.name) for r in constraints if r.kind == "f"]
    assert foreign == []
