"""Bodies of the SLA routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from datahub_api.sla.figures import Figures
from datahub_api.sla.service import SlaChannel

DEFINITIONS = """\
**Definitions.** The unit is an **EAN-day**: an access point and a Europe/Brussels day D.
Its **foreseen date** is the end of D (D+1 00:00 in Brussels). It is **delivered** at the
insert time at which every interval stream of the day first held every expected slot (96,
or 92/100 on DST days; 24, 23 or 25 for hourly gas). With the channel's target of T days the
**deadline** is the foreseen date + T x 24 hours: delivered by then it is **on time**, after
it **late**; not delivered when the deadline has passed it is **missing** (counts as not on
time), before that **pending** (not counted yet). Only EAN-days on which a **communicating
digital meter** was present count (others are reported apart, by reason). Later corrections
never move a day's first delivery. `share_on_time` = on time / (on time + late + missing);
the **delay** is the time from the foreseen date to the delivery, in whole hours (rounded
up).

**Informative and validated data.** Every channel but one measures *informative* data
(delivered = complete, whatever the validation state). `nps_historical` is the NPS
channel's historical-data level: the same EAN-days, **delivered when every slot of every
stream of the day first held a validated value** (state `VAL`; read, estimated and
failed-validation values are not validated); corrections never move that time either.
`channel=nps` keeps measuring NPS informative data. The NPS channel serves GVM
installations: on `nps` and `nps_historical` an EAN-day also counts when it is the headpoint
of a GVM installation with a meter installed that day (read remotely every day), and the
DSO-wide figures are those of the EAN-days under any ESP's approved NPS mandate (`excluded`
is null).

Targets (configurable, `DATAHUB_SLA_TARGETS`): `api` 3 days / 95%; `nps` informative
5 days / 95%; `nps_historical` validated 15 days / 95%; `portal` shown D+1..D+3 (3 days,
no target share: `met` is null); `annual_history` 10 days per request / 100%.

**Who sees what.** Operators (scope `sla:all`) get the DSO-wide figures (every counted
EAN-day) and the figures per ESP, or one ESP's with `organisation_id`. An ESP gets the
EAN-days of its approved mandates on the channel, inside their data periods narrowed to the
tenure of the customer who gave them (never another occupant's days), and needs the
scope its contract on that channel grants (`api`: `mandates:read`, `portal`: `consents`,
`nps` and `nps_historical`: `nps`, `annual_history`: `exports`)."""


class FiguresOut(BaseModel):
    expected: int = Field(description="Counted EAN-days (on time + late + missing + pending).")
    on_time: int
    late: int
    missing: int
    pending: int
    share_on_time: float | None = Field(
        description="on_time / (on_time + late + missing), from 0 to 1; null when nothing "
        "is decided yet."
    )
    met: bool | None = Field(
        description="share_on_time >= target_share; null without a target share or figures."
    )
    median_delay_hours: int | None = Field(
        description="Median delay of the delivered EAN-days, hours after the foreseen date."
    )
    p95_delay_hours: int | None = Field(description="95th-percentile delay, in hours.")

    @classmethod
    def of(cls, figures: Figures, target_share: float | None) -> FiguresOut:
        share = figures.share_on_time
        return cls(
            expected=figures.expected,
            on_time=figures.on_time,
            late=figures.late,
            missing=figures.missing,
            pending=figures.pending,
            share_on_time=None if share is None else round(share, 6),
            met=None if target_share is None or share is None else share >= target_share,
            median_delay_hours=figures.percentile(0.5),
            p95_delay_hours=figures.percentile(0.95),
        )


class TargetOut(BaseModel):
    days: int = Field(description="Days after the foreseen date (T x 24 hours).")
    share: float | None = Field(description="Share that must be on time; null: none.")


class GroupOut(FiguresOut):
    from_: date = Field(alias="from", description="First day of the group.")
    to: date = Field(description="The day after the group's last day.")

    model_config = {"populate_by_name": True}


class OrganisationFiguresOut(FiguresOut):
    organisation_id: int


class ExclusionsOut(BaseModel):
    not_communicating: int = Field(description="EAN-days with data but no communicating meter.")
    no_digital_meter: int = Field(
        description="EAN-days with data from a meter that is not digital."
    )
    unknown_access_point: int = Field(description="EAN-days of EANs not in the registry.")


class SlaReportOut(BaseModel):
    channel: SlaChannel
    from_: date = Field(alias="from")
    to: date
    group_by: Literal["day", "month"]
    organisation_id: int | None = Field(
        description="The ESP whose figures these are; null for the DSO-wide figures."
    )
    target: TargetOut
    total: FiguresOut
    groups: list[GroupOut]
    per_organisation: list[OrganisationFiguresOut] = Field(
        description="Operators, DSO-wide report: each ESP's figures over the period."
    )
    excluded: ExclusionsOut | None = Field(
        description="DSO-wide report: EAN-days left out of the denominator, by reason "
        "(null for an ESP's figures and on the NPS channel)."
    )
    as_of: datetime
    note: str | None = None

    model_config = {"populate_by_name": True}


class LateItemOut(BaseModel):
    ean: str
    day: date = Field(description="The Brussels day of the data.")
    status: Literal["late", "missing"]
    foreseen_at: datetime = Field(description="End of the day (D+1 00:00 Brussels).")
    deadline: datetime = Field(description="foreseen_at + the channel's target days.")
    delivered_at: datetime | None = Field(
        description="When the day was delivered (for `nps_historical`: when it was first "
        "complete with validated values); null while missing."
    )
    delay_hours: int = Field(
        description="Hours from the foreseen date to the delivery (missing: to now)."
    )


class LateItemsPageOut(BaseModel):
    items: list[LateItemOut]
    next_cursor: str | None
