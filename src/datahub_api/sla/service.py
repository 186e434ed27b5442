"""The rules of the SLA tracker: what is on time, who may see which figures, the roll-up job
and the ``sla.breached`` events.

Definitions (also in docs/sla.md and the OpenAPI descriptions):

* The unit is an **EAN-day**: an access point and a Europe/Brussels day D. Its **foreseen
  date** is the end of D (D+1 00:00 in Brussels). It is **delivered** at the insert time at
  which every interval stream of the day (offtake, injection... each a PT15M or PT1H block)
  first held every expected slot (96, or 92/100 on DST days; 24, 23 or 25 for hourly gas).
* With a channel's target of T days, the **deadline** is the foreseen date + T x 24 hours.
  Delivered by the deadline: **on time**; after it: **late**; not delivered and the
  deadline passed: **missing** (not on time); not delivered before the deadline:
  **pending** (not counted yet). The **delay** is the time from the foreseen date to the
  delivery, in whole hours rounded up.
* Only EAN-days on which a **communicating digital meter** was present count; others are
  reported apart by reason. Corrections never move a day's first delivery.
* ``share_on_time`` = on time / (on time + late + missing).
* **Validated data** (the NPS channel's historical-data level, channel ``nps_historical``):
  the same EAN-days, delivered when every slot of every stream of the day first held a
  *validated* (``VAL``) value; read (not yet validated), estimated and failed-validation
  values are not validated. Corrections never move that first time either.
* The NPS channel (``nps``, ``nps_historical``) serves GVM installations, whose meters are
  not digital meters: on it an EAN-day also counts when it is a GVM headpoint with a meter
  installed that day, and the DSO-wide figures are those of the EAN-days under an approved
  NPS mandate of any ESP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from datahub_api.access_points import repository as access_points_repository
from datahub_api.auth.principal import Principal, Role, Scope
from datahub_api.brussels_days import brussels_date
from datahub_api.db import ReadSession, WriteSession
from datahub_api.errors import Forbidden, UnprocessableContent
from datahub_api.events import service as events_service
from datahub_api.events.event_types import SLA_BREACHED
from datahub_api.history_exports.service import requests as export_requests
from datahub_api.paging import decode_cursor, encode_cursor
from datahub_api.settings import Settings, SlaTarget
from datahub_api.sla import annual_history, repository
from datahub_api.sla.figures import Figures
from datahub_api.sla.repository import DayCounts, LateItem

logger = logging.getLogger(__name__)


class SlaChannel(StrEnum):
    """A service level of a channel: ``nps`` is the NPS channel's informative data (5 days),
    ``nps_historical`` its historical, validated data (15 days)."""

    api = "api"
    portal = "portal"
    nps = "nps"
    nps_historical = "nps_historical"
    annual_history = "annual_history"

    @property
    def mandate_channel(self) -> str:
        """The channel of the mandates (and contracts) whose EAN-days are measured."""
        return "nps" if self is SlaChannel.nps_historical else self.value

    @property
    def data(self) -> repository.Data:
        """Which delivery is measured: informative (complete) or validated data."""
        return "validated" if self is SlaChannel.nps_historical else "informative"

    @property
    def dso_wide_from_mandates(self) -> bool:
        """DSO-wide figures from the EAN-days of the channel's mandates, not the roll-ups."""
        return self.mandate_channel == "nps"


# Channels with EAN-day figures (the yearly history export is measured per request).
MEASURED_CHANNELS = (
    SlaChannel.api,
    SlaChannel.portal,
    SlaChannel.nps,
    SlaChannel.nps_historical,
)


class GroupBy(StrEnum):
    day = "day"
    month = "month"


# The scope an ESP's token holds when it has an approved contract on the channel (see
# contracts.scopes.CHANNEL_SCOPES): the figures of a channel are for its users.
CHANNEL_SCOPE: dict[SlaChannel, str] = {
    SlaChannel.api: Scope.mandates_read,
    SlaChannel.portal: Scope.consents,
    SlaChannel.nps: Scope.nps,
    SlaChannel.nps_historical: Scope.nps,
    SlaChannel.annual_history: Scope.exports,
}
READER_SCOPES = (Scope.sla_all, Scope.mandates_read, Scope.consents, Scope.nps, Scope.exports)
# The mandate channels whose DSO-wide figures the job keeps per day from the mandates.
MANDATE_ROLL_UP_CHANNELS = sorted(
    {channel.mandate_channel for channel in SlaChannel if channel.dso_wide_from_mandates}
)
ROLL_UP_LOOKBACK_DAYS = 40
BREACH_MIN_DECIDED = 50  # EAN-days decided before a month under target is called a breach
PERCENTILES = (0.5, 0.95)


