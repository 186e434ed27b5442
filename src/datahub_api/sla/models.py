"""What the SLA tracker keeps: one row per EAN-day, and roll-ups per day.

* ``sla_ean_days``: one row per (EAN, Brussels day). Ingest writes it in its own
  transaction (:mod:`datahub_api.sla.tracking`): how many interval streams of the day
  arrived, how many are complete, and ``delivered_at``, the insert time at which every
  stream of the day first was complete; likewise how many first held only validated values,
  and ``validated_at``, when every stream first did. Both are set once and never move
  (corrections do not change when a day was first delivered). The roll-up job adds a row
  for every EAN-day that was expected but never arrived. Every row is classified when it is
  written (ingest, the rebuild from day blocks, the roll-up's missing EAN-days; one
  definition, ``repository.classified``): ``counted`` when a communicating digital meter
  was present that day, else ``excluded_reason``; ``gvm_headpoint`` when it is a GVM
  headpoint with a meter (counted on the NPS channel). It changes only when the registry
  does: see ``sla_classification_marks``.
* ``sla_day_totals`` and ``sla_day_delays``: per day, the counted EAN-days, how many were
  delivered (and validated), and how many were delivered (``data`` = ``informative``) or
  validated (``validated``) with each delay (whole hours after the foreseen date).
  Every channel's figures follow from them (its target is a number of days), so the
  DSO-wide report sums a few hundred rows whatever the number of EAN-days.
* ``sla_esp_day_totals`` and ``sla_esp_day_delays``: the same per day, organisation and
  mandate channel: the counted EAN-days of the organisation's approved mandates on the
  channel (see ``repository.live_esp_days`` for which), and their delays per ``data``. The
  per-ESP report sums these; whether the organisation's contract covers the channel is
  decided when reading (it depends on the day of the request).
* ``sla_mandate_day_totals`` and ``sla_mandate_day_delays``: the same per day and mandate
  channel, each EAN-day once whichever ESPs' mandates it is under (the DSO-wide figures of
  the NPS channel; see ``repository.live_mandate_days``), whatever the ESPs' contracts
  (checked when reading: ``repository.uncovered_organisations``). Only the channels whose
  DSO-wide figures come from the mandates are kept.
* ``sla_dirty_days``: days whose roll-up is stale (ingest marks them; the job clears them).
* ``sla_esp_dirty_days``: (day, organisation) pairs whose per-ESP roll-up is stale: a trigger
  on ``mandates`` marks the days of every approved mandate written, changed or deleted (all
  the paths that write mandates, the bulk ones included); the job redoes and clears them.
* ``sla_classification_marks``: EAN-days whose classification a registry change may have
  changed (EAN, [from_day, to_day)): triggers on ``access_points`` (created, deleted, EAN,
  meter type or GVM flag changed), ``communication_periods`` and ``physical_meters`` (of GVM
  installations) append them, whichever path writes the registry; the job reclassifies those
  EAN-days, adds those they made expected on days already rolled up, marks their days dirty,
  and deletes each mark at its second run (an ingest that read the registry before the
  change may commit after the first).
* ``sla_breaches``: the months an ESP was told about with an ``sla.breached`` event.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from datahub_api.db import Base

_MAYBE_LATE_INFORMATIVE = (
    "delivered_at IS NULL OR delivered_at - "
    "((day + 1)::timestamp AT TIME ZONE 'Europe/Brussels') > interval '24 hours'"
)


class SlaEanDay(Base):
    __tablename__ = "sla_ean_days"
    __table_args__ = (
        PrimaryKeyConstraint("ean", "day", name="pk_sla_ean_days"),
        # Roll-up of one day, and operator lists over a period.
        Index("ix_sla_ean_days_day_ean", "day", "ean"),
        # Late-item pages: only the EAN-days that can be late under a target of at least a
        # day; ``repository.maybe_late`` states the same predicate (a test checks it).
        Index(
            "ix_sla_ean_days_late_informative",
            "day",
            "ean",
            postgresql_where=text(_MAYBE_LATE_INFORMATIVE),
        ),
        # The same EAN-days in (EAN, day) order: the pages of an ESP with few EANs.
        Index(
            "ix_sla_ean_days_late_informative_by_ean",
            "ean",
            "day",
            postgresql_where=text(_MAYBE_LATE_INFORMATIVE),
        ),
        # Pages half full (migration 0033): rows are written classified, but ingest still
        # updates each row when the day's later data arrives (validated days after the
        # informative, the other streams of the day); with room on the page those updates
        # are heap-only (HOT) and add no index entries (measured in docs/sla.md).
        # The rows written unclassified (before migration 0034, or in bulk by hand), which
        # the roll-up of their day classifies: empty in steady state. Both partial indexes
        # are built concurrently by migration 0036.
        Index(
            "ix_sla_ean_days_unclassified",
            "day",
            postgresql_where=text("counted IS NULL"),
        ),
    )

    ean: Mapped[str] = mapped_column(String(18))
    day: Mapped[date] = mapped_column(Date)  # Europe/Brussels day
    streams: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    complete_streams: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    first_inserted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When every stream of the day first held every slot; never moves once set.
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The same for validated data: streams whose every slot first held a validated (VAL)
    # value, and when all the day's streams first were so; never moves once set.
    validated_streams: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written with the row (see ``repository.classified``), again when the registry
    # changes; True when a communicating digital meter was present (the day is in the
    # denominator). None only for rows written unclassified (the roll-up classifies them).
    counted: Mapped[bool | None] = mapped_column(Boolean)
    excluded_reason: Mapped[str | None] = mapped_column(String(30))
    # Classified with ``counted``; True for the headpoint of a GVM
    # installation with a meter installed that day (read remotely every day): counted on
    # the NPS channel, which serves GVM data (GVM meters are not digital meters).
    gvm_headpoint: Mapped[bool | None] = mapped_column(Boolean)


class SlaDayTotal(Base):
    __tablename__ = "sla_day_totals"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    expected: Mapped[int] = mapped_column(Integer)  # counted EAN-days
    delivered: Mapped[int] = mapped_column(Integer)  # of which delivered (at any delay)
    validated: Mapped[int] = mapped_column(Integer, server_default="0")  # of which validated
    excluded_not_communicating: Mapped[int] = mapped_column(Integer)
    excluded_no_digital_meter: Mapped[int] = mapped_column(Integer)
    excluded_unknown_access_point: Mapped[int] = mapped_column(Integer)
    rolled_up_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaDayDelay(Base):
    __tablename__ = "sla_day_delays"
    __table_args__ = (PrimaryKeyConstraint("day", "data", "delay_hours", name="pk_sla_day_delays"),)

    day: Mapped[date] = mapped_column(Date)
    # Which delivery: ``informative`` (the day complete: ``delivered_at``) or ``validated``
    # (the day complete with validated values: ``validated_at``).
    data: Mapped[str] = mapped_column(String(12), server_default="informative")
    # Whole hours after the foreseen date (rounded up; 0 for "by the foreseen date").
    delay_hours: Mapped[int] = mapped_column(Integer)
    ean_days: Mapped[int] = mapped_column(Integer)


class SlaEspDayTotal(Base):
    __tablename__ = "sla_esp_day_totals"
    __table_args__ = (
        PrimaryKeyConstraint("day", "organisation_id", "channel", name="pk_sla_esp_day_totals"),
    )

    day: Mapped[date] = mapped_column(Date)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))  # the mandates' channel
    expected: Mapped[int] = mapped_column(Integer)  # counted EAN-days


class SlaEspDayDelay(Base):
    __tablename__ = "sla_esp_day_delays"
    __table_args__ = (
        PrimaryKeyConstraint(
            "day", "organisation_id", "channel", "data", "delay_hours", name="pk_sla_esp_day_delays"
        ),
    )

    day: Mapped[date] = mapped_column(Date)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    data: Mapped[str] = mapped_column(String(12))  # as in sla_day_delays
    delay_hours: Mapped[int] = mapped_column(Integer)
    ean_days: Mapped[int] = mapped_column(Integer)


class SlaMandateDayTotal(Base):
    __tablename__ = "sla_mandate_day_totals"
    __table_args__ = (PrimaryKeyConstraint("day", "channel", name="pk_sla_mandate_day_totals"),)

    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))  # the mandates' channel
    expected: Mapped[int] = mapped_column(Integer)  # counted EAN-days, each once


class SlaMandateDayDelay(Base):
    __tablename__ = "sla_mandate_day_delays"
    __table_args__ = (
        PrimaryKeyConstraint(
            "day", "channel", "data", "delay_hours", name="pk_sla_mandate_day_delays"
        ),
    )

    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))
    data: Mapped[str] = mapped_column(String(12))  # as in sla_day_delays
    delay_hours: Mapped[int] = mapped_column(Integer)
    ean_days: Mapped[int] = mapped_column(Integer)


class SlaDirtyDay(Base):
    __tablename__ = "sla_dirty_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaEspDirtyDay(Base):
    """A mark, appended (never unique: a mandate write never waits on the job's claim nor on
    another write that marked the same days); the job deduplicates."""

    __tablename__ = "sla_esp_dirty_days"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    organisation_id: Mapped[int] = mapped_column(Integer)  # no key: the organisation may go
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaClassificationMark(Base):
    """EAN-days whose classification a registry change may have changed: [from_day,
    to_day) of ``ean`` (``-infinity``/``infinity`` for all its days). Appended by triggers
    on ``access_points``, ``communication_periods`` and ``physical_meters`` (never unique:
    a registry write never waits on the job); the job's next run reclassifies and sets
    ``seen``, the run after deletes it."""

    __tablename__ = "sla_classification_marks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    ean: Mapped[str] = mapped_column(String(18))  # no key: the access point may go
    from_day: Mapped[date] = mapped_column(Date)
    to_day: Mapped[date] = mapped_column(Date)
    seen: Mapped[bool] = mapped_column(Boolean, server_default="false")
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaBreach(Base):
    __tablename__ = "sla_breaches"
    __table_args__ = (
        PrimaryKeyConstraint("organisation_id", "channel", "month", name="pk_sla_breaches"),
    )

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    month: Mapped[date] = mapped_column(Date)  # first day of the month
    share_on_time: Mapped[float] = mapped_column(Float)
    target_share: Mapped[float] = mapped_column(Float)
    breached_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
