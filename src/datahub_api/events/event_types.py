"""The registry of event types. The set is open: a domain adds its types with
:func:`register_event_type`; :func:`~datahub_api.events.service.publish` refuses a type
nobody registered, so a typo never reaches an ESP."""

from __future__ import annotations

import re

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

# type -> what it means (shown in the OpenAPI description of the feed and webhooks).
KNOWN_EVENT_TYPES: dict[str, str] = {}


def register_event_type(event_type: str, description: str) -> str:
    if not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise ValueError(f"event types look like 'domain.happening', not {event_type!r}")
    KNOWN_EVENT_TYPES[event_type] = description
    return event_type


def is_known(event_type: str) -> bool:
    return event_type in KNOWN_EVENT_TYPES


MANDATE_REQUESTED = register_event_type(
    "mandate.requested", "An ESP asked a customer for a mandate."
)
MANDATE_APPROVED = register_event_type("mandate.approved", "The customer approved a mandate.")
MANDATE_REJECTED = register_event_type("mandate.rejected", "The customer rejected a mandate.")
MANDATE_FINISHED = register_event_type(
    "mandate.finished",
    "A mandate ended (`finished_reason`: expired, revoked, replaced, or the tenure of the "
    "customer or grid user who gave it ended).",
)
MANDATE_RENEWAL_STATUS_CHANGED = register_event_type(
    "mandate.renewal_status_changed", "The renewal status of a mandate changed."
)
MANDATE_ENDS_AT_CHANGED = register_event_type(
    "mandate.ends_at_changed",
    "The registry learned that the customer or grid user who gave a mandate leaves the access "
    "point: the mandate ends at `ends_at` (null: no longer known).",
)
METER_DATA_AVAILABLE = register_event_type(
    "meter_data.available", "New or corrected metering data arrived for a mandated EAN."
)
CAPACITY_PEAK_CHANGED = register_event_type(
    "capacity_peak.changed",
    "A correction of quarter-hour offtake changed a month's capacity peak (its kW, quarter-hour "
    "or validation state): `month`, `before` and `after`.",
)
HISTORY_EXPORT_READY = register_event_type(
    "history_export.ready", "A yearly history export is ready to download."
)
SLA_BREACHED = register_event_type("sla.breached", "A service level was missed.")
NPS_AUDIT_REQUESTED = register_event_type(
    "nps.audit_requested", "The DSO asks to see the signed paper mandate of an NPS EAN."
)
NPS_AUDIT_DECIDED = register_event_type(
    "nps.audit_decided",
    "An NPS audit ended: evidence accepted, refused or overdue (the last two end the mandate).",
)
NPS_DAILY_FILE_READY = register_event_type(
    "nps.daily_file_ready", "A daily NPS metering-data file is ready to download."
)
ORGANISATION_SUSPENDED = register_event_type(
    "organisation.suspended",
    "The DSO suspended the organisation (`reason`): its clients and staff read and change "
    "nothing until it is resumed.",
)
ORGANISATION_RESUMED = register_event_type(
    "organisation.resumed", "The DSO lifted the organisation's suspension."
)