# --- figures -----------------------------------------------------------------------------


def figures_of(days: Iterable[DayCounts], target: SlaTarget, now: datetime) -> Figures:
    result = Figures()
    for counts in days:
        result.add_day(counts, target, now)
    return result


@dataclass(frozen=True)
class Group:
    start: date  # first day
    end: date  # the day after the last
    figures: Figures


@dataclass(frozen=True)
class Report:
    channel: SlaChannel
    start: date
    end: date
    target: SlaTarget
    organisation_id: int | None
    total: Figures
    groups: list[Group]
    per_organisation: dict[int, Figures]
    exclusions: repository.Exclusions | None
    note: str | None


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _groups(
    days: Sequence[DayCounts], start: date, end: date, group_by: GroupBy, target: SlaTarget,
    now: datetime,
) -> list[Group]:  # fmt: skip
    bounds: list[tuple[date, date]] = []
    cursor = start
    while cursor < end:
        stop = cursor + timedelta(days=1) if group_by is GroupBy.day else next_month(cursor)
        bounds.append((cursor, min(stop, end)))
        cursor = min(stop, end)
    groups = []
    for first, stop in bounds:
        inside = [d for d in days if first <= d.day < stop]
        groups.append(Group(first, stop, figures_of(inside, target, now)))
    return groups


# --- who may see what --------------------------------------------------------------------


def target_of(settings: Settings, channel: SlaChannel) -> SlaTarget:
    return settings.sla_targets[channel.value]


def validate_period(settings: Settings, start: date, end: date) -> None:
    if end <= start:
        raise UnprocessableContent("`to` must be after `from` (it is the day after the last day)")
    if (end - start).days > settings.sla_max_report_days:
        raise UnprocessableContent(
            f"the period is {(end - start).days} days; at most "
            f"{settings.sla_max_report_days} days per call",
            extra={"max_days": settings.sla_max_report_days},
        )


def organisation_scope(
    principal: Principal, channel: SlaChannel, organisation_id: int | None
) -> int | None:
    """The organisation whose figures the caller gets (None: the DSO's, for operators), or
    a 403 that says why."""
    if principal.role is Role.operator and principal.has(Scope.sla_all):
        return organisation_id
    if principal.role is not Role.esp or principal.organisation_id is None:
        raise Forbidden("SLA figures are for operators (scope `sla:all`) and ESPs.")
    if organisation_id is not None and organisation_id != principal.organisation_id:
        raise Forbidden(
            "You may see only your own organisation's SLA figures; other ESPs' figures and "
            "the DSO-wide ones need the operators' scope `sla:all`."
        )
    needed = CHANNEL_SCOPE[channel]
    if not principal.has(needed):
        raise Forbidden(
            f"Your organisation has no approved contract on channel `{channel.value}` "
            f"(the figures of that channel need scope `{needed}`).",
            extra={"needed_scope": str(needed)},
        )
    return principal.organisation_id


ANNUAL_HISTORY_NOTE = (
    "Counted per history export request (not per EAN-day): due 10 days after the request, "
    "or at the deadline an operator agreed for it; the delay runs from the request to the "
    "first ready file."
)


async def _annual_history_report(
    session: ReadSession,
    settings: Settings,
    *,
    start: date,
    end: date,
    group_by: GroupBy,
    organisation: int | None,
    now: datetime,
) -> Report:
    target = target_of(settings, SlaChannel.annual_history)
    found = await export_requests.deliveries(session, start, end, organisation, target.days)
    total, per_organisation = Figures(), dict[int, Figures]()
    for delivery in found:
        annual_history.add_to(total, delivery, now)
        if organisation is None:
            figures = per_organisation.setdefault(delivery.organisation_id, Figures())
            annual_history.add_to(figures, delivery, now)
    groups = []
    for group in _groups([], start, end, group_by, target, now):
        figures = Figures()
        for delivery in found:
            if group.start <= annual_history.day_of(delivery) < group.end:
                annual_history.add_to(figures, delivery, now)
        groups.append(Group(group.start, group.end, figures))
    return Report(
        channel=SlaChannel.annual_history,
        start=start,
        end=end,
        target=target,
        organisation_id=organisation,
        total=total,
        groups=groups,
        per_organisation=per_organisation,
        exclusions=None,
        note=ANNUAL_HISTORY_NOTE,
    )


