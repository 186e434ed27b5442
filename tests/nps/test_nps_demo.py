"""The demo world's NPS part: ESP A's list, one open audit and one mandate ended by a
refused audit, made through the real services."""

from __future__ import annotations

import hashlib

from fastapi import FastAPI
from sqlalchemy import text

from datahub_api.demo.service import DemoParameters, seed_demo_world
from datahub_api.settings import Settings


async def test_demo_nps(app: FastAPI, settings: Settings) -> None:
    async with app.state.database.write_sessions() as session:
        credentials = await seed_demo_world(
            session, settings, DemoParameters(eans=200, days=2, seed=42)
        )
        await session.commit()
    nps = credentials["esps"][0]["nps"]
    assert len(nps["eans"]) >= 2
    assert "nps" not in credentials["esps"][1]
    async with app.state.database.read_sessions() as session:
        audits = (
            await session.execute(text("SELECT mandate_id, status FROM nps_audits ORDER BY id"))
        ).all()
        ended = (
            await session.execute(
                text("SELECT status, finished_reason, channel FROM mandates WHERE id = :id"),
                {"id": nps["audit_failed_mandate_id"]},
            )
        ).one()
    assert [tuple(a) for a in audits] == [
        (nps["open_audit"]["mandate_id"], "open"),
        (nps["audit_failed_mandate_id"], "refused"),
    ]
    assert tuple(ended) == ("finished", "audit_failed", "nps")
    # The audited document is on disk for a newcomer to upload, and it is the registered one.
    ean = nps["eans"][0]
    on_disk = (settings.data_dir / "demo-nps" / f"{ean}.pdf").read_bytes()
    async with app.state.database.read_sessions() as session:
        registered = await session.scalar(
            text("SELECT document_sha256 FROM nps_request_items WHERE ean = :ean"), {"ean": ean}
        )
    assert hashlib.sha256(on_disk).hexdigest() == registered
