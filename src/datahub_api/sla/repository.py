"""SQL of the SLA tracker: recording deliveries (in the ingest transaction), the roll-up of
days, and the reads behind reports and late-item lists.

Which EAN-days an ESP may see is decided in :func:`_esp_days` only: the days of its approved
mandates on the channel (under a contract covering the channel today), inside each mandate's
data period. Which of them count on a channel is decided in :func:`_population` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import text

from datahub_api.db import ReadSession, WriteSession

Data = Literal["informative", "validated"]
"""Which delivery of an EAN-day is measured: ``informative`` (every slot present,
``delivered_at``) or ``validated`` (every slot present with a validated value,
``validated_at``)."""
_DELIVERED: dict[Data, str] = {"informative": "s.delivered_at", "validated": "s.validated_at"}

# The foreseen date of day D (the end of D in Brussels) and the delay after it in whole hours.
_FORESEEN = "((s.day + 1)::timestamp AT TIME ZONE 'Europe/Brussels')"


def _delay_hours(delivered: str) -> str:
    return f"greatest(0, ceil(extract(epoch FROM {delivered} - {_FORESEEN}) / 3600))::integer"


# --- classification --------------------------------------------------------------------

_COMMUNICATING = (
    "EXISTS (SELECT 1 FROM communication_periods cp WHERE cp.access_point_id = ap.id "
    "AND cp.valid_from <= {day} AND (cp.valid_to IS NULL OR cp.valid_to > {day}))"
)
# A GVM installation's headpoint with a meter installed that day: read remotely every day,
# the data the NPS channel serves (GVM meters are not digital meters).
_GVM_READ = (
    "(ap.gvm AND EXISTS (SELECT 1 FROM physical_meters pm WHERE pm.access_point_id = ap.id "
    "AND pm.installed_from <= {day} AND (pm.installed_to IS NULL OR pm.installed_to > {day})))"
)


# Which EAN-days are expected (a row is added for them when none arrived).
_EXPECTED = (
    f"((ap.meter_type = 'DM' AND {_COMMUNICATING.format(day='{day}')}) "
    f"OR {_GVM_READ.format(day='{day}')})"
)


def classified(rows: str) -> str:
    """The one definition of an EAN-day's classification from the registry: ``rows`` (a
    SELECT with ``ean`` and ``day`` columns) with ``counted`` (a communicating digital meter
    was present), else ``excluded_reason``, and ``gvm_headpoint``. Every writer of
    ``sla_ean_days`` (ingest, the rebuild, the roll-up's missing EAN-days) writes it when it
    inserts a row, and the roll-up job writes it again for the EAN-days whose registry
    entries changed (:func:`reclassify_marked`)."""
    # OFFSET 0 keeps the planner from copying ``reason`` (and its subquery) into both
    # columns that use it: it is worked out once per row.
    return f"""
        SELECT r.*, r.reason IS NULL AS counted, r.reason AS excluded_reason,
               r.gvm_read AS gvm_headpoint
        FROM (SELECT x.*,
                  CASE WHEN ap.id IS NULL THEN 'unknown_access_point'
                       WHEN ap.meter_type <> 'DM' THEN 'no_digital_meter'
                       WHEN NOT {_COMMUNICATING.format(day="x.day")} THEN 'not_communicating'
                  END AS reason,
                  coalesce({_GVM_READ.format(day="x.day")}, false) AS gvm_read
              FROM ({rows}) AS x LEFT JOIN access_points ap ON ap.ean = x.ean
              OFFSET 0) AS r
    """  # noqa: S608  fixed text


# --- recording deliveries (ingest) -------------------------------------------------------

# One statement (one round trip per batch): the EAN-days, then their days marked for roll-up.
_RECORD = text(
    f"""
    WITH recorded AS (
    INSERT INTO sla_ean_days AS s (ean, day, streams, complete_streams, validated_streams,
                                   first_inserted_at, delivered_at, validated_at,
                                   counted, excluded_reason, gvm_headpoint)
    SELECT n.ean, n.day, n.streams, n.complete, n.validated, CAST(:at AS timestamptz),
           CASE WHEN n.streams > 0 AND n.streams = n.complete THEN CAST(:at AS timestamptz) END,
           CASE WHEN n.streams > 0 AND n.streams = n.validated THEN CAST(:at AS timestamptz) END,
           n.counted, n.excluded_reason, n.gvm_headpoint
    FROM ({
        classified(
            "SELECT * FROM unnest(CAST(:ean AS varchar[]), CAST(:day AS date[]), "
            "CAST(:streams AS smallint[]), CAST(:complete AS smallint[]), "
            "CAST(:validated AS smallint[])) AS u(ean, day, streams, complete, validated)"
        )
    }) AS n
    ORDER BY n.ean, n.day
    ON CONFLICT (ean, day) DO UPDATE SET
        streams = s.streams + excluded.streams,
        complete_streams = s.complete_streams + excluded.complete_streams,
        validated_streams = s.validated_streams + excluded.validated_streams,
        first_inserted_at = coalesce(s.first_inserted_at, excluded.first_inserted_at),
        delivered_at = coalesce(
            s.delivered_at,
            CASE WHEN s.streams + excluded.streams > 0
                  AND s.streams + excluded.streams
                      = s.complete_streams + excluded.complete_streams
                 THEN excluded.first_inserted_at END),
        validated_at = coalesce(
            s.validated_at,
            CASE WHEN s.streams + excluded.streams > 0
                  AND s.streams + excluded.streams
                      = s.validated_streams + excluded.validated_streams
                 THEN excluded.first_inserted_at END),
        -- A row written before rows were classified at insert (migration 0034) gets its
        -- classification now; a classified row keeps it (the job reclassifies on changes).
        counted = coalesce(s.counted, excluded.counted),
        excluded_reason = CASE WHEN s.counted IS NULL THEN excluded.excluded_reason
                               ELSE s.excluded_reason END,
        gvm_headpoint = coalesce(s.gvm_headpoint, excluded.gvm_headpoint)
    RETURNING s.day
    )
    INSERT INTO sla_dirty_days (day) SELECT DISTINCT day FROM recorded ORDER BY day
    ON CONFLICT (day) DO NOTHING
    """  # noqa: S608  fixed text
)


@dataclass
class DeliveryDeltas:
    """Per EAN-day (column arrays): interval streams that appeared, that became complete,
    and that first held only validated values, in one ingest batch."""

    ean: list[str]
    day: list[date]
    streams: list[int]
    complete: list[int]
    validated: list[int]


async def record_deliveries(session: WriteSession, deltas: DeliveryDeltas, at: datetime) -> None:
    """Add one batch's streams to their EAN-days; an EAN-day whose streams are now all
    complete gets ``delivered_at`` = ``at``, and one whose streams are now all validated
    gets ``validated_at`` = ``at``, unless it had one already."""
    if not deltas.ean:
        return
    await session.execute(_RECORD, {**vars(deltas), "at": at})


_FROM_BLOCKS = """
    SELECT ean, day, count(*) AS streams, count(completed_at) AS complete_streams,
           count(validated_at) AS validated_streams, min(first_inserted_at) AS first_inserted_at,
           CASE WHEN bool_and(completed_at IS NOT NULL) THEN max(completed_at) END
               AS delivered_at,
           CASE WHEN bool_and(validated_at IS NOT NULL) THEN max(validated_at) END
               AS validated_at
    FROM meter_day_blocks
    WHERE day >= :start AND day < :end AND granularity IN (1, 2)
    GROUP BY ean, day
"""


async def rebuild_from_blocks(session: WriteSession, start: date, end: date) -> int:
    """Recompute the EAN-days of [start, end) from the stored day blocks (blocks loaded in
    bulk, or data stored before tracking existed): the first completion of a block is kept
    in ``completed_at`` across corrections, so the day's delivery is the latest of them; the
    same for the first full validation (``validated_at``)."""
    await session.execute(
        text("DELETE FROM sla_ean_days WHERE day >= :start AND day < :end"),
        {"start": start, "end": end},
    )
    result = await session.execute(
        text(
            f"""
            INSERT INTO sla_ean_days (ean, day, streams, complete_streams, validated_streams,
                                      first_inserted_at, delivered_at, validated_at,
                                      counted, excluded_reason, gvm_headpoint)
            SELECT ean, day, streams, complete_streams, validated_streams,
                   first_inserted_at, delivered_at, validated_at,
                   counted, excluded_reason, gvm_headpoint
            FROM ({classified(_FROM_BLOCKS)}) AS b
            """  # noqa: S608  fixed text
        ),
        {"start": start, "end": end},
    )
    await session.execute(
        text(
            "INSERT INTO sla_dirty_days (day) SELECT DISTINCT day FROM sla_ean_days "
            "WHERE day >= :start AND day < :end ON CONFLICT (day) DO NOTHING"
        ),
        {"start": start, "end": end},
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- roll-up -----------------------------------------------------------------------------


async def days_to_roll_up(session: WriteSession, since: date, until: date) -> list[date]:
    """Dirty days, and days of [since, until] without a roll-up yet, oldest first (the dirty
    rows are locked so two roll-ups do not do the same work)."""
    result = await session.scalars(
        text(
            """
            SELECT day FROM (
                SELECT day FROM sla_dirty_days WHERE day <= :until
                UNION
                SELECT d::date FROM generate_series(CAST(:since AS date), CAST(:until AS date),
                                                    interval '1 day') AS d
                WHERE NOT EXISTS (SELECT 1 FROM sla_day_totals t WHERE t.day = d::date)
            ) AS days ORDER BY day
            """
        ),
        {"since": since, "until": until},
    )
    return list(result)


def _population(channel: str) -> str:
    """Which EAN-days count on a (mandate) channel: those with a communicating digital
    meter; on ``nps`` also the days of GVM headpoints with a meter (``gvm_headpoint``)."""
    return "(s.counted OR s.gvm_headpoint)" if channel == "nps" else "s.counted"


async def roll_up(session: WriteSession, days: Sequence[date], now: datetime) -> None:
    """Roll up ``days``: add the EAN-days that were expected but never arrived (classified),
    classify those of its EAN-days written unclassified (before migration 0034, or in bulk by
    hand), and recompute their totals and delay counts. EAN-days are classified when they
    are written and again when the registry changes (:func:`reclassify_marked`), not here."""
    if not days:
        return
    params: dict[str, Any] = {"days": list(days), "now": now}
    expected = f"""
        SELECT ap.ean, d.day FROM unnest(CAST(:days AS date[])) AS d(day)
        JOIN access_points ap ON ap.meter_type = 'DM' OR ap.gvm
        WHERE {_EXPECTED.format(day="d.day")}
          AND NOT EXISTS (SELECT 1 FROM sla_ean_days e WHERE e.ean = ap.ean AND e.day = d.day)
    """  # noqa: S608  fixed text
    await session.execute(
        text(
            f"""
            INSERT INTO sla_ean_days (ean, day, counted, excluded_reason, gvm_headpoint)
            SELECT ean, day, counted, excluded_reason, gvm_headpoint
            FROM ({classified(expected)}) AS c
            ORDER BY ean, day
            ON CONFLICT (ean, day) DO NOTHING
            """  # noqa: S608  fixed text
        ),
        params,
    )
    unclassified = (
        "SELECT ean, day FROM sla_ean_days "
        "WHERE day = ANY(CAST(:days AS date[])) AND counted IS NULL"
    )
    await session.execute(
        text(
            f"""
            UPDATE sla_ean_days s SET counted = c.counted, excluded_reason = c.excluded_reason,
                gvm_headpoint = c.gvm_headpoint
            FROM ({classified(unclassified)}) AS c
            WHERE s.ean = c.ean AND s.day = c.day AND s.counted IS NULL
            """  # noqa: S608  fixed text
        ),
        params,
    )
    await session.execute(
        text(
            """
            INSERT INTO sla_day_totals AS t (day, expected, delivered, validated,
                excluded_not_communicating, excluded_no_digital_meter,
                excluded_unknown_access_point, rolled_up_at)
            SELECT d.day,
                count(s.ean) FILTER (WHERE s.counted),
                count(s.ean) FILTER (WHERE s.counted AND s.delivered_at IS NOT NULL),
                count(s.ean) FILTER (WHERE s.counted AND s.validated_at IS NOT NULL),
                count(s.ean) FILTER (WHERE s.excluded_reason = 'not_communicating'),
                count(s.ean) FILTER (WHERE s.excluded_reason = 'no_digital_meter'),
                count(s.ean) FILTER (WHERE s.excluded_reason = 'unknown_access_point'),
                :now
            FROM unnest(CAST(:days AS date[])) AS d(day)
            LEFT JOIN sla_ean_days s ON s.day = d.day
            GROUP BY d.day
            ON CONFLICT (day) DO UPDATE SET
                expected = excluded.expected, delivered = excluded.delivered,
                validated = excluded.validated,
                excluded_not_communicating = excluded.excluded_not_communicating,
                excluded_no_digital_meter = excluded.excluded_no_digital_meter,
                excluded_unknown_access_point = excluded.excluded_unknown_access_point,
                rolled_up_at = excluded.rolled_up_at
            """
        ),
        params,
    )
    await session.execute(
        text("DELETE FROM sla_day_delays WHERE day = ANY(CAST(:days AS date[]))"), params
    )
    await session.execute(
        text(
            f"""
            INSERT INTO sla_day_delays (day, data, delay_hours, ean_days)
            SELECT s.day, 'informative', {_delay_hours("s.delivered_at")}, count(*)
            FROM sla_ean_days s
            WHERE s.day = ANY(CAST(:days AS date[])) AND s.counted
              AND s.delivered_at IS NOT NULL
            GROUP BY 1, 2, 3
            UNION ALL
            SELECT s.day, 'validated', {_delay_hours("s.validated_at")}, count(*)
            FROM sla_ean_days s
            WHERE s.day = ANY(CAST(:days AS date[])) AND s.counted
              AND s.validated_at IS NOT NULL
            GROUP BY 1, 2, 3
            """  # noqa: S608  fixed text
        ),
        params,
    )
    await _roll_up_esps(session, days, None)
    await session.execute(
        text("DELETE FROM sla_dirty_days WHERE day = ANY(CAST(:days AS date[]))"), params
    )


# The EAN-days of the marks (``m``) that exist.
_MARKED = """
    SELECT t.ean, t.day FROM m
    JOIN sla_ean_days t ON t.ean = m.ean AND t.day >= m.from_day AND t.day < m.to_day
"""
# The EAN-days of the marks that are expected on days already rolled up: the candidate
# days are those of the access point's communication periods and GVM meters (never more
# than the rolled-up days), and :data:`_EXPECTED` decides. Only the missing ones are
# classified (most exist).
_MARKED_EXPECTED = f"""
    SELECT DISTINCT ap.ean, t.day FROM m
    JOIN access_points ap ON ap.ean = m.ean
    CROSS JOIN LATERAL (
        SELECT cp.valid_from AS first, cp.valid_to AS stop FROM communication_periods cp
        WHERE cp.access_point_id = ap.id AND ap.meter_type = 'DM'
        UNION ALL
        SELECT pm.installed_from, pm.installed_to FROM physical_meters pm
        WHERE pm.access_point_id = ap.id AND ap.gvm
    ) AS p
    JOIN sla_day_totals t ON t.day >= greatest(p.first, m.from_day)
     AND t.day < least(coalesce(p.stop, 'infinity'), m.to_day)
    WHERE NOT EXISTS (SELECT 1 FROM sla_ean_days e WHERE e.ean = ap.ean AND e.day = t.day)
      AND {_EXPECTED.format(day="t.day")}
"""  # noqa: S608  fixed text
# The EAN-days whose classification the registry's changes may have changed: a trigger on
# access_points, communication_periods and physical_meters (migration 0034) appends marks
# (EAN, [from_day, to_day)). Each mark is used by two runs of the job: the first sets
# ``seen``, the second deletes it. Ingest and the registry's own writers exclude each other
# on the access point's row, but a writer that does not lock it may commit while an ingest
# statement that read the registry before it has yet to commit, after the first run; the
# second run, one job period later, classifies those rows again.
_RECLASSIFY = f"""
    WITH gone AS (
        DELETE FROM sla_classification_marks
        WHERE seen AND ean = ANY(CAST(:eans AS varchar[])) RETURNING ean, from_day, to_day
    ),
    fresh AS (
        UPDATE sla_classification_marks SET seen = true
        WHERE NOT seen AND ean = ANY(CAST(:eans AS varchar[]))
        RETURNING ean, from_day, to_day
    ),
    m AS (
        SELECT ean, min(from_day) AS from_day, max(to_day) AS to_day
        FROM (SELECT * FROM gone UNION ALL SELECT * FROM fresh) AS both_marks GROUP BY ean
    ),
    inserted AS (
        INSERT INTO sla_ean_days AS s (ean, day, counted, excluded_reason, gvm_headpoint)
        SELECT ean, day, counted, excluded_reason, gvm_headpoint
        FROM ({classified(_MARKED_EXPECTED)}) AS c
        ORDER BY ean, day
        ON CONFLICT (ean, day) DO NOTHING
        RETURNING s.day
    ),
    changed AS (
        UPDATE sla_ean_days s SET counted = c.counted, excluded_reason = c.excluded_reason,
            gvm_headpoint = c.gvm_headpoint
        FROM ({classified(_MARKED)}) AS c
        WHERE s.ean = c.ean AND s.day = c.day
          AND (s.counted, s.excluded_reason, s.gvm_headpoint)
              IS DISTINCT FROM (c.counted, c.excluded_reason, c.gvm_headpoint)
        RETURNING s.day
    ),
    dirty AS (
        INSERT INTO sla_dirty_days (day)
        SELECT DISTINCT day FROM (SELECT day FROM inserted UNION ALL SELECT day FROM changed)
            AS d ORDER BY day
        ON CONFLICT (day) DO NOTHING
    )
    SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM inserted),
           (SELECT count(*) FROM changed)
