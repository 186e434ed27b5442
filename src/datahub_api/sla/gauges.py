"""Prometheus gauges of the current month's DSO-wide share on time per channel.

Read from the roll-ups when ``/metrics`` is scraped (at most once a minute per process), so
every service process answers the same, whichever process ran the roll-up job."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from datahub_api.deps import state_of
from datahub_api.settings import Settings
from datahub_api.sla import service

logger = logging.getLogger(__name__)
REFRESH_SECONDS = 60.0


class SlaGauges:
    def __init__(self, registry: CollectorRegistry, settings: Settings) -> None:
        self.settings = settings
        self.share = Gauge(
            "datahub_sla_share_on_time",
            "DSO-wide share of the current month's decided EAN-days delivered on time, per "
            "channel (0-1; absent while nothing is decided).",
            ["channel"],
            registry=registry,
        )
        self.target = Gauge(
            "datahub_sla_target_share",
            "The channel's target share on time.",
            ["channel"],
            registry=registry,
        )
        self._refreshed = float("-inf")

    async def refresh(self, app: Any) -> None:
        if time.monotonic() - self._refreshed < REFRESH_SECONDS:
            return
        try:
            async with state_of(app).database.read_sessions() as session:
                shares = await service.current_month_shares(
                    session, self.settings, datetime.now(UTC)
                )
        except Exception as exc:  # the scrape still answers with the other metrics
            logger.warning("could not refresh the SLA gauges: %s", exc)
            return
        self._refreshed = time.monotonic()
        self.share.clear()
        for channel, (share, target) in shares.items():
            if share is not None:
                self.share.labels(channel.value).set(share)
            if target is not None:
                self.target.labels(channel.value).set(target)
