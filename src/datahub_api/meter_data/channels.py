"""Which mandates each face serves: the channels a read (and a ``meter_data.available``
event) may be granted under."""

API_CHANNELS = ("api", "nps")
PORTAL_CHANNELS = ("portal", "api")
