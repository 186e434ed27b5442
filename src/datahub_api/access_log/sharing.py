"""Who my data is shared with: every ESP holding a mandate on a customer's or grid user's
access points (consents given on the API or the portal, NPS and history mandates, signed
paper mandates), with what it may read, its status, when it last read and how often in
the last 30 days, and what the person can do about it (revoke a consent, contest a paper
mandate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from datahub_api.access_log import repository
from datahub_api.auth.principal import Principal
from datahub_api.db import ReadSession
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.models import Mandate
from datahub_api.paper_mandates import service as paper_service
from datahub_api.paper_mandates.repository import PaperRow

RECENT_DAYS = 30
SHOWN = 500


@dataclass(frozen=True)
class SharedMandate:
    mandate: Mandate
    paper: PaperRow | None  # a signed paper mandate (contested, not revoked, by the person)
    last_read: datetime | None
    recent_reads: int  # reads in the last RECENT_DAYS days
    revocable: bool
    contestable: bool


@dataclass
class SharedWith:
    """One ESP and its mandates on the person's access points, newest first."""

    esp: str
    mandates: list[SharedMandate] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return any(shared.revocable or shared.contestable for shared in self.mandates)


async def overview(
    session: ReadSession, principal: Principal, now: datetime | None = None
) -> list[SharedWith]:
    """The ESPs with live mandates first, then those whose mandates all ended; by name."""
    now = now or datetime.now(UTC)
    consents = await mandates_repository.newest_visible_with_organisation(
        session, principal, limit=SHOWN
    )
    papers = await paper_service.of_person(session, principal)
    paper_of = {row.mandate.id: row for row in papers}
    rows: list[tuple[Mandate, str, PaperRow | None]] = [
        (mandate, esp, None) for mandate, esp in consents if mandate.id not in paper_of
    ] + [(row.mandate, row.esp_name, row) for row in papers]
    reads = await repository.read_summary(
        session,
        [mandate.ean for mandate, _, _ in rows],
        [mandate.id for mandate, _, _ in rows],
        now - timedelta(days=RECENT_DAYS),
    )
    by_esp: dict[str, SharedWith] = {}
    for mandate, esp, paper in sorted(rows, key=lambda row: -row[0].id):
        last, recent = reads.get(mandate.id, (None, 0))
        by_esp.setdefault(esp, SharedWith(esp)).mandates.append(
            SharedMandate(
                mandate=mandate,
                paper=paper,
                last_read=last,
                recent_reads=recent,
                revocable=paper is None and mandate.status in mandates_repository.LIVE_STATUSES,
                contestable=paper is not None and paper_service.may_contest(paper),
            )
        )
    return sorted(by_esp.values(), key=lambda shared: (not shared.live, shared.esp.lower()))