"""  # noqa: S608  fixed text


@dataclass(frozen=True)
class Reclassified:
    eans: int  # marked EANs
    added: int  # expected EAN-days added on days already rolled up
    changed: int  # EAN-days whose classification changed


async def marked_eans(session: ReadSession) -> list[str]:
    """The EANs with classification marks, in order."""
    found = await session.scalars(
        text("SELECT DISTINCT ean FROM sla_classification_marks ORDER BY ean")
    )
    return list(found)


async def reclassify_marked(session: WriteSession, eans: Sequence[str]) -> Reclassified:
    """Classify again the EAN-days of the marks of ``eans`` the registry's changes left,
    add the EAN-days they made expected on days already rolled up, and mark the days of
    both dirty (the roll-up that follows redoes them). Marks of other EANs (made since
    ``eans`` were read) wait for the next run."""
    if not eans:
        return Reclassified(0, 0, 0)
    row = (await session.execute(text(_RECLASSIFY), {"eans": list(eans)})).one()
    return Reclassified(int(row[0]), int(row[1]), int(row[2]))


# The per-ESP roll-ups. Which mandate-days count is the definition of :func:`_esp_days`
# (approved mandates, a whole Brussels day inside the data period and the tenure), but the
# contract of the organisation, which depends on the day of the request, is checked when
# reading; ``live_esp_days`` computes the same figures from the EAN-days, to check them.
# Whether an EAN-day counts is a group of the join, not a filter on it: the classification
# was written in the same transaction, so the planner's statistics still say "unclassified"
# and a filter on it would be estimated at one row (a nested loop over every pair).
_ESP_ROLL_UP = """
    WITH p AS (
        SELECT q.day, {organisation} AS organisation_id,
               q.day::timestamp AT TIME ZONE 'Europe/Brussels' AS day_start,
               (q.day + 1)::timestamp AT TIME ZONE 'Europe/Brussels' AS day_end
        FROM {source}
    ),
    e AS (
        SELECT DISTINCT m.organisation_id, m.channel, m.ean, p.day
        FROM p JOIN mandates m ON m.status = 'approved' {same_organisation}
         AND m.data_period_from <= p.day_start AND m.data_period_to >= p.day_end
         AND (m.tenure_from IS NULL OR m.tenure_from <= p.day_start)
         AND (m.tenure_to IS NULL OR m.tenure_to >= p.day_end)
    ),
    g AS (
        SELECT e.day, e.organisation_id, e.channel,
               CASE WHEN s.delivered_at IS NOT NULL THEN {informative} END AS informative,
               CASE WHEN s.validated_at IS NOT NULL THEN {validated} END AS validated,
               count(*) AS n
        FROM e JOIN sla_ean_days s ON s.ean = e.ean AND s.day = e.day
        WHERE s.day = ANY(CAST(:days AS date[]))
        GROUP BY 1, 2, 3, 4, 5, (s.counted OR (e.channel = 'nps' AND s.gvm_headpoint)) IS TRUE
        HAVING (s.counted OR (e.channel = 'nps' AND s.gvm_headpoint)) IS TRUE
    ),
    totals AS (
        INSERT INTO sla_esp_day_totals (day, organisation_id, channel, expected)
        SELECT day, organisation_id, channel, sum(n) FROM g GROUP BY 1, 2, 3
    )
    INSERT INTO sla_esp_day_delays (day, organisation_id, channel, data, delay_hours, ean_days)
    SELECT day, organisation_id, channel, 'informative', informative, sum(n) FROM g
    WHERE informative IS NOT NULL GROUP BY 1, 2, 3, 5
    UNION ALL
    SELECT day, organisation_id, channel, 'validated', validated, sum(n) FROM g
    WHERE validated IS NOT NULL GROUP BY 1, 2, 3, 5
