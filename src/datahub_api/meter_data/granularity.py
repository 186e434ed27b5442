"""The one granularity vocabulary of meter data: how long one step lasts.

Names and values are ISO 8601 durations, as the native API, the exports and the ingest CSV
write them. Day blocks store quarter-hours, hours or days (:data:`STORED_GRANULARITIES`,
their ``smallint`` codes in :mod:`datahub_api.meter_data.models`); reads also sum into
months. A face with its own spelling maps it to this enum where it parses the request
(``/v3``'s ``hourly_quarterhourly`` and ``daily`` in :mod:`datahub_api.fluvius_v3.energy`).
"""

from __future__ import annotations

from enum import StrEnum


class Granularity(StrEnum):
    PT15M = "PT15M"  # a quarter-hour
    PT1H = "PT1H"  # an hour
    P1D = "P1D"  # a Brussels day (a gas day for daily gas)
    P1M = "P1M"  # a Brussels month; summed, never stored


STORED_GRANULARITIES = (Granularity.PT15M, Granularity.PT1H, Granularity.P1D)
"""What a day block can hold, finest first."""
