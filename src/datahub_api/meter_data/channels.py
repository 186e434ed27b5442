"""Which mandates each face serves: the channels a read (and a ``meter_data.available``
event) may be granted under, fixed once per face (:class:`ReadFace`)."""

from __future__ import annotations

from dataclasses import dataclass

from datahub_api.auth.principal import Principal

API_CHANNELS = ("api", "nps")
PORTAL_CHANNELS = ("portal", "api")


@dataclass(frozen=True)
class ReadFace:
    """A face that serves metering data or installation facts: its name in the access log
    and the mandate channels it serves. ``person_channels``: what a signed-in person reads
    on it (the native API serves a portal session what the portal serves)."""

    name: str
    channels: tuple[str, ...]
    person_channels: tuple[str, ...] | None = None

    def channels_for(self, principal: Principal) -> tuple[str, ...]:
        if self.person_channels is not None and principal.user_id is not None:
            return self.person_channels
        return self.channels


NATIVE = ReadFace("native", API_CHANNELS, person_channels=PORTAL_CHANNELS)
V3 = ReadFace("v3", API_CHANNELS)
BULK = ReadFace("api-v1", API_CHANNELS)
PORTAL = ReadFace("portal", PORTAL_CHANNELS)