"""


async def _roll_up_esps(
    session: WriteSession, days: Sequence[date], organisation_ids: Sequence[int] | None
) -> None:
    """Recompute the per-ESP roll-ups of ``days`` (every organisation), or with
    ``organisation_ids`` of the pairs (``days[i]``, ``organisation_ids[i]``)."""
    if not days:
        return
    params: dict[str, Any] = {"days": list(days), "organisations": list(organisation_ids or [])}
    if organisation_ids is None:
        where = "day = ANY(CAST(:days AS date[]))"
        source = "unnest(CAST(:days AS date[])) AS q(day)"
        organisation, same_organisation = "NULL::integer", ""
    else:
        where = (
            "(day, organisation_id) IN (SELECT * FROM unnest(CAST(:days AS date[]), "
            "CAST(:organisations AS integer[])))"
        )
        source = (
            "unnest(CAST(:days AS date[]), CAST(:organisations AS integer[])) "
            "AS q(day, organisation_id)"
        )
        organisation, same_organisation = (
            "q.organisation_id",
            "AND m.organisation_id = p.organisation_id",
        )
    for table in ("sla_esp_day_totals", "sla_esp_day_delays"):
        await session.execute(text(f"DELETE FROM {table} WHERE {where}"), params)  # noqa: S608
    await session.execute(
        text(
            _ESP_ROLL_UP.format(
                source=source,
                organisation=organisation,
                same_organisation=same_organisation,
                informative=_delay_hours("s.delivered_at"),
                validated=_delay_hours("s.validated_at"),
            )
        ),
        params,
    )


# The DSO-wide figures of a mandate channel (see :func:`live_mandate_days`): per day, the
# EAN-days under an approved mandate of any ESP, each once. The contracts are not looked
# at (they depend on the day of the request): :func:`uncovered_organisations` says when
# the figures differ from the definition. The same grouping as :data:`_ESP_ROLL_UP`.
_MANDATE_ROLL_UP = """
    WITH p AS (
        SELECT q.day,
               q.day::timestamp AT TIME ZONE 'Europe/Brussels' AS day_start,
               (q.day + 1)::timestamp AT TIME ZONE 'Europe/Brussels' AS day_end
        FROM unnest(CAST(:days AS date[])) AS q(day)
    ),
    e AS (
        SELECT DISTINCT m.channel, m.ean, p.day
        FROM p JOIN mandates m ON m.status = 'approved'
         AND m.channel = ANY(CAST(:channels AS varchar[]))
         AND m.data_period_from <= p.day_start AND m.data_period_to >= p.day_end
         AND (m.tenure_from IS NULL OR m.tenure_from <= p.day_start)
         AND (m.tenure_to IS NULL OR m.tenure_to >= p.day_end)
    ),
    g AS (
        SELECT e.day, e.channel,
               CASE WHEN s.delivered_at IS NOT NULL THEN {informative} END AS informative,
               CASE WHEN s.validated_at IS NOT NULL THEN {validated} END AS validated,
               count(*) AS n
        FROM e JOIN sla_ean_days s ON s.ean = e.ean AND s.day = e.day
        WHERE s.day = ANY(CAST(:days AS date[]))
        GROUP BY 1, 2, 3, 4, (s.counted OR (e.channel = 'nps' AND s.gvm_headpoint)) IS TRUE
        HAVING (s.counted OR (e.channel = 'nps' AND s.gvm_headpoint)) IS TRUE
    ),
    totals AS (
        INSERT INTO sla_mandate_day_totals (day, channel, expected)
        SELECT day, channel, sum(n) FROM g GROUP BY 1, 2
    )
    INSERT INTO sla_mandate_day_delays (day, channel, data, delay_hours, ean_days)
    SELECT day, channel, 'informative', informative, sum(n) FROM g
    WHERE informative IS NOT NULL GROUP BY 1, 2, 4
    UNION ALL
    SELECT day, channel, 'validated', validated, sum(n) FROM g
    WHERE validated IS NOT NULL GROUP BY 1, 2, 4