async def report(
    session: ReadSession,
    principal: Principal,
    settings: Settings,
    *,
    channel: SlaChannel,
    start: date,
    end: date,
    group_by: GroupBy,
    organisation_id: int | None,
    now: datetime,
) -> Report:
    validate_period(settings, start, end)
    organisation = organisation_scope(principal, channel, organisation_id)
    target = target_of(settings, channel)
    today = brussels_date(now)
    note = None
    per_organisation: dict[int, Figures] = {}
    exclusions = None
    days: list[DayCounts]
    if channel is SlaChannel.annual_history:
        return await _annual_history_report(
            session,
            settings,
            start=start,
            end=end,
            group_by=group_by,
            organisation=organisation,
            now=now,
        )
    if organisation is not None:
        days = await repository.esp_days(
            session, channel.mandate_channel, start, end, today, [organisation], channel.data
        )
    else:
        days = await dso_wide_days(session, channel, start, end, today)
        if not channel.dso_wide_from_mandates:
            exclusions = await repository.exclusions(session, start, end)
        for counts in await repository.esp_days(
            session, channel.mandate_channel, start, end, today, None, channel.data
        ):
            assert counts.organisation_id is not None
            per_organisation.setdefault(counts.organisation_id, Figures()).add_day(
                counts, target, now
            )
    return Report(
        channel=channel,
        start=start,
        end=end,
        target=target,
        organisation_id=organisation,
        total=figures_of(days, target, now),
        groups=_groups(days, start, end, group_by, target, now),
        per_organisation=per_organisation,
        exclusions=exclusions,
        note=note,
    )


async def dso_wide_days(
    session: ReadSession, channel: SlaChannel, start: date, end: date, today: date
) -> list[DayCounts]:
    if channel.dso_wide_from_mandates:
        mandate_channel = channel.mandate_channel
        if await repository.uncovered_organisations(session, mandate_channel, start, end, today):
            # An ESP's mandates count in the roll-ups but not under today's contracts (one
            # whose contract ended): the definition, computed from the EAN-days.
            return await repository.live_mandate_days(
                session, mandate_channel, start, end, today, channel.data
            )
        return await repository.mandate_days(session, mandate_channel, start, end, channel.data)
    return await repository.rolled_up_days(session, start, end, channel.data)


@dataclass(frozen=True)
class LateItemsPage:
    items: list[LateItem]
    target_hours: int
    next_cursor: str | None


