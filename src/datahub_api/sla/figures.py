"""SLA figures: the on-time, late, missing and pending counts of a channel over some days,
and the delays of what was delivered (the definitions are in ``sla.service``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from datahub_api.brussels_days import day_start
from datahub_api.settings import SlaTarget
from datahub_api.sla.repository import DayCounts


@dataclass
class Figures:
    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0
    delays: dict[int, int] = field(default_factory=dict)

    def add_day(self, counts: DayCounts, target: SlaTarget, now: datetime) -> None:
        limit = target.days * 24
        delivered = sum(counts.delays.values())
        on_time = sum(n for hours, n in counts.delays.items() if hours <= limit)
        deadline = day_start(counts.day + timedelta(days=1)) + timedelta(hours=limit)
        self.expected += counts.expected
        self.on_time += on_time
        self.late += delivered - on_time
        undelivered = counts.expected - delivered
        if now > deadline:
            self.missing += undelivered
        else:
            self.pending += undelivered
        for hours, n in counts.delays.items():
            self.delays[hours] = self.delays.get(hours, 0) + n

    @property
    def decided(self) -> int:
        return self.on_time + self.late + self.missing

    @property
    def share_on_time(self) -> float | None:
        return self.on_time / self.decided if self.decided else None

    def percentile(self, fraction: float) -> int | None:
        """Nearest-rank percentile of the delays of the delivered EAN-days, in hours."""
        total = sum(self.delays.values())
        if not total:
            return None
        rank = max(1, -(-int(fraction * total * 1000) // 1000))  # ceil without float error
        seen = 0
        for hours in sorted(self.delays):
            seen += self.delays[hours]
            if seen >= rank:
                return hours
        return max(self.delays)

    def met(self, target: SlaTarget) -> bool | None:
        share = self.share_on_time
        if target.share is None or share is None:
            return None
        return share >= target.share
