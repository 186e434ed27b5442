"""SQL of the Fluvius face: its mandate body, written by PostgreSQL (a poll may return tens
of thousands of mandates). It matches :class:`schemas.Mandate` member for member; a test
compares the two."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Text, case, func, literal_column

from datahub_api.fluvius_v3 import schemas as v3
from datahub_api.mandates import repository as mandates_repository
from datahub_api.mandates.models import Mandate, MandateStatus, RenewalStatus
from datahub_api.mandates.repository import SqlExpression

STATUS_TO_V3 = {
    MandateStatus.requested: v3.MandateStatus.REQUESTED,
    MandateStatus.approved: v3.MandateStatus.APPROVED,
    MandateStatus.rejected: v3.MandateStatus.REJECTED,
    MandateStatus.finished: v3.MandateStatus.FINISHED,
}
RENEWAL_TO_V3 = {
    RenewalStatus.to_be_renewed: v3.MandateRenewalStatus.TO_BE_RENEWED,
    RenewalStatus.renewal_requested: v3.MandateRenewalStatus.RENEWAL_REQUESTED,
    RenewalStatus.expired: v3.MandateRenewalStatus.EXPIRED,
}


def _text(value: str) -> ColumnElement[Any]:
    """A constant of ours as an SQL string literal (``json_build_object`` takes arguments
    of any type, so PostgreSQL could not type a parameter there)."""
    assert value.isalnum(), value
    return literal_column(f"'{value}'", Text)


def _instant(column: SqlExpression) -> ColumnElement[Any]:
    """As ``schemas.UtcInstant`` writes it: UTC, whole seconds, ``Z``."""
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')


def _mapped(column: SqlExpression, mapping: Mapping[Any, StrEnum]) -> ColumnElement[Any]:
    return case({ours: _text(theirs.value) for ours, theirs in mapping.items()}, value=column)


MANDATE_FIELDS: mandates_repository.JsonFields = (
    ("referenceNumber", Mandate.reference_number),
    ("status", _mapped(Mandate.status, STATUS_TO_V3)),
    ("ean", Mandate.ean),
    ("energyType", Mandate.energy_type),
    ("dataPeriodFrom", _instant(Mandate.data_period_from)),
    ("dataPeriodTo", _instant(Mandate.data_period_to)),
    ("dataServiceType", Mandate.data_service_type),
    # Fluvius has no field for a mandate that ends with the tenure: its expiration date is
    # the earlier of the two (the native face gives `ends_at` and the reason).
    ("mandateExpirationDate", _instant(mandates_repository.ends(Mandate))),
    ("renewalStatus", _mapped(Mandate.renewal_status, RENEWAL_TO_V3)),
)