"""


async def roll_up_mandate_days(
    session: WriteSession, days: Sequence[date], channels: Sequence[str]
) -> None:
    """Recompute the DSO-wide mandate-day roll-ups of ``days`` on ``channels``: the job
    calls it for the days it rolled up and those whose per-ESP roll-ups mandate changes
    marked (the same marks: a mandate change marks its organisation's days)."""
    if not days or not channels:
        return
    params: dict[str, Any] = {"days": sorted(set(days)), "channels": list(channels)}
    for table in ("sla_mandate_day_totals", "sla_mandate_day_delays"):
        await session.execute(
            text(
                f"DELETE FROM {table} WHERE day = ANY(CAST(:days AS date[])) "  # noqa: S608
                "AND channel = ANY(CAST(:channels AS varchar[]))"
            ),
            params,
        )
    await session.execute(
        text(
            _MANDATE_ROLL_UP.format(
                informative=_delay_hours("s.delivered_at"),
                validated=_delay_hours("s.validated_at"),
            )
        ),
        params,
    )


async def claim_esp_marks(session: WriteSession) -> list[tuple[date, int]]:
    """Claim the (day, organisation) pairs that mandate changes marked, by deleting their
    marks. Claimed before the days are rolled up, so that a mandate committed after the
    claim keeps its mark for the next run, and one committed before it is seen by the
    roll-up's later statements."""
    claimed = await session.execute(
        text("DELETE FROM sla_esp_dirty_days RETURNING day, organisation_id")
    )
    return sorted({(row[0], row[1]) for row in claimed})


async def roll_up_esp_pairs(
    session: WriteSession, pairs: Sequence[tuple[date, int]], rolled_up: Sequence[date]
) -> list[date]:
    """Redo the per-ESP roll-ups of claimed ``pairs`` but those of the ``rolled_up`` days
    (done whole); returns their days."""
    done = set(rolled_up)
    left = [(day, organisation_id) for day, organisation_id in pairs if day not in done]
    await _roll_up_esps(session, [day for day, _ in left], [org for _, org in left])
    return sorted({day for day, _ in left})


# --- reads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCounts:
    """One day's counted EAN-days (for one organisation, or all) and how many were
    delivered with each delay in hours; ``expected - sum(delays)`` never arrived."""

    day: date
    expected: int
    delays: dict[int, int]
    organisation_id: int | None = None


def _day_counts(totals: Iterable[Any], delays: Iterable[Any]) -> list[DayCounts]:
    """Days from rows (day, expected) and their delays from rows (day, hours, EAN-days)."""
    by_day: dict[date, dict[int, int]] = {}
    for day, hours, count in delays:
        by_day.setdefault(day, {})[hours] = count
    return [
        DayCounts(day, expected, by_day.get(day, {}))
        for day, expected in sorted((row[0], row[1]) for row in totals)
    ]


async def rolled_up_days(
    session: ReadSession, start: date, end: date, data: Data = "informative"
) -> list[DayCounts]:
    """The DSO-wide roll-ups of the days [start, end) (days not rolled up yet are absent),
    with the delays of the ``data`` delivery."""
    totals = await session.execute(
        text("SELECT day, expected FROM sla_day_totals WHERE day >= :start AND day < :end"),
        {"start": start, "end": end},
    )
    delays = await session.execute(
        text(
            "SELECT day, delay_hours, ean_days FROM sla_day_delays "
            "WHERE day >= :start AND day < :end AND data = :data"
        ),
        {"start": start, "end": end, "data": data},
    )
    return _day_counts(totals, delays)


@dataclass(frozen=True)
class Exclusions:
    not_communicating: int
    no_digital_meter: int
    unknown_access_point: int


async def exclusions(session: ReadSession, start: date, end: date) -> Exclusions:
    row = (
        await session.execute(
            text(
                "SELECT coalesce(sum(excluded_not_communicating), 0), "
                "coalesce(sum(excluded_no_digital_meter), 0), "
                "coalesce(sum(excluded_unknown_access_point), 0) "
                "FROM sla_day_totals WHERE day >= :start AND day < :end"
            ),
            {"start": start, "end": end},
        )
    ).one()
    return Exclusions(int(row[0]), int(row[1]), int(row[2]))


def _releases(day: str) -> str:
    """The mandate ``m`` releases the Brussels day ``day`` (an SQL date) on ``:channel``: it
    is approved, under a contract covering the channel today, and the whole day lies inside
    its data period narrowed to the tenure of the people who gave it (an ESP's figures never
    count another occupant's days)."""
    start = f"({day}::timestamp AT TIME ZONE 'Europe/Brussels')"
    end = f"(({day} + 1)::timestamp AT TIME ZONE 'Europe/Brussels')"
    return f"""
        m.status = 'approved' AND m.channel = :channel
          AND {start} >= m.data_period_from AND {end} <= m.data_period_to
          AND (m.tenure_from IS NULL OR {start} >= m.tenure_from)
          AND (m.tenure_to IS NULL OR {end} <= m.tenure_to)
          AND EXISTS (
              SELECT 1 FROM data_access_contracts c
              WHERE c.organisation_id = m.organisation_id AND c.status = 'approved'
                AND c.valid_from <= :today AND (c.valid_to IS NULL OR c.valid_to > :today)
                AND m.channel = ANY(c.channels))
    """  # noqa: S608  fixed text


def _esp_days(organisation_ids: Sequence[int] | None) -> str:
    """The EAN-days (``ean``, ``day``, ``organisation_id``) that approved mandates on
    ``:channel`` release (see :func:`_releases`) inside [``:start``, ``:end``).
    ``organisation_ids`` None: every ESP."""
    which = "" if organisation_ids is None else "AND m.organisation_id = ANY(:organisations) "
    return f"""
        SELECT DISTINCT m.organisation_id, m.ean, g.day::date AS day
        FROM mandates m
        CROSS JOIN LATERAL generate_series(
            greatest(CAST(:start AS date),
                     (m.data_period_from AT TIME ZONE 'Europe/Brussels')::date),
            least(CAST(:end AS date) - 1,
                  (m.data_period_to AT TIME ZONE 'Europe/Brussels')::date),
            interval '1 day') AS g(day)
        WHERE {_releases("g.day::date")} {which}
    """  # noqa: S608  fixed text


def _under_mandate(organisation_ids: Sequence[int] | None) -> str:
    """The EAN-day ``s`` is one of :func:`_esp_days`'s: a condition on the row, checked
    through the mandates of its EAN, so that a read in (day, EAN) order that stops after a
    page never lists every mandate-day of the period."""
    which = "" if organisation_ids is None else "AND m.organisation_id = ANY(:organisations) "
    return (
        f"EXISTS (SELECT 1 FROM mandates m WHERE m.ean = s.ean {which}"  # noqa: S608
        f"AND {_releases('s.day')})"
    )


_CONTRACT_COVERS = """
    EXISTS (SELECT 1 FROM data_access_contracts c
            WHERE c.organisation_id = t.organisation_id AND c.status = 'approved'
              AND c.valid_from <= :today AND (c.valid_to IS NULL OR c.valid_to > :today)
              AND t.channel = ANY(c.channels))
"""


async def esp_days(
    session: ReadSession,
    channel: str,
    start: date,
    end: date,
    today: date,
    organisation_ids: Sequence[int] | None,
    data: Data = "informative",
) -> list[DayCounts]:
    """Per organisation and day: the counted EAN-days of its mandates on ``channel`` and
    the delays of their ``data`` delivery, from the per-ESP roll-ups (days not rolled up
    yet are absent), for organisations whose contract covers ``channel`` on ``today``."""
    which = "" if organisation_ids is None else "AND t.organisation_id = ANY(:organisations) "
    params: dict[str, Any] = {
        "channel": channel,
        "start": start,
        "end": end,
        "today": today,
        "data": data,
        "organisations": list(organisation_ids or []),
    }
    result = await session.execute(
        text(
            f"""
            SELECT t.organisation_id, t.day, t.expected, d.delay_hours, d.ean_days
            FROM sla_esp_day_totals t
            LEFT JOIN sla_esp_day_delays d
              ON d.day = t.day AND d.organisation_id = t.organisation_id
             AND d.channel = t.channel AND d.data = :data
            WHERE t.channel = :channel AND t.day >= :start AND t.day < :end {which}
              AND {_CONTRACT_COVERS}
            """  # noqa: S608  fixed text
        ),
        params,
    )
    found: dict[tuple[int, date], DayCounts] = {}
    for organisation_id, day, expected, hours, count in result:
        counts = found.get((organisation_id, day))
        if counts is None:
            counts = found[(organisation_id, day)] = DayCounts(day, expected, {}, organisation_id)
        if hours is not None:
            counts.delays[hours] = count
    return [found[key] for key in sorted(found)]


async def live_esp_days(
    session: ReadSession,
    channel: str,
    start: date,
    end: date,
    today: date,
    organisation_ids: Sequence[int] | None,
    data: Data = "informative",
) -> list[DayCounts]:
    """What :func:`esp_days` reads, computed from the EAN-days and the mandates (seconds
    at millions of EAN-days): the definition the per-ESP roll-ups must equal once they
    are up to date (checked by the tests)."""
    params: dict[str, Any] = {
        "channel": channel,
        "start": start,
        "end": end,
        "today": today,
        "organisations": list(organisation_ids or []),
    }
    delivered = _DELIVERED[data]
    result = await session.execute(
        text(
            f"""
            WITH e AS ({_esp_days(organisation_ids)})
            SELECT e.organisation_id, s.day,
                   CASE WHEN {delivered} IS NULL THEN NULL ELSE {_delay_hours(delivered)} END
                       AS hours,
                   count(*) AS n
            FROM e JOIN sla_ean_days s ON s.ean = e.ean AND s.day = e.day
            WHERE {_population(channel)}
            GROUP BY 1, 2, 3
            """  # noqa: S608  fixed text
        ),
        params,
    )
    found: dict[tuple[int, date], tuple[int, dict[int, int]]] = {}
    for organisation_id, day, hours, count in result:
        expected, delays = found.get((organisation_id, day), (0, {}))
        if hours is not None:
            delays[hours] = count
        found[(organisation_id, day)] = (expected + count, delays)
    return [
        DayCounts(day, expected, delays, organisation_id)
        for (organisation_id, day), (expected, delays) in sorted(found.items())
    ]


async def live_mandate_days(
    session: ReadSession, channel: str, start: date, end: date, today: date, data: Data
) -> list[DayCounts]:
    """Per day: the counted EAN-days under an approved mandate of any ESP on ``channel``
    (each EAN-day once), with the delays of their ``data`` delivery. The DSO-wide figures
    of the NPS channel, whose EANs are those the ESPs listed (GVM installations, outside
    the roll-ups' population of communicating digital meters). Computed from the EAN-days
    and the mandates (a second at a million EAN-days): the definition that
    :func:`mandate_days` equals while :func:`uncovered_organisations` finds none."""
    delivered = _DELIVERED[data]
    result = await session.execute(
        text(
            f"""
            WITH e AS (SELECT DISTINCT ean, day FROM ({_esp_days(None)}) AS m)
            SELECT s.day,
                   CASE WHEN {delivered} IS NULL THEN NULL ELSE {_delay_hours(delivered)} END
                       AS hours,
                   count(*) AS n
            FROM e JOIN sla_ean_days s ON s.ean = e.ean AND s.day = e.day
            WHERE {_population(channel)}
            GROUP BY 1, 2
            """  # noqa: S608  fixed text
        ),
        {"channel": channel, "start": start, "end": end, "today": today},
    )
    found: dict[date, tuple[int, dict[int, int]]] = {}
    for day, hours, count in result:
        expected, delays = found.get(day, (0, {}))
        if hours is not None:
            delays[hours] = count
        found[day] = (expected + count, delays)
    return [DayCounts(day, expected, delays) for day, (expected, delays) in sorted(found.items())]


async def mandate_days(
    session: ReadSession, channel: str, start: date, end: date, data: Data
) -> list[DayCounts]:
    """What :func:`live_mandate_days` computes, from the roll-ups per day and mandate
    channel (days not rolled up yet are absent), which count the mandates of every ESP
    whatever its contract: equal to it while :func:`uncovered_organisations` finds none."""
    totals = await session.execute(
        text(
            "SELECT day, expected FROM sla_mandate_day_totals "
            "WHERE channel = :channel AND day >= :start AND day < :end"
        ),
        {"channel": channel, "start": start, "end": end},
    )
    delays = await session.execute(
        text(
            "SELECT day, delay_hours, ean_days FROM sla_mandate_day_delays "
            "WHERE channel = :channel AND day >= :start AND day < :end AND data = :data"
        ),
        {"channel": channel, "start": start, "end": end, "data": data},
    )
    return _day_counts(totals, delays)


async def uncovered_organisations(
    session: ReadSession, channel: str, start: date, end: date, today: date
) -> list[int]:
    """Organisations with counted EAN-days under their mandates on ``channel`` in [start,
    end) (per the per-ESP roll-ups, kept by the same job as the mandate-day roll-ups) whose
    contract does not cover the channel on ``today``: their days are in
    :func:`mandate_days` but not in :func:`live_mandate_days`."""
    result = await session.scalars(
        text(
            f"""
            SELECT DISTINCT t.organisation_id FROM sla_esp_day_totals t
            WHERE t.channel = :channel AND t.day >= :start AND t.day < :end
              AND NOT {_CONTRACT_COVERS}
            ORDER BY 1
            """  # noqa: S608  fixed text
        ),
        {"channel": channel, "start": start, "end": end, "today": today},
    )
    return list(result)


# The EAN-days that can be late under any target of at least a floor: not delivered (yet),
# or delivered more than the floor after their foreseen date. A partial index in (day, EAN)
# order holds just those (migration 0036), so a page of late items reads about the rows that
# are late, or on their way to be, rather than every EAN-day of the period (31 M a month
# nationally); with a target below the floor the list reads every EAN-day. An update that
# sets ``delivered_at`` is not heap-only any more (rare: a day is mostly complete when first
# inserted). Validated data has no such index: ``validated_at`` is set by an update on
# nearly every EAN-day (validated values come days later), each of which would then add
# entries to every index of the table; its pages read every EAN-day of the period.
LATE_FLOOR_HOURS: dict[Data, int] = {"informative": 24}


def maybe_late(data: Data, alias: str = "s.") -> str:
    """The predicate of the partial index of ``data``'s possibly late EAN-days (the model
    and the migration write it out; a test checks they agree, as the planner uses the index
    only for a query that states it). Immutable, as an index predicate must be: a difference
    of two instants against an interval of hours."""
    delivered = f"{alias}{_DELIVERED[data].removeprefix('s.')}"
    foreseen = f"(({alias}day + 1)::timestamp AT TIME ZONE 'Europe/Brussels')"
    return (
        f"({delivered} IS NULL OR {delivered} - {foreseen} "
        f"> interval '{LATE_FLOOR_HOURS[data]} hours')"
    )


@dataclass(frozen=True)
class LateItem:
    """``delivered_at``: when the measured delivery (informative or validated) happened."""

    ean: str
    day: date
    delivered_at: datetime | None
    delay_hours: int


# Below this many EANs under mandate on the channel, an ESP's late-item page reads from its
# own EANs; above it, from the period's possibly late EAN-days in (day, EAN) order (measured
# at 1.25 M access points: an ESP of 5,102 EANs 945 ms by the walk, about 20 ms from its
# EANs; one of 50,000 about 15 ms by the walk, 120 to 300 ms from its EANs).
LATE_FROM_OWN_EANS = 20_000
_OWN_MANDATES = (
    "FROM mandates m WHERE m.organisation_id = ANY(:organisations) "
    "AND m.status = 'approved' AND m.channel = :channel"
)
_OWN_EANS = f"SELECT DISTINCT m.ean {_OWN_MANDATES}"


async def _few_own_eans(session: ReadSession, params: dict[str, Any]) -> bool:
    """Whether the ESP of ``params`` has fewer than :data:`LATE_FROM_OWN_EANS` mandates on
    the channel (counted up to that many: the cost stays bounded)."""
    counted = await session.scalar(
        text(
            f"SELECT count(*) FROM (SELECT 1 {_OWN_MANDATES} LIMIT :cap) AS m"  # noqa: S608
        ),
        {**params, "cap": LATE_FROM_OWN_EANS},
    )
    return int(counted or 0) < LATE_FROM_OWN_EANS


async def late_items(
    session: ReadSession,
    *,
    channel: str,
    start: date,
    end: date,
    today: date,
    now: datetime,
    target_hours: int,
    organisation_id: int | None,
    ean: str | None,
    after: tuple[date, str] | None,
    limit: int,
    data: Data = "informative",
) -> list[LateItem]:
    """Counted EAN-days of [start, end) whose ``data`` delivery came after their deadline
    (foreseen date + ``target_hours``), or not by then (missing, delay counted to ``now``),
    ordered by (day, EAN); only the days of ``organisation_id``'s mandates on ``channel``
    when given."""
    params: dict[str, Any] = {
        "channel": channel,
        "start": start,
        "end": end,
        "today": today,
        "now": now,
        "limit": limit,
        "organisations": [organisation_id] if organisation_id is not None else [],
        "deadline": float(target_hours * 3600),
    }
    where = ""
    if data in LATE_FLOOR_HOURS and target_hours >= LATE_FLOOR_HOURS[data]:
        # Only the EAN-days a partial index holds can be late (see :func:`maybe_late`).
        where += f" AND {maybe_late(data)}"
    if organisation_id is not None or channel == "nps":
        # An ESP's days; on NPS also DSO-wide only the days of NPS mandates (see
        # :func:`live_mandate_days`).
        where += " AND " + _under_mandate(None if organisation_id is None else [organisation_id])
    if ean is not None:
        where += " AND s.ean = :ean"
        params["ean"] = ean
    if after is not None:
        where += " AND (s.day, s.ean) > (:after_day, :after_ean)"
        params.update(after_day=after[0], after_ean=after[1])
    delivered = _DELIVERED[data]
    source = "sla_ean_days s"
    if organisation_id is not None and await _few_own_eans(session, params):
        # An ESP with few EANs reads from them (the possibly late EAN-days are indexed in
        # (EAN, day) order too): walking the period's possibly late EAN-days in (day, EAN)
        # order would pass most of the DSO's before it found a page of its own.
        source = f"({_OWN_EANS}) AS e JOIN sla_ean_days s ON s.ean = e.ean"
    result = await session.execute(
        text(
            f"""
            SELECT s.ean, s.day, {delivered},
                   {_delay_hours(f"coalesce({delivered}, :now)")}
            FROM {source}
            WHERE s.day >= :start AND s.day < :end AND {_population(channel)}
              AND coalesce({delivered}, :now)
                  > {_FORESEEN} + make_interval(secs => :deadline){where}
            ORDER BY s.day, s.ean LIMIT :limit
            """  # noqa: S608  fixed text
        ),
        params,
    )
    return [LateItem(row[0], row[1], row[2], int(row[3])) for row in result]


# --- breaches ----------------------------------------------------------------------------


async def record_breach(
    session: WriteSession,
    organisation_id: int,
    channel: str,
    month: date,
    share_on_time: float,
    target_share: float,
) -> bool:
    """Remember that ``organisation_id`` was told about ``month`` on ``channel``; False when
    it had been told already."""
    result = await session.execute(
        text(
            "INSERT INTO sla_breaches (organisation_id, channel, month, share_on_time, "
            "target_share) VALUES (:organisation, :channel, :month, :share, :target) "
            "ON CONFLICT DO NOTHING"
        ),
        {
            "organisation": organisation_id,
            "channel": channel,
            "month": month,
            "share": share_on_time,
            "target": target_share,
        },
    )
    return bool(getattr(result, "rowcount", 0))