async def late_items(
    session: ReadSession,
    principal: Principal,
    settings: Settings,
    *,
    channel: SlaChannel,
    start: date,
    end: date,
    organisation_id: int | None,
    ean: str | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> LateItemsPage:
    validate_period(settings, start, end)
    organisation = organisation_scope(principal, channel, organisation_id)
    target_hours = target_of(settings, channel).days * 24
    after = _late_cursor(cursor)
    if channel is SlaChannel.annual_history:
        found = await export_requests.deliveries(
            session, start, end, organisation, target_hours // 24
        )
        late = sorted(annual_history.late_items(found, now), key=lambda i: (i.day, i.ean))
        if ean is not None:
            late = [item for item in late if item.ean == ean]
        if after is not None:
            late = [item for item in late if (item.day, item.ean) > after]
        more = len(late) > limit
        late = late[:limit]
        last = late[-1] if more else None
        cursor_out = encode_cursor({"d": last.day.isoformat(), "e": last.ean}) if last else None
        return LateItemsPage(late, target_hours, cursor_out)
    items = await repository.late_items(
        session,
        channel=channel.mandate_channel,
        data=channel.data,
        start=start,
        end=end,
        today=brussels_date(now),
        now=now,
        target_hours=target_hours,
        organisation_id=organisation,
        ean=ean,
        after=after,
        limit=limit + 1,
    )
    more = len(items) > limit
    items = items[:limit]
    next_cursor = (
        encode_cursor({"d": items[-1].day.isoformat(), "e": items[-1].ean}) if more else None
    )
    return LateItemsPage(items, target_hours, next_cursor)


def _late_cursor(cursor: str | None) -> tuple[date, str] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        return date.fromisoformat(str(position["d"])), str(position["e"])
    except (KeyError, ValueError):
        raise UnprocessableContent("cursor is not a cursor this API gave out") from None


# --- the roll-up job ---------------------------------------------------------------------


async def roll_up_days(session: WriteSession, days: Sequence[date], now: datetime) -> None:
    """Roll up ``days`` whole, outside the job (the demo, bulk loads, tests): the EAN-days,
    the DSO-wide, per-ESP and mandate-day roll-ups."""
    await repository.roll_up(session, days, now)
    await repository.roll_up_mandate_days(session, days, MANDATE_ROLL_UP_CHANNELS)


async def reclassify_marked(session: WriteSession) -> repository.Reclassified:
    """Classify again the EAN-days the registry's changes marked (the job's first step).

    The ingest locks an EAN's access point before its EAN-days; this takes the same lock on
    the marked EANs first, in the same order. Otherwise its update and an ingest of a marked
    EAN could each hold an EAN-day the other waits for, and PostgreSQL would abort one."""
    eans = await repository.marked_eans(session)
    await access_points_repository.lock_as_ingest_does(session, eans)
    return await repository.reclassify_marked(session, eans)


async def roll_up(session: WriteSession, settings: Settings, now: datetime) -> list[date]:
    """Classify again the EAN-days whose registry entries changed (their days become
    dirty), roll up the dirty days and the recent days without a roll-up (up to yesterday)
    and the per-ESP days that mandate changes marked, then tell each ESP whose month on a
    channel fell below the target (once per month). Returns the days rolled up whole.
    Safe to run twice."""
    yesterday = brussels_date(now) - timedelta(days=1)
    since = yesterday - timedelta(days=ROLL_UP_LOOKBACK_DAYS)
    marked = await repository.claim_esp_marks(session)
    reclassified = await reclassify_marked(session)
    if reclassified.eans:
        logger.info(
            "sla: %d EANs' registry changed: %d EAN-days reclassified, %d added",
            reclassified.eans,
            reclassified.changed,
            reclassified.added,
        )
    days = await repository.days_to_roll_up(session, since, yesterday)
    await repository.roll_up(session, days, now)
    changed = await repository.roll_up_esp_pairs(session, marked, days)
    await repository.roll_up_mandate_days(
        session, sorted({*days, *changed}), MANDATE_ROLL_UP_CHANNELS
    )
    # A mandate reaching back years redoes its ESP's old days, but only recent months are
    # judged again for breaches (as for ingest's days within the lookback).
    recent = month_start(since)
    months = sorted(
        {month_start(day) for day in days}
        | {month_start(day) for day in changed if month_start(day) >= recent}
    )
    await publish_breaches(session, settings, months, now)
    return days


async def publish_breaches(
    session: WriteSession, settings: Settings, months: Sequence[date], now: datetime
) -> int:
    """An ``sla.breached`` event for every ESP whose share on a channel with a target share
    is under it in one of ``months`` (at least :data:`BREACH_MIN_DECIDED` EAN-days decided,
    or the month over), unless it was told already."""
    published = 0
    today = brussels_date(now)
    for month in months:
        end = next_month(month)
        for channel in MEASURED_CHANNELS:
            target = target_of(settings, channel)
            if target.share is None:
                continue
            per_organisation: dict[int, Figures] = {}
            for counts in await repository.esp_days(
                session, channel.mandate_channel, month, end, today, None, channel.data
            ):
                assert counts.organisation_id is not None
                per_organisation.setdefault(counts.organisation_id, Figures()).add_day(
                    counts, target, now
                )
            for organisation_id, figures in sorted(per_organisation.items()):
                share = figures.share_on_time
                if share is None or share >= target.share:
                    continue
                if figures.decided < BREACH_MIN_DECIDED and figures.pending:
                    continue
                if not await repository.record_breach(
                    session, organisation_id, channel, month, share, target.share
                ):
                    continue
                await events_service.publish(
                    session,
                    organisation_id,
                    SLA_BREACHED,
                    {
                        "channel": channel.value,
                        "data": channel.data,
                        "month": month.strftime("%Y-%m"),
                        "share_on_time": round(share, 6),
                        "target_share": target.share,
                        "target_days": target.days,
                        "on_time": figures.on_time,
                        "late": figures.late,
                        "missing": figures.missing,
                    },
                )
                published += 1
    return published


async def current_month_shares(
    session: ReadSession, settings: Settings, now: datetime
) -> dict[SlaChannel, tuple[float | None, float | None]]:
    """DSO-wide share on time of the current Brussels month per channel, with its target
    share (for the Prometheus gauges)."""
    today = brussels_date(now)
    first = month_start(today)
    result: dict[SlaChannel, tuple[float | None, float | None]] = {}
    for channel in MEASURED_CHANNELS:
        target = target_of(settings, channel)
        days = await dso_wide_days(session, channel, first, next_month(first), today)
        result[channel] = (figures_of(days, target, now).share_on_time, target.share)
    return result
